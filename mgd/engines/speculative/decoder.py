"""Tree speculative decoding for Hugging Face causal LMs, with monitors on every node.

Per step: the drafts build a tree below the last committed token (the root),
nodes a monitor rules out are pruned (each node is checked against the monitor
state reached along its path, on forked guides that never ask the server), the
model verifies the whole tree in ONE forward pass (tree attention mask, positions
``P + depth``), and the walk from the root picks each next token from the node's
logits masked by the guide at that node. The accepted path stays in the KV cache,
the other nodes are dropped.

Greedy output is token-for-token what plain greedy decoding with the same
monitors produces (up to floating-point ties). Sampling uses the standard
multi-candidate rejection for deterministic drafts on the *masked* distribution
(lossless with respect to the masked, temperature/top-p warped distribution; note
that masking then renormalising is itself a local projection of the model's
distribution, as in plain masked sampling).

Supported: transformers >= 5.0, < 5.40 (``DynamicCache`` with ``layers[i].keys``;
the forward takes ``cache=`` from 5.24, ``past_key_values=`` before). Batch size 1.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from transformers import DynamicCache

from mgd.engines.kvcache import cache_kwarg, gather_cache
from mgd.engines.masking import masked_copy
from mgd.engines.sampling import Sampling, sample_with_drafts
from mgd.engines.speculative.drafts import MonitorDraft, NgramDraft, TokenRecycler, parse_sources
from mgd.engines.speculative.tree import DraftTree
from monitors.errors import ConfigError
from monitors.guide import SequenceGuide, StepResult

__all__ = ["DEFAULT_SPEC", "SpecConfig", "SpecStats", "TreeDecoder"]

#: What a bare ``--speculative`` means (sources in budget priority order, ``:N`` nodes).
#: Tuned by ``benchmarks/speculative.py`` (docs/speculative.md gives the figures).
DEFAULT_SPEC = "monitor,ngram,recycle:16"


@dataclass(frozen=True, slots=True)
class SpecConfig:
    """Draft sources (in budget priority order) and the tree's node budget."""

    sources: tuple[str, ...] = ("monitor", "ngram", "recycle")
    budget: int = 16
    ngram_max: int = 3
    ngram_len: int = 8
    ngram_matches: int = 2
    recycle_k: int = 8
    monitor_names: int = 8
    prune: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", parse_sources(self.sources))
        if self.budget < 1:
            raise ConfigError("speculative budget must be >= 1")

    @classmethod
    def parse(cls, spec: str, budget: int | None = None) -> SpecConfig:
        """``"ngram,recycle"`` or ``"ngram,recycle:24"`` (budget after a colon)."""
        names, _, size = spec.partition(":")
        if size:
            try:
                budget = int(size)
            except ValueError as exc:
                raise ConfigError(f"speculative budget {size!r} is not an integer") from exc
        return cls(sources=parse_sources(names), budget=budget if budget is not None else 16)


@dataclass(slots=True)
class SpecStats:
    """Counters of one speculative generation."""

    forwards: int = 0
    tokens: int = 0
    drafted: int = 0
    accepted: int = 0
    pruned: int = 0
    seconds: float = 0.0
    by_source: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {
            "spec_forwards": self.forwards,
            "spec_tokens": self.tokens,
            "spec_drafted": self.drafted,
            "spec_accepted": self.accepted,
            "spec_pruned": self.pruned,
            "spec_tokens_per_forward": round(self.tokens / self.forwards, 3) if self.forwards else 0.0,
        }
        return out


class TreeDecoder:
    """One causal LM + draft sources; generates one sequence at a time."""

    def __init__(self, model: Any, encode: Callable[[str], list[int]], config: SpecConfig) -> None:
        self.model = model
        self.encode = encode
        self.config = config
        self._cache_kw = cache_kwarg(model)
        self.device = next(model.parameters()).device
        self.recycler = TokenRecycler(k=config.recycle_k)  # persists across prompts (it only learns)

    def _forward(self, ids: torch.Tensor, cache: DynamicCache, **kw: Any) -> torch.Tensor:
        out = self.model(input_ids=ids.to(self.device), use_cache=True, **{self._cache_kw: cache}, **kw)
        return out.logits[0]

    @torch.inference_mode()
    def generate(
        self,
        prompt_ids: Sequence[int],
        *,
        max_new_tokens: int,
        guide: SequenceGuide | None = None,
        eos_ids: Sequence[int] = (),
        stop: Callable[[list[int]], bool] | None = None,
        sampling: Sampling | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[list[int], SpecStats]:
        """Generated ids (EOS / the token completing a stop text included) and counters.

        ``sampling``: greedy when None or its temperature is 0; else the masked,
        temperature/top-p warped distribution is sampled exactly (drafts by rejection).
        """
        sampling = sampling or Sampling()
        do_sample = not sampling.greedy
        if not prompt_ids:
            raise ConfigError("speculative decoding needs a non-empty prompt")
        cfg = self.config
        stats = SpecStats()
        t0 = time.perf_counter()
        eos = {int(e) for e in eos_ids}
        ngram = NgramDraft(max_n=cfg.ngram_max, max_len=cfg.ngram_len, max_matches=cfg.ngram_matches)
        ngram.extend(prompt_ids)
        mdraft = MonitorDraft(self.encode, max_names=cfg.monitor_names)
        cache = DynamicCache(config=self.model.config)
        logits = self._forward(torch.tensor([list(prompt_ids)]), cache)[-1:]
        stats.forwards += 1
        past = len(prompt_ids)
        step = guide.allowed() if guide is not None else None

        def choose_greedy(row: torch.Tensor, st: StepResult | None) -> int:
            return int(torch.argmax(masked_copy(row, None if st is None else st.ids)))

        def choose_sample(row: torch.Tensor, st: StepResult | None, drafts: Sequence[int]) -> int:
            probs = sampling.probs(masked_copy(row, None if st is None else st.ids))
            return sample_with_drafts(probs, drafts, generator)

        first = choose_sample(logits[0], step, ()) if do_sample else choose_greedy(logits[0], step)
        generated = [first]
        if guide is not None:
            guide.advance([first])
        ngram.extend([first])
        done = first in eos or (stop is not None and stop(generated)) or max_new_tokens <= 1

        while not done:
            root = generated[-1]
            step = guide.allowed() if guide is not None else None
            tree = DraftTree(root, cfg.budget)
            for src in cfg.sources:
                if tree.full:
                    break
                before = tree.drafted
                if src == "monitor" and guide is not None and step is not None and step.ids is not None:
                    mdraft.fill(tree, guide.constraints(), self.recycler.next_of(root))
                elif src == "ngram":
                    ngram.fill(tree)
                elif src == "recycle":
                    self.recycler.fill(tree)
                stats.by_source[src] = stats.by_source.get(src, 0) + tree.drafted - before
            remaining = max_new_tokens - len(generated)  # a node at depth d yields d + 1 tokens
            if max(tree.depths) >= remaining:
                tree = _rebuild(tree, [d < remaining for d in tree.depths])
            if guide is not None and cfg.prune and tree.drafted:
                tree, pruned = _prune(tree, guide, step)
                stats.pruned += pruned
            stats.drafted += tree.drafted
            mask = torch.from_numpy(tree.attention_mask(past)).to(self.device, self.model.dtype)
            pos = torch.from_numpy(tree.position_ids(past)).to(self.device)
            logits = self._forward(torch.tensor([tree.tokens]), cache, attention_mask=mask, position_ids=pos)
            stats.forwards += 1
            topk = torch.topk(logits, self.recycler.k, dim=-1).indices.cpu().numpy()
            self.recycler.update(tree.tokens, topk)

            # Walk the tree: each node's token is chosen under the guide's state at that node.
            nodes = [0]
            new: list[int] = []
            while True:
                node = nodes[-1]
                st = step if node == 0 else (guide.allowed() if guide is not None else None)
                kids = tree.children(node)
                if do_sample:
                    tok = choose_sample(logits[node], st, [tree.tokens[c] for c in kids])
                else:
                    tok = choose_greedy(logits[node], st)
                new.append(tok)
                if guide is not None:
                    guide.advance([tok])
                child = tree.child(node, tok)
                finished = (
                    tok in eos
                    or len(generated) + len(new) >= max_new_tokens
                    or (stop is not None and stop(generated + new))
                )
                if child is None or finished:
                    break
                nodes.append(child)
            stats.accepted += len(new) - 1
            gather_cache(cache, past, nodes)
            past += len(nodes)
            generated.extend(new)
            ngram.extend(new)
            done = finished
        stats.tokens = len(generated)
        stats.seconds = time.perf_counter() - t0
        return generated, stats


def _prune(tree: DraftTree, guide: SequenceGuide, root_step: StepResult | None) -> tuple[DraftTree, int]:
    """Drop drafted nodes a monitor rules out at the state reached along their path.

    Each internal node's state is a fork of the guide fed with the node's path; a
    state whose facts are not known yet (a lookup outstanding) keeps its children.
    """
    keep = [True] * len(tree)
    states: dict[int, SequenceGuide] = {}
    allowed: dict[int, StepResult | None] = {0: root_step}
    for n in range(1, len(tree)):
        p = tree.parents[n]
        if not keep[p]:
            keep[n] = False
            continue
        if p not in allowed:
            st = states[p]
            allowed[p] = st.ready_allowed()
        a = allowed[p]
        if a is not None and a.ids is not None:
            i = np.searchsorted(a.ids, tree.tokens[n])
            if i >= a.ids.size or int(a.ids[i]) != tree.tokens[n]:
                keep[n] = False
                continue
        if tree.children(n):
            base = guide if p == 0 else states[p]
            st = base.fork(start_lookups=False)
            st.advance([tree.tokens[n]])
            states[n] = st
    if all(keep):
        return tree, 0
    out = _rebuild(tree, keep)
    return out, len(tree) - len(out)


def _rebuild(tree: DraftTree, keep: Sequence[bool]) -> DraftTree:
    """The tree without the nodes not kept (and their subtrees)."""
    out = DraftTree(tree.root_token, tree.budget)
    mapping = {0: 0}
    for n in range(1, len(tree)):
        p = mapping.get(tree.parents[n])
        if keep[n] and p is not None:
            got = out.add(p, tree.tokens[n])
            if got is not None:
                mapping[n] = got
    return out
