"""Answers of one :class:`~monitors.vocab.VocabIndex` kept for reuse (the index itself is immutable).

:class:`IdsMemo` is a bounded LRU of ``constraint -> (ids, typed-is-complete)`` and of
``stop texts -> ids containing one``. It belongs to one index (keys do not name it)
and is not synchronized: a guide keeps its own by default; an engine that shares one
across threads wraps it (``mgd.concurrency.SharedMemo``, one per session).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

import numpy as np

__all__ = ["IdsMemo"]

#: Default bounds. Entries are small: the large part of a "typed is complete" answer
#: (every break-starting token) is shared by the index, not copied.
ENTRIES = 4096
NBYTES = 64 << 20
CONTAINING = 64  # distinct stop-text sets


class IdsMemo:
    """A bounded memo of constraint answers (least recently used out first)."""

    def __init__(self, entries: int = ENTRIES, nbytes: int = NBYTES, containing: int = CONTAINING) -> None:
        self._entries = entries
        self._max_nbytes = nbytes
        self._max_containing = containing
        self._ids: OrderedDict[Hashable, tuple[np.ndarray, bool]] = OrderedDict()
        self._containing: dict[tuple[bytes, ...], np.ndarray] = {}
        self._nbytes = 0
        self._hits = 0
        self._misses = 0

    def get(self, key: Hashable) -> tuple[np.ndarray, bool] | None:
        """The kept answer for a constraint (counted as a hit or a miss)."""
        hit = self._ids.get(key)
        if hit is None:
            self._misses += 1
            return None
        self._ids.move_to_end(key)
        self._hits += 1
        return hit

    def put(self, key: Hashable, parts: tuple[np.ndarray, bool]) -> None:
        if key in self._ids:
            return
        self._ids[key] = parts
        self._nbytes += parts[0].nbytes
        while self._ids and (len(self._ids) > self._entries or self._nbytes > self._max_nbytes):
            _, old = self._ids.popitem(last=False)
            self._nbytes -= old[0].nbytes

    def get_containing(self, needles: tuple[bytes, ...]) -> np.ndarray | None:
        return self._containing.get(needles)

    def put_containing(self, needles: tuple[bytes, ...], ids: np.ndarray) -> None:
        if len(self._containing) >= self._max_containing:
            self._containing.pop(next(iter(self._containing)))
        self._containing[needles] = ids

    def clear(self) -> None:
        self._ids.clear()
        self._containing.clear()
        self._nbytes = self._hits = self._misses = 0

    def info(self) -> dict[str, int]:
        return {"entries": len(self._ids), "nbytes": self._nbytes, "hits": self._hits, "misses": self._misses}
