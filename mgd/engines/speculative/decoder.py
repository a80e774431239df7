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

import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from transformers import DynamicCache

from mgd.engines.kvcache import cache_kwarg, crop_cache, gather_cache
from mgd.engines.masking import masked_copy, step_boost
from mgd.engines.sampling import Sampling, sample_with_drafts
from mgd.engines.speculative.corpus import CorpusView, OutputStore
from mgd.engines.speculative.drafts import (
    ContextDraft,
    MonitorDraft,
    SuffixDraft,
    TokenRecycler,
    parse_sources,
)
from mgd.engines.speculative.shape import COST_PROFILES, Acceptance, CostCurve, best_size
from mgd.engines.speculative.tree import DraftTree
from monitors.errors import ConfigError
from monitors.guide import SequenceGuide, StepResult

__all__ = ["DEFAULT_SPEC", "SpecConfig", "SpecStats", "TreeDecoder"]

#: What a bare ``--speculative`` means (sources in drafting order, ``:N`` most drafted
#: nodes per tree; the tree is sized per step from the measured acceptance and this
#: device's measured cost curve). Tuned by ``benchmarks/speculative.py`` (docs/speculative.md).
DEFAULT_SPEC = "monitor,suffix,ngram,recycle:128"

_COSTS = ("measure", "flat", *COST_PROFILES)


@dataclass(frozen=True, slots=True)
class SpecConfig:
    """Draft sources (drafting order), the most drafted nodes per tree, the cost curve.

    ``cost``: ``measure`` (time the model on this device once, then size each tree
    for it), ``flat`` (every tree up to ``budget`` costs one step: always the full
    budget), or an H200 profile (``h200-27m``, ``h200-1.5b``, ``h200-7b``) to shape
    trees as on that GPU. ``adaptive``: node values from the measured acceptance
    (False: the sources' raw estimates).
    """

    sources: tuple[str, ...] = ("monitor", "suffix", "ngram", "recycle")
    budget: int = 128
    cost: str = "measure"
    adaptive: bool = True
    ngram_max: int = 6
    depth: int = 32
    recycle_k: int = 8
    monitor_names: int = 16
    prune: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "sources", parse_sources(self.sources))
        if self.budget < 1:
            raise ConfigError("speculative budget must be >= 1")
        if self.cost not in _COSTS:
            raise ConfigError(f"unknown speculative cost curve {self.cost!r}; known: {', '.join(_COSTS)}")

    @classmethod
    def parse(cls, spec: str, budget: int | None = None) -> SpecConfig:
        """``SOURCES[:N][:COST]``: ``"ngram,recycle"``, ``"monitor,suffix:32"``,
        ``"suffix,ngram:128:h200-27m"`` (a bare ``""`` is :data:`DEFAULT_SPEC`)."""
        spec = spec.strip() or DEFAULT_SPEC
        names, *rest = spec.split(":")
        cost = "measure"
        for part in rest:
            part = part.strip()
            if part.isdigit():
                budget = int(part)
            elif part in _COSTS:
                cost = part
            else:
                raise ConfigError(
                    f"speculative: {part!r} is neither a node budget (an integer) nor a cost curve "
                    f"({', '.join(_COSTS)})"
                )
        return cls(sources=parse_sources(names), budget=budget if budget is not None else 128, cost=cost)


@dataclass(slots=True)
class SpecStats:
    """Counters of one speculative generation."""

    forwards: int = 0
    tokens: int = 0
    drafted: int = 0
    accepted: int = 0
    pruned: int = 0
    seconds: float = 0.0
    forward_seconds: float = 0.0
    #: Verification forwards by tree tokens (root included): ``{q: count}``.
    tree_sizes: dict[int, int] = field(default_factory=dict)
    drafted_by: dict[str, int] = field(default_factory=dict)
    accepted_by: dict[str, int] = field(default_factory=dict)

    @property
    def verifications(self) -> int:
        """Tree forwards (the prefill, which yields the first token, not counted)."""
        return max(self.forwards - 1, 0)

    @property
    def tau(self) -> float:
        """Mean tokens per verification forward (accepted drafts + the model's own token)."""
        return (self.tokens - 1) / self.verifications if self.verifications else 0.0

    def as_dict(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {
            "spec_forwards": self.forwards,
            "spec_tokens": self.tokens,
            "spec_drafted": self.drafted,
            "spec_accepted": self.accepted,
            "spec_pruned": self.pruned,
            "spec_tokens_per_forward": round(self.tokens / self.forwards, 3) if self.forwards else 0.0,
            "spec_tau": round(self.tau, 3),
        }
        return out


class TreeDecoder:
    """One causal LM + draft sources; generates one sequence at a time.

    State kept across generations (it only learns): the recycler's adjacency, the
    measured acceptance, the measured cost curve and the earlier outputs.
    """

    def __init__(self, model: Any, encode: Callable[[str], list[int]], config: SpecConfig) -> None:
        self.model = model
        self.encode = encode
        self.config = config
        self._cache_kw = cache_kwarg(model)
        # The prefill needs only the last position's logits (a 512-token prompt's full
        # logits cost a matmul the size of ~2 decode steps on a CPU).
        params = inspect.signature(model.forward).parameters
        self._prefill_kw: dict[str, Any] = {"logits_to_keep": 1} if "logits_to_keep" in params else {}
        self.device = next(model.parameters()).device
        self.recycler = TokenRecycler(k=config.recycle_k)
        self.acceptance = Acceptance()
        self.outputs = OutputStore()
        self.monitor_draft = MonitorDraft(encode, max_names=config.monitor_names)  # keeps its tokenizations
        self.cost: CostCurve | None = None if config.cost == "measure" else CostCurve.profile(config.cost)
        # Recent chosen tree sizes (moving average): each source drafts at most about twice
        # that many candidates, so a device where small trees pay does not draft big ones.
        self._size_avg = float(config.budget)
        # Drafting's own cost (seconds per drafted step, moving average) and the backoff
        # after steps where no tree paid: the next ``_skip`` steps are plain, undrafted.
        self._host = 0.0
        self._backoff = 0
        self._skip = 0
        self._explore = 0

    def _forward(self, ids: torch.Tensor, cache: DynamicCache, **kw: Any) -> torch.Tensor:
        out = self.model(input_ids=ids.to(self.device), use_cache=True, **{self._cache_kw: cache}, **kw)
        return out.logits[0]

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def measure_cost(self, cache: DynamicCache, past: int, reps: int = 2) -> CostCurve:
        """Time forwards of bushy trees of 1, 4, 16, 64, 256 tokens (up to the budget
        + 1) on top of ``cache`` (left as it was): ``reps`` rounds over all sizes after a
        warm-up, the fastest time of each."""
        limit = self.config.budget + 1
        sizes = [q for q in (4, 16, 64, 256) if q < limit]
        if not sizes or limit > 1.5 * sizes[-1]:
            sizes.append(limit)
        gen = torch.Generator().manual_seed(0)
        inputs: dict[int, tuple[torch.Tensor, dict[str, Any]]] = {}
        for q in [1, *sizes]:
            tree = DraftTree(5, budget=q - 1)
            while not tree.full:
                tree.add_path([int(x) for x in torch.randint(100, 10000, (4,), generator=gen)])
            kw: dict[str, Any] = {}
            if q > 1:
                kw["attention_mask"] = torch.from_numpy(tree.attention_mask(past)).to(self.device, self.model.dtype)
                kw["position_ids"] = torch.from_numpy(tree.position_ids(past)).to(self.device)
            inputs[q] = (torch.tensor([tree.tokens]), kw)
        for q in (1, min(sizes)):  # warm up both paths (causal, tree mask)
            self._forward(inputs[q][0], cache, **inputs[q][1])
            crop_cache(cache, past)
        times = {q: float("inf") for q in inputs}
        # Rounds over every size (a burst of other load then hits all sizes alike), the
        # fastest time of each; a size over 4 steps is not timed again (it cannot pay).
        for rnd in range(reps):
            for q, (ids, kw) in inputs.items():
                if rnd and q >= 16 and times[q] > 4 * times[1]:
                    continue
                self._sync()
                t0 = time.perf_counter()
                self._forward(ids, cache, **kw)
                self._sync()
                times[q] = min(times[q], time.perf_counter() - t0)
                crop_cache(cache, past)
        return CostCurve.from_times(times, "measured", monotone=True)

    def _estimate(self, source: str, kind: int, raw: float) -> tuple[float, object]:
        if self.config.adaptive:
            return self.acceptance.estimate(source, kind, raw)
        return raw, Acceptance.tag(source, kind, raw)

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
        corpus: Sequence[CorpusView] = (),
    ) -> tuple[list[int], SpecStats]:
        """Generated ids (EOS / the token completing a stop text included) and counters.

        ``sampling``: greedy when None or its temperature is 0; else the masked,
        temperature/top-p warped distribution is sampled exactly (drafts by rejection).
        ``corpus``: suffix indexes the ``suffix`` source drafts from (the workspace's
        files); the decoder's earlier outputs are always added.
        """
        sampling = sampling or Sampling()
        do_sample = not sampling.greedy
        if not prompt_ids:
            raise ConfigError("speculative decoding needs a non-empty prompt")
        cfg = self.config
        stats = SpecStats()
        t0 = time.perf_counter()
        eos = {int(e) for e in eos_ids}
        ngram = ContextDraft(max_n=cfg.ngram_max, depth=cfg.depth)
        ngram.extend(prompt_ids)
        mdraft = self.monitor_draft
        views = list(corpus)
        earlier = self.outputs.view()
        if earlier is not None:
            views.append(earlier)
        suffix = SuffixDraft(views, depth=cfg.depth)
        cache = DynamicCache(config=self.model.config)
        tf = time.perf_counter()
        logits = self._forward(torch.tensor([list(prompt_ids)]), cache, **self._prefill_kw)[-1:]
        self._sync()
        stats.forward_seconds += time.perf_counter() - tf
        stats.forwards += 1
        past = len(prompt_ids)
        step = guide.allowed() if guide is not None else None
        if self.cost is None:  # after the wait above: the language server is idle now
            self.cost = self.measure_cost(cache, past)

        def choose_greedy(row: torch.Tensor, st: StepResult | None) -> int:
            return int(torch.argmax(masked_copy(row, None if st is None else st.ids, step_boost(st))))

        def choose_sample(row: torch.Tensor, st: StepResult | None, drafts: Sequence[int]) -> int:
            probs = sampling.probs(masked_copy(row, None if st is None else st.ids, step_boost(st)))
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
            remaining = max_new_tokens - len(generated)  # a node at depth d yields d + 1 tokens
            if self._skip > 0:  # drafting did not pay lately: a plain step, nothing drafted
                self._skip -= 1
                tree = DraftTree(root, budget=0)
            else:
                th = time.perf_counter()
                tree = self._draft(root, step, guide, mdraft, ngram, suffix, remaining, stats)
                self._host = 0.8 * self._host + 0.2 * (time.perf_counter() - th)
            q = len(tree)
            stats.tree_sizes[q] = stats.tree_sizes.get(q, 0) + 1
            stats.drafted += tree.drafted
            tf = time.perf_counter()
            if q == 1:  # a plain step: the default causal mask
                logits = self._forward(torch.tensor([tree.tokens]), cache)
            else:
                mask = torch.from_numpy(tree.attention_mask(past)).to(self.device, self.model.dtype)
                pos = torch.from_numpy(tree.position_ids(past)).to(self.device)
                logits = self._forward(torch.tensor([tree.tokens]), cache, attention_mask=mask, position_ids=pos)
            topk = torch.topk(logits, self.recycler.k, dim=-1).indices.cpu().numpy()
            spent = time.perf_counter() - tf
            stats.forward_seconds += spent
            if self.cost is not None and self.cost.name == "measured":
                self.cost = self.cost.observe(q, spent)
            stats.forwards += 1
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
            self._learn(tree, nodes, stats)
            stats.accepted += len(new) - 1
            gather_cache(cache, past, nodes)
            past += len(nodes)
            generated.extend(new)
            ngram.extend(new)
            done = finished
        self.outputs.add(generated)
        stats.tokens = len(generated)
        stats.seconds = time.perf_counter() - t0
        return generated, stats

    def _draft(
        self,
        root: int,
        step: StepResult | None,
        guide: SequenceGuide | None,
        mdraft: MonitorDraft,
        ngram: ContextDraft,
        suffix: SuffixDraft,
        remaining: int,
        stats: SpecStats,
    ) -> DraftTree:
        """This step's tree: every source's best candidates, pruned by the monitors,
        cut to the size that pays on this device."""
        cfg = self.config
        b = min(cfg.budget, max(8, int(2 * self._size_avg) + 4))  # candidates per source
        cand = DraftTree(root, budget=b * (len(cfg.sources) + 1))
        est = self._estimate
        for src in cfg.sources:
            if src == "monitor" and guide is not None and step is not None and step.ids is not None:
                leaves = mdraft.fill(cand, guide.constraints(), self.recycler.next_of(root), est, max_nodes=b)
                # The rest of the member access (``name(``, ``name.``) from what followed before.
                for leaf in sorted(leaves, key=lambda n: -cand.values[n])[:4]:
                    ngram.fill(cand, est, parent=leaf, max_nodes=3)
                    suffix.fill(cand, ngram.tokens, est, parent=leaf, max_nodes=3)
            elif src == "ngram":
                ngram.fill(cand, est, max_nodes=b)
            elif src == "suffix":
                suffix.fill(cand, ngram.tokens, est, max_nodes=b)
            elif src == "recycle":
                seeds = sorted(range(len(cand)), key=lambda n: -cand.values[n])[: max(b // 2, 1)]
                self.recycler.fill(cand, est, seeds=seeds, max_nodes=b)
        if cand.drafted == 0:
            self._size_avg *= 0.8
            self._pace(0, 1.0)
            return cand
        keep = [d < remaining for d in cand.depths]
        tree = cand.subtree(keep).best(b)
        if guide is not None and cfg.prune and tree.drafted:
            tree, pruned = _prune(tree, guide, step)
            stats.pruned += pruned
        assert self.cost is not None
        order = sorted(tree.values[1:], reverse=True)
        k = best_size(order, self.cost, cfg.budget)
        self._explore += 1
        if self.cost.name == "measured" and self._explore % 32 == 0:
            # Probe: now and then verify a tree one curve point bigger than chosen, so that
            # point's cost is observed again (a curve measured during a burst of other load
            # recovers; the forward's time refines it).
            up = self.cost.above(k + 1)
            if up is not None and up - 1 <= tree.drafted:
                k = up - 1
        self._size_avg = 0.8 * self._size_avg + 0.2 * k
        self._pace(k, 1.0 + sum(order[:k]))
        return tree if k >= tree.drafted else tree.best(k)

    def _pace(self, k: int, gain: float) -> None:
        """Back off drafting (1, 2, 4, 8 plain steps) while no tree is expected to pay
        for itself, drafting time included (on a measured curve, whose times are seconds)."""
        assert self.cost is not None
        host = self._host / self.cost.points[0][1] if self.cost.name == "measured" else 0.0
        if k == 0 or gain / (self.cost.ratio(1 + k) + host) < 1.0:
            self._backoff = min(2 * self._backoff or 1, 8)
            self._skip = self._backoff
        else:
            self._backoff = 0

    def _learn(self, tree: DraftTree, nodes: Sequence[int], stats: SpecStats) -> None:
        """Record, for every node whose parent was accepted, whether it was accepted."""
        on_path = set(nodes)
        for n in range(1, len(tree)):
            tag = tree.tags[n]
            src = tag[0] if isinstance(tag, tuple) else "?"
            stats.drafted_by[src] = stats.drafted_by.get(src, 0) + 1
            if tree.parents[n] in on_path:
                hit = n in on_path
                self.acceptance.record(tag, hit)
                if hit:
                    stats.accepted_by[src] = stats.accepted_by.get(src, 0) + 1


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
    out = tree.subtree(keep)
    return out, len(tree) - len(out)
