"""Draft sources for speculative trees: monitor identifiers, n-gram lookup, token recycling.

Each source adds chains of token ids below the root of a :class:`DraftTree`; the
tree's node budget is shared, in the order the sources are listed. Pure Python +
numpy (no torch): the decoder hands the recycler the top-k ids it computed.

* :class:`MonitorDraft` — at a trigger the monitors already know the legal
  identifiers: each remaining suffix ``cand[len(typed):]`` is tokenized into a
  chain (a token trie of candidates). A prefix constraint (token healing) drafts
  its required bytes the same way.
* :class:`NgramDraft` — prompt lookup: the continuation after earlier
  occurrences of the last ``n`` tokens of prompt + generated text.
* :class:`TokenRecycler` — an adjacency map ``token -> top-k next tokens`` filled
  from every verification pass; a best-first tree from the root.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from mgd.engines.speculative.tree import DraftTree
from monitors.errors import ConfigError

__all__ = ["DRAFT_SOURCES", "MonitorDraft", "NgramDraft", "TokenRecycler", "parse_sources"]

DRAFT_SOURCES = ("monitor", "ngram", "recycle")


def parse_sources(spec: str | Sequence[str]) -> tuple[str, ...]:
    """``"ngram,recycle,monitor"`` -> validated tuple (order = budget priority)."""
    names = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    if not names:
        raise ConfigError("speculative: name at least one draft source")
    bad = [n for n in names if n not in DRAFT_SOURCES]
    if bad:
        raise ConfigError(f"unknown draft source(s) {bad}; known: {list(DRAFT_SOURCES)}")
    return tuple(dict.fromkeys(names))


@dataclass(slots=True)
class MonitorDraft:
    """Chains spelling the legal identifiers (from the monitors' constraints)."""

    encode: Callable[[str], list[int]]
    max_names: int = 8
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

    def fill(self, tree: DraftTree, constraints: Sequence[object], hint: Sequence[int] = ()) -> int:
        added = 0
        for ch in self.chains(constraints, hint):
            if tree.full:
                break
            added += tree.add_path(ch)
        return added


@dataclass(slots=True)
class NgramDraft:
    """Prompt lookup over the growing context (an index of n-gram end positions)."""

    max_n: int = 3
    min_n: int = 1
    max_len: int = 8
    max_matches: int = 2
    _tokens: list[int] = field(default_factory=list)
    _index: dict[tuple[int, ...], list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.min_n <= self.max_n:
            raise ConfigError("ngram sizes must satisfy 1 <= min_n <= max_n")

    def extend(self, tokens: Sequence[int]) -> None:
        """Append context tokens (prompt first, then every committed token)."""
        for t in tokens:
            self._tokens.append(int(t))
            end = len(self._tokens)
            for n in range(self.min_n, self.max_n + 1):
                if end >= n:
                    self._index.setdefault(tuple(self._tokens[end - n : end]), []).append(end)

    def chains(self) -> list[tuple[int, ...]]:
        """Continuations after earlier occurrences of the context's tail (longest n first)."""
        toks = self._tokens
        end = len(toks)
        out: list[tuple[int, ...]] = []
        for n in range(self.max_n, self.min_n - 1, -1):
            if end < n:
                continue
            ends = self._index.get(tuple(toks[end - n :]), ())
            for e in reversed(ends):
                if e >= end:
                    continue
                cont = tuple(toks[e : min(e + self.max_len, end)])
                if cont and cont not in out:
                    out.append(cont)
                if len(out) >= self.max_matches:
                    return out
        return out

    def fill(self, tree: DraftTree) -> int:
        added = 0
        for ch in self.chains():
            if tree.full:
                break
            added += tree.add_path(ch)
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

    def fill(self, tree: DraftTree, node: int = 0) -> int:
        """Best-first expansion below ``node`` until the budget is spent."""
        before = tree.drafted
        heap: list[tuple[float, int, int, int]] = []  # (-score, serial, parent node, token)
        serial = 0

        def push(parent: int, score: float) -> None:
            nonlocal serial
            for r, t in enumerate(self.next_of(tree.tokens[parent])):
                w = _RANK_PRIOR[r] if r < len(_RANK_PRIOR) else _RANK_PRIOR[-1]
                heapq.heappush(heap, (-score * w, serial, parent, t))
                serial += 1

        push(node, 1.0)
        while heap and not tree.full:
            neg, _s, parent, tok = heapq.heappop(heap)
            existing = tree.child(parent, tok)
            child = existing if existing is not None else tree.add(parent, tok)
            if child is None:
                break
            push(child, -neg)
        return tree.drafted - before
