"""A suffix index over token sequences (SuffixDecoding-style drafts), numpy only.

:class:`SuffixIndex` holds documents (token id sequences) and answers: after the
longest suffix of a context that occurs in them, which continuations followed,
and how often. It is a suffix array of the *reversed* concatenation, so the
context is matched from its last token backwards and every further token only
narrows one range (two binary searches), and the occurrences' continuations are
read forward from the original text.

The continuations come back as a count trie (:class:`Continuations`): node
``i`` has a token, a parent and the number of occurrences whose continuation
starts with the path to it, so ``count[i] / count[parent]`` is the empirical
probability of that token after its path (SuffixDecoding's tree scores).

Building is ``O(n log^2 n)`` in numpy (prefix doubling); 150k tokens take about
0.3 s on one CPU core. The index is immutable: rebuild to add documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Continuations", "SuffixIndex", "count_trie", "suffix_array"]

_SEP = 0  # document separator in the shifted text (token id t is stored as t + 1)


def suffix_array(text: np.ndarray) -> np.ndarray:
    """Suffix array of a 1-D array of non-negative ints (prefix doubling, numpy)."""
    n = int(text.size)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    _, rank = np.unique(text, return_inverse=True)
    rank = rank.astype(np.int64)
    k = 1
    while True:
        second = np.full(n, -1, dtype=np.int64)
        second[: n - k] = rank[k:] if k < n else second[:0]
        sa = np.lexsort((second, rank))
        r, s = rank[sa], second[sa]
        change = np.empty(n, dtype=bool)
        change[0] = True
        change[1:] = (r[1:] != r[:-1]) | (s[1:] != s[:-1])
        new = np.cumsum(change) - 1
        rank = np.empty(n, dtype=np.int64)
        rank[sa] = new
        if int(new[-1]) == n - 1 or k >= n:
            return sa
        k *= 2


@dataclass(frozen=True, slots=True)
class Continuations:
    """A count trie of what followed a matched context (node 0 = the match itself)."""

    match_len: int
    tokens: np.ndarray  # [m] token of each node (node 0: -1)
    parents: np.ndarray  # [m] parent node (node 0: -1)
    counts: np.ndarray  # [m] occurrences through each node (node 0: all)

    def __len__(self) -> int:
        return int(self.tokens.size)

    def prob(self, node: int) -> float:
        """Probability of ``node``'s token after its parent's path: its share of the
        parent's occurrences, with one unseen alternative added (Laplace-style, so one
        occurrence says 1/2, not certainty)."""
        return float(self.counts[node]) / (float(self.counts[self.parents[node]]) + 1.0)

    def children(self) -> list[list[int]]:
        """Children of every node, most frequent first (one numpy sort)."""
        n = len(self)
        order = np.lexsort((-self.counts[1:], self.parents[1:])) + 1  # by parent, then count desc
        cuts = np.searchsorted(self.parents[order], np.arange(n + 1))
        flat = order.tolist()
        return [flat[a:b] for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist(), strict=True)]


def count_trie(text: np.ndarray, ends: np.ndarray, depth: int, match_len: int, dead: np.ndarray | None = None) -> Continuations:
    """The count trie of ``text[e : e + depth]`` for every ``e`` in ``ends``.

    ``text`` holds shifted ids (``_SEP`` ends a document) and at least ``depth``
    separators of padding past its end; ``dead(positions)`` (optional) marks
    positions no continuation may read (treated as a document end).
    """
    pos = ends[:, None] + np.arange(depth)[None, :]
    win = text[pos]  # [k, depth]
    ok = win != _SEP
    if dead is not None:
        ok &= ~dead
    alive = np.cumprod(ok, axis=1).astype(bool)  # stop at a document's end
    tokens = [-1]
    parents = [-1]
    counts = [int(ends.size)]
    node_of = np.zeros(ends.size, dtype=np.int64)  # each occurrence's trie node so far
    span = int(win.max(initial=0)) + 1
    for d in range(depth):
        live = np.flatnonzero(alive[:, d])
        if live.size == 0:
            break
        key = node_of[live] * span + win[live, d]
        uniq, inverse, cnt = np.unique(key, return_inverse=True, return_counts=True)
        base = len(tokens)
        tokens.extend((uniq % span - 1).tolist())
        parents.extend((uniq // span).tolist())
        counts.extend(cnt.tolist())
        node_of[live] = base + inverse.reshape(-1)
        if uniq.size == live.size:  # every occurrence on its own path now: the rest are chains
            for row in live.tolist():
                parent = int(node_of[row])
                for t in (win[row, d + 1 :][alive[row, d + 1 :]] - 1).tolist():
                    tokens.append(t)
                    parents.append(parent)
                    counts.append(1)
                    parent = len(tokens) - 1
            break
    return Continuations(
        match_len=match_len,
        tokens=np.asarray(tokens, dtype=np.int64),
        parents=np.asarray(parents, dtype=np.int64),
        counts=np.asarray(counts, dtype=np.int64),
    )


class SuffixIndex:
    """Documents of token ids; longest-suffix matching and continuation counts."""

    def __init__(self, documents: Sequence[Sequence[int]], *, pad: int = 64) -> None:
        parts: list[np.ndarray] = []
        starts: list[int] = []
        at = 0
        for doc in documents:
            starts.append(at)
            if len(doc):
                parts.append(np.asarray(doc, dtype=np.int64) + 1)
                parts.append(np.array([_SEP], dtype=np.int64))
                at += len(doc) + 1
        text = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        self.size = int(text.size)
        self.documents = len(starts)
        #: Forward position of each document's first token (by the order given).
        self.starts = np.asarray(starts, dtype=np.int64)
        self._pad = pad
        # Forward text padded with separators (continuations never run past the end).
        self._fwd = np.concatenate([text, np.full(pad, _SEP, dtype=np.int64)])
        rev = text[::-1].copy()
        self._sa = suffix_array(rev)
        # Reversed text padded with -1 (sorts before every token: a suffix that ends is smallest).
        self._rev = np.concatenate([rev, np.full(pad, -1, dtype=np.int64)])
        self._first = self._rev[self._sa] if self.size else np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return self.size

    def match(self, context: Sequence[int], max_len: int = 32) -> tuple[int, np.ndarray]:
        """``(length, ends)``: the longest suffix of ``context`` (at most ``max_len``
        tokens) found here, and the forward positions just after each occurrence."""
        if not self.size or not len(context):
            return 0, np.zeros(0, dtype=np.int64)
        max_len = min(max_len, len(context), self._pad)
        want = np.asarray(context[-max_len:], dtype=np.int64)[::-1] + 1
        lo = int(np.searchsorted(self._first, want[0], "left"))
        hi = int(np.searchsorted(self._first, want[0], "right"))
        if lo >= hi:
            return 0, np.zeros(0, dtype=np.int64)
        m = 1
        while m < max_len:
            col = self._rev[self._sa[lo:hi] + m]
            a = int(np.searchsorted(col, want[m], "left"))
            b = int(np.searchsorted(col, want[m], "right"))
            if a >= b:
                break
            lo, hi = lo + a, lo + b
            m += 1
        # Reversed position j starts a reversed match; forward, the match ends at size-1-j.
        ends = self.size - self._sa[lo:hi]
        return m, ends

    def continuations(
        self,
        context: Sequence[int],
        *,
        max_len: int = 32,
        depth: int = 16,
        max_occurrences: int = 256,
        blocked: tuple[int, int] | None = None,
    ) -> Continuations | None:
        """What followed the longest matched suffix of ``context`` (None: no match).

        ``blocked``: a forward span ``[lo, hi)`` no match may lie in and no
        continuation may read (the text after the cursor in the file being written).
        """
        m, ends = self.match(context, max_len)
        if blocked is not None and ends.size:
            lo, hi = blocked
            ends = ends[(ends <= lo) | (ends > hi)]
        if m == 0 or ends.size == 0:
            return None
        if ends.size > max_occurrences:  # the latest occurrences (positions are document order)
            ends = np.sort(ends)[-max_occurrences:]
        depth = min(depth, self._pad)
        dead = None
        if blocked is not None:
            pos = ends[:, None] + np.arange(depth)[None, :]
            dead = (pos >= blocked[0]) & (pos < blocked[1])
        return count_trie(self._fwd, ends, depth, m, dead)
