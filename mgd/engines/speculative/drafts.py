"""Draft sources for speculative trees, each scoring what it proposes.

A source adds nodes below a node of a :class:`DraftTree` (the root, or the end of
another source's draft), best value first, at most ``max_nodes`` of them. A
node's value is its parent's times the conditional acceptance estimate that
:class:`~mgd.engines.speculative.shape.Acceptance` gives for the source's raw
estimate (measured rates once seen). Pure Python + numpy (no torch).

* :class:`MonitorDraft` (``monitor``) — at a trigger the monitors already hold the
  language server's legal identifiers: each remaining suffix, in the tokenizer's
  canonical split, as a chain (a token trie of candidates, weighted by how many
  names share a prefix and by the model's recycled top-k). A healing prefix
  constraint drafts its required bytes the same way. The decoder extends each
  name with what followed it before (``name(``, ``name.``) from the text sources.
* :class:`ContextDraft` (``ngram``) — prompt lookup: what followed earlier
  occurrences of the context's longest repeated tail (up to ``max_n`` tokens) in
  prompt + generated text, as a count trie.
* :class:`SuffixDraft` (``suffix``) — SuffixDecoding-style: the same over the
  workspace's other files and the decoder's earlier outputs
  (:mod:`mgd.engines.speculative.corpus`), through suffix indexes.
* :class:`TokenRecycler` (``recycle``) — an adjacency map ``token -> top-k next
  ids`` filled from every verification pass, expanded best-first.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from mgd.engines.speculative.corpus import CorpusView
from mgd.engines.speculative.suffix import Continuations, count_trie
from mgd.engines.speculative.tree import DraftTree
from monitors.errors import ConfigError

__all__ = [
    "DRAFT_SOURCES",
    "ContextDraft",
    "Estimate",
    "MonitorDraft",
    "SuffixDraft",
    "TokenRecycler",
    "add_continuations",
    "parse_sources",
]

DRAFT_SOURCES = ("monitor", "suffix", "ngram", "recycle")

#: ``(source, kind, raw estimate) -> (conditional acceptance estimate, tag)``.
Estimate = Callable[[str, int, float], tuple[float, object]]


def _raw(_source: str, _kind: int, raw: float) -> tuple[float, object]:
    return raw, None


def parse_sources(spec: str | Sequence[str]) -> tuple[str, ...]:
    """``"monitor,suffix,ngram,recycle"`` -> validated tuple (order = drafting order)."""
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if not names:
        raise ConfigError("speculative: name at least one draft source")
    bad = [n for n in names if n not in DRAFT_SOURCES]
    if bad:
        raise ConfigError(f"unknown draft source(s) {bad}; known: {list(DRAFT_SOURCES)}")
    return tuple(dict.fromkeys(names))


def _match_kind(match_len: int, support: int) -> int:
    """A text source's calibration kind: how long the matched tail was, and whether
    the estimate rests on at least 3 occurrences."""
    m = 0 if match_len <= 2 else 1 if match_len <= 5 else 2 if match_len <= 11 else 3
    return 2 * m + (1 if support >= 3 else 0)


def add_continuations(
    tree: DraftTree,
    cont: Continuations,
    source: str,
    estimate: Estimate,
    *,
    parent: int = 0,
    max_nodes: int,
) -> int:
    """Add a count trie below ``parent``, best value first; returns nodes added.

    Lazy best-first: a popped node pushes its first child and its next sibling
    (children are in count order), so only about two estimates are made per node.
    """
    kids = cont.children()
    heap: list[tuple[float, int, int, int, object]] = []  # (-value, trie node, sibling index, tree parent, tag)

    def push(trie_parent: int, i: int, tree_parent: int) -> None:
        sibs = kids[trie_parent]
        if i < len(sibs):
            c = sibs[i]
            kind = _match_kind(cont.match_len, int(cont.counts[trie_parent]))
            p, tag = estimate(source, kind, cont.prob(c))
            heapq.heappush(heap, (-tree.values[tree_parent] * p, c, i, tree_parent, tag))

    added = 0
    push(0, 0, parent)
    while heap and added < max_nodes:
        neg, c, i, tp, tag = heapq.heappop(heap)
        before = len(tree)
        node = tree.add(tp, int(cont.tokens[c]), -neg, tag)
        if node is None:
            break
        added += len(tree) - before
        push(int(cont.parents[c]), i + 1, tp)
        push(c, 0, node)
    return added


@dataclass(slots=True)
class MonitorDraft:
    """Chains spelling the legal identifiers (from the monitors' constraints)."""

    encode: Callable[[str], list[int]]
    max_names: int = 16
    max_len: int = 8
    _cache: dict[bytes, tuple[int, ...]] = field(default_factory=dict)

    def _tokens(self, data: bytes) -> tuple[int, ...]:
        got = self._cache.get(data)
        if got is None:
            got = tuple(self.encode(data.decode("utf-8", "replace"))[: self.max_len])
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[data] = got
        return got

    def chains(self, constraints: Sequence[object], hint: Sequence[int] = ()) -> list[tuple[int, ...]]:
        """Token chains for the constraints' remaining text, likely first tokens first."""
        suffixes: list[bytes] = []
        for c in constraints:
            required = getattr(c, "required", None)
            if isinstance(required, bytes) and required:
                suffixes.append(required)
                continue
            cands = getattr(c, "candidates", None)
            typed = getattr(c, "typed", b"")
            if cands is None:
                continue
            suffixes.extend(x[len(typed) :] for x in cands if x.startswith(typed) and len(x) > len(typed))
        if not suffixes:
            return []
        chains = [t for t in (self._tokens(s) for s in sorted(set(suffixes))) if t]
        rank = {t: i for i, t in enumerate(hint)}
        chains.sort(key=lambda ch: (rank.get(ch[0], len(rank)), len(ch)))
        return chains[: self.max_names]

    def fill(
        self,
        tree: DraftTree,
        constraints: Sequence[object],
        hint: Sequence[int] = (),
        estimate: Estimate = _raw,
        *,
        max_nodes: int | None = None,
    ) -> list[int]:
        """Add the chains (values: share of names through each node, the first token
        ranked by the model's recycled top-k ``hint``); returns the chains' last nodes."""
        chains = self.chains(constraints, hint)
        if not chains:
            return []
        through: dict[tuple[int, ...], int] = {}
        for ch in chains:
            for i in range(1, len(ch) + 1):
                through[ch[:i]] = through.get(ch[:i], 0) + 1
        rank = {t: i for i, t in enumerate(hint)}
        budget = tree.budget - tree.drafted if max_nodes is None else max_nodes
        leaves: list[int] = []
        added = 0
        for ch in chains:
            node = 0
            for i, tok in enumerate(ch):
                share = through[ch[: i + 1]] / (len(chains) if i == 0 else through[ch[:i]])
                if i == 0 and tok in rank:
                    share = max(share, _RANK_PRIOR[min(rank[tok], len(_RANK_PRIOR) - 1)])
                p, tag = estimate("monitor", 0 if i == 0 else 1, share)
                existing = tree.child(node, tok)
                if existing is None and added >= budget:
                    node = -1
                    break
                nxt = tree.add(node, tok, tree.values[node] * p, tag)
                if nxt is None:
                    node = -1
                    break
                added += existing is None
                node = nxt
            if node > 0:
                leaves.append(node)
            if added >= budget:
                break
        return leaves


@dataclass(slots=True)
class ContextDraft:
    """Prompt lookup over the growing context (an index of n-gram end positions)."""

    max_n: int = 6
    min_n: int = 1
    depth: int = 16
    max_occurrences: int = 64
    _tokens: list[int] = field(default_factory=list)
    _index: dict[tuple[int, ...], list[int]] = field(default_factory=dict)
    _text: np.ndarray | None = None  # shifted ids + padding, rebuilt after extend

    def __post_init__(self) -> None:
        if not 1 <= self.min_n <= self.max_n:
            raise ConfigError("ngram sizes must satisfy 1 <= min_n <= max_n")

    @property
    def tokens(self) -> list[int]:
        return self._tokens

    def extend(self, tokens: Sequence[int]) -> None:
        """Append context tokens (prompt first, then every committed token)."""
        self._text = None
        for t in tokens:
            self._tokens.append(int(t))
            end = len(self._tokens)
            for n in range(self.min_n, min(self.max_n, end) + 1):
                self._index.setdefault(tuple(self._tokens[end - n : end]), []).append(end)

    def continuations(self, extra: Sequence[int] = ()) -> Continuations | None:
        """What followed earlier occurrences of the context's (plus ``extra``'s)
        longest repeated tail, as a count trie (None: no repeat)."""
        toks = self._tokens
        end = len(toks)
        tail = toks[max(0, end - self.max_n) :] + [int(t) for t in extra]
        for n in range(min(self.max_n, len(tail)), self.min_n - 1, -1):
            ends = [e for e in self._index.get(tuple(tail[len(tail) - n :]), ()) if e < end]
            if ends:
                arr = np.asarray(ends[-self.max_occurrences :], dtype=np.int64)
                if self._text is None:
                    self._text = np.concatenate(
                        [np.asarray(toks, dtype=np.int64) + 1, np.zeros(self.depth, dtype=np.int64)]
                    )
                return count_trie(self._text, arr, self.depth, n)
        return None

    def fill(
        self, tree: DraftTree, estimate: Estimate = _raw, *, parent: int = 0, max_nodes: int | None = None
    ) -> int:
        cont = self.continuations(tree.path_tokens(parent) if parent else ())
        if cont is None:
            return 0
        cap = tree.budget - tree.drafted if max_nodes is None else max_nodes
        return add_continuations(tree, cont, "ngram", estimate, parent=parent, max_nodes=cap)


@dataclass(slots=True)
class SuffixDraft:
    """Continuations from suffix indexes (the workspace's files, earlier outputs)."""

    views: Sequence[CorpusView]
    max_len: int = 32
    depth: int = 16
    max_occurrences: int = 64

    def fill(
        self,
        tree: DraftTree,
        context: Sequence[int],
        estimate: Estimate = _raw,
        *,
        parent: int = 0,
        max_nodes: int | None = None,
    ) -> int:
        ctx = list(context[-self.max_len :]) + (tree.path_tokens(parent) if parent else [])
        cap = tree.budget - tree.drafted if max_nodes is None else max_nodes
        added = 0
        for view in self.views:
            cont = view.index.continuations(ctx, max_len=self.max_len, depth=self.depth,
                                            max_occurrences=self.max_occurrences, blocked=view.blocked)
            if cont is not None:
                added += add_continuations(tree, cont, "suffix", estimate, parent=parent, max_nodes=cap - added)
        return added


#: Prior weight of a candidate by its rank in the model's top-k (best-first expansion).
_RANK_PRIOR = (0.55, 0.15, 0.08, 0.05, 0.04, 0.03, 0.02, 0.02)


@dataclass(slots=True)
class TokenRecycler:
    """Token recycling: the model's last top-k candidates after each token."""

    k: int = 8
    _adj: dict[int, tuple[int, ...]] = field(default_factory=dict)

    def update(self, tokens: Sequence[int], topk: np.ndarray) -> None:
        """``topk[i]`` are the best next ids after ``tokens[i]`` (seen in a verification pass)."""
        for t, row in zip(tokens, topk, strict=True):
            self._adj[int(t)] = tuple(int(x) for x in row[: self.k])

    def next_of(self, token: int) -> tuple[int, ...]:
        return self._adj.get(int(token), ())

    def __len__(self) -> int:
        return len(self._adj)

    def fill(
        self,
        tree: DraftTree,
        estimate: Estimate = _raw,
        *,
        seeds: Sequence[int] = (0,),
        max_nodes: int | None = None,
    ) -> int:
        """Best-first expansion below the ``seeds`` nodes (the root; or every node
        already drafted, so other sources' drafts go on where they end) until
        ``max_nodes`` are added. Lazy: a popped candidate pushes its best successor
        and its next-ranked sibling."""
        cap = tree.budget - tree.drafted if max_nodes is None else max_nodes
        heap: list[tuple[float, int, int, object]] = []  # (-value, parent, rank, tag)

        def push(parent: int, r: int) -> None:
            nxt = self.next_of(tree.tokens[parent])
            if r < len(nxt):
                p, tag = estimate("recycle", min(r, 7), _RANK_PRIOR[min(r, len(_RANK_PRIOR) - 1)])
                heapq.heappush(heap, (-tree.values[parent] * p, parent, r, tag))

        for node in seeds:
            push(node, 0)
        added = 0
        while heap and added < cap:
            neg, parent, r, tag = heapq.heappop(heap)
            before = len(tree)
            child = tree.add(parent, self.next_of(tree.tokens[parent])[r], -neg, tag)
            if child is None:
                break
            added += len(tree) - before
            push(parent, r + 1)
            push(child, 0)
        return added
