"""Prompt reuse for the local engine: anchored prompt windows and a KV-cache prefix.

Consecutive completions in one document (the user types a few characters, asks
again) share most of their prompt. Two small parts turn that into saved prefill:

* :func:`anchored_start` picks where the prompt's prefix window starts: a line
  start that only moves in steps of ``grain`` characters, so the window's first
  tokens stay the same while the cursor moves (a window that slides with every
  keystroke would share no token prefix with the previous prompt);
* :class:`PrefixReuse` keeps the KV cache of the last generation with the token
  ids it holds; the next prompt reuses the longest common token prefix (the
  cache is cropped to it) and only the rest is run through the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mgd.engines.kvcache import crop_cache

__all__ = ["PrefixReuse", "ReusePlan", "anchored_start", "common_prefix"]


def anchored_start(prefix: str, chars: int, grain: int) -> int:
    """Start offset of a window of about ``chars`` characters ending at ``len(prefix)``.

    The start is the first line start at or after ``len(prefix) - chars`` rounded
    *down* to a multiple of ``grain``: it stays put while the end moves by less
    than ``grain`` characters. 0 when the prefix is shorter than the window.
    """
    if chars <= 0:
        return len(prefix)
    target = len(prefix) - chars
    if target <= 0:
        return 0
    target -= target % max(grain, 1)
    if target == 0:
        return 0
    nl = prefix.find("\n", target - 1)  # a line start at ``target`` itself counts
    return nl + 1 if 0 <= nl < len(prefix) - 1 else target


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two id sequences."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


@dataclass(frozen=True, slots=True)
class ReusePlan:
    """What to run: ``cache`` (None: none reused) already holds ``ids[:reused]``."""

    cache: Any
    reused: int


class PrefixReuse:
    """The last generation's KV cache and the ids it holds (one model, one thread at a time).

    ``min_tokens``: shorter common prefixes are not worth keeping (a fresh
    prefill is as cheap). The cache object is handed out and mutated by the next
    generation, so :meth:`plan` forgets it: :meth:`keep` must be called again.
    """

    def __init__(self, min_tokens: int = 16) -> None:
        self.min_tokens = min_tokens
        self._ids: list[int] = []
        self._cache: Any = None
        self.hits = 0
        self.reused_tokens = 0

    def plan(self, ids: Sequence[int]) -> ReusePlan:
        """Reuse as much of the kept cache as ``ids`` allow (at least one id is left to run)."""
        cache, held = self._cache, self._ids
        self._cache, self._ids = None, []
        if cache is None:
            return ReusePlan(None, 0)
        n = min(common_prefix(held, ids), len(ids) - 1)
        if n < self.min_tokens:
            return ReusePlan(None, 0)
        if cache.get_seq_length() < n:  # the cache holds fewer ids than recorded: do not trust it
            return ReusePlan(None, 0)
        crop_cache(cache, n)
        self.hits += 1
        self.reused_tokens += n
        return ReusePlan(cache, n)

    def keep(self, ids: Sequence[int], cache: Any) -> None:
        """Remember ``cache`` as holding exactly ``ids`` (in order)."""
        if cache is None or cache.get_seq_length() != len(ids):
            self._cache, self._ids = None, []
            return
        self._cache, self._ids = cache, list(ids)

    def clear(self) -> None:
        self._cache, self._ids = None, []
