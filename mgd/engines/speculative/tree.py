"""Draft trees: token nodes under a root, flattened for one verification pass.

Node 0 is the *root*: the last committed token, not yet in the KV cache. Every
other node is a drafted token whose parent comes before it (nodes are stored in
insertion order, which is a topological order). Siblings carry distinct tokens,
so the tree is a trie of drafted continuations.

Each node carries a *value*, the estimated probability that verification accepts
it (the product of its path's conditional acceptance estimates; the root's is 1,
a child's never exceeds its parent's), and a *tag* naming what proposed it (for
the acceptance statistics). When two sources propose the same node the higher
value wins.

For a cache holding ``P`` positions, the tree is verified in one forward pass with
``input_ids = tokens``, ``position_ids = P + depth`` and an additive attention mask
of shape ``[1, 1, q, P + q]``: 0 where node ``i`` may attend (all ``P`` cached
positions, itself and its ancestors), ``-inf`` elsewhere. Pure Python + numpy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from monitors.errors import ConfigError

__all__ = ["DraftTree"]


@dataclass(slots=True)
class DraftTree:
    """A trie of drafted tokens below ``root_token`` with at most ``budget`` drafted nodes."""

    root_token: int
    budget: int
    tokens: list[int] = field(default_factory=list)
    parents: list[int] = field(default_factory=list)
    depths: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    tags: list[object] = field(default_factory=list)
    _children: list[dict[int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.budget < 0:
            raise ConfigError("draft tree budget must be >= 0")
        if not self.tokens:
            self.tokens = [int(self.root_token)]
            self.parents = [-1]
            self.depths = [0]
            self.values = [1.0]
            self.tags = [None]
            self._children = [{}]

    # -- building ------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def drafted(self) -> int:
        """Drafted nodes (the root excluded)."""
        return len(self.tokens) - 1

    @property
    def full(self) -> bool:
        return self.drafted >= self.budget

    def child(self, node: int, token: int) -> int | None:
        """The child of ``node`` carrying ``token``, if any."""
        return self._children[node].get(int(token))

    def children(self, node: int) -> list[int]:
        """Children of ``node`` in insertion order (their drafting priority)."""
        return list(self._children[node].values())

    def add(self, parent: int, token: int, value: float | None = None, tag: object = None) -> int | None:
        """Add (or find) ``token`` under ``parent``; None when the budget is spent.

        ``value``: the node's acceptance estimate (default: its parent's), capped
        at the parent's; an existing node keeps the higher of the two values.
        """
        if not 0 <= parent < len(self.tokens):
            raise IndexError(f"no node {parent}")
        token = int(token)
        v = self.values[parent] if value is None else min(float(value), self.values[parent])
        found = self._children[parent].get(token)
        if found is not None:
            if v > self.values[found]:
                self.values[found] = v
                self.tags[found] = tag
            return found
        idx = len(self.tokens)
        if idx > self.budget:  # full: ``budget`` drafted nodes below the root
            return None
        self.tokens.append(token)
        self.parents.append(parent)
        self.depths.append(self.depths[parent] + 1)
        self.values.append(v)
        self.tags.append(tag)
        self._children.append({})
        self._children[parent][token] = idx
        return idx

    def add_path(self, tokens: Iterable[int], parent: int = 0) -> int:
        """Add a chain below ``parent`` (shared prefixes are reused); returns nodes added."""
        added = 0
        node = parent
        for t in tokens:
            before = len(self.tokens)
            nxt = self.add(node, t)
            if nxt is None:
                break
            added += len(self.tokens) - before
            node = nxt
        return added

    def subtree(self, keep: Sequence[bool], budget: int | None = None) -> DraftTree:
        """The tree of the kept nodes (a node whose parent is dropped is dropped too),
        values and tags carried over, in the same order."""
        out = DraftTree(self.root_token, self.budget if budget is None else budget)
        mapping = {0: 0}
        for n in range(1, len(self.tokens)):
            p = mapping.get(self.parents[n])
            if keep[n] and p is not None:
                got = out.add(p, self.tokens[n], self.values[n], self.tags[n])
                if got is not None:
                    mapping[n] = got
        return out

    def best(self, count: int) -> DraftTree:
        """The ``count`` drafted nodes of highest value (ancestors first on ties): since a
        child's value never exceeds its parent's, the kept nodes form a tree."""
        order = sorted(range(1, len(self.tokens)), key=lambda n: (-self.values[n], self.depths[n], n))
        keep = [True] + [False] * (len(self.tokens) - 1)
        for n in order[:count]:
            keep[n] = True
        return self.subtree(keep, budget=count)

    # -- flattening ------------------------------------------------------------------
    def path(self, node: int) -> list[int]:
        """Node indices from the root to ``node`` (both included)."""
        out = []
        while node >= 0:
            out.append(node)
            node = self.parents[node]
        return out[::-1]

    def path_tokens(self, node: int) -> list[int]:
        """Drafted tokens from below the root down to ``node``."""
        return [self.tokens[i] for i in self.path(node)[1:]]

    def ancestor_matrix(self) -> np.ndarray:
        """``[q, q]`` bool: row ``i`` is True at ``i`` and every ancestor of ``i``."""
        q = len(self.tokens)
        m = np.zeros((q, q), dtype=bool)
        for i in range(q):
            p = self.parents[i]
            if p >= 0:
                m[i] = m[p]
            m[i, i] = True
        return m

    def attention_mask(self, past: int, dtype: type = np.float32) -> np.ndarray:
        """Additive mask ``[1, 1, q, past + q]``: 0 where attention is allowed, -inf elsewhere."""
        q = len(self.tokens)
        out = np.full((1, 1, q, past + q), -np.inf, dtype=dtype)
        out[0, 0, :, :past] = 0.0
        out[0, 0, :, past:][self.ancestor_matrix()] = 0.0
        return out

    def position_ids(self, past: int) -> np.ndarray:
        """``[1, q]`` int64 positions: ``past + depth``."""
        return (past + np.asarray(self.depths, dtype=np.int64))[None, :]

    # -- acceptance ------------------------------------------------------------------
    def accept_path(self, choose: Callable[[int], int]) -> tuple[list[int], int]:
        """Walk from the root: at each node ``choose(node)`` picks the next token.

        Returns ``(nodes, bonus)``: the accepted node indices from the root (root
        included) and the token chosen at the last of them, which no child matched
        (it becomes the next root).
        """
        nodes = [0]
        while True:
            tok = int(choose(nodes[-1]))
            nxt = self.child(nodes[-1], tok)
            if nxt is None:
                return nodes, tok
            nodes.append(nxt)

    @classmethod
    def from_paths(cls, root_token: int, paths: Sequence[Sequence[int]], budget: int) -> DraftTree:
        """A tree holding ``paths`` (in priority order) until the budget is spent."""
        tree = cls(root_token, budget)
        for p in paths:
            if tree.full:
                break
            tree.add_path(p)
        return tree
