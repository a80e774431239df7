"""Token healing inside the vLLM processor (``"heal": true``).

The prompt rewrite happens before vLLM sees the request (the offline engine does
it with :func:`monitors.healing.heal_prompt`): the request's prompt holds the
*kept* ids and its ``prefix`` setting the original document text before the hole.
The processor recovers the removed bytes as what ``prefix`` has past the kept
prompt's bytes, and wraps each monitor (built on the original prefix) in a
:class:`~monitors.healing.HealingMonitor`, whose ``PrefixConstraint`` makes the
model re-spell the removed text first. A prompt that was not healed gives
``removed == b""``: nothing changes.
"""

from __future__ import annotations

from collections.abc import Sequence

from monitors.base import Monitor
from monitors.vocab import VocabIndex

__all__ = ["removed_bytes", "wrap_healing"]

_TAIL = 64  # bytes of the kept prompt matched against the prefix


def removed_bytes(index: VocabIndex, prefix: str, kept_ids: Sequence[int]) -> bytes:
    """The bytes of ``prefix`` after the kept prompt (b"" if it cannot be told)."""
    kept = b"".join(index.token_bytes(int(t)) for t in kept_ids if 0 <= int(t) < index.size)
    full = prefix.encode("utf-8", "surrogatepass")
    tail = kept[-_TAIL:]
    if not tail:
        return b""
    for r in range(0, min(len(full), 4 * index.max_token_bytes) + 1):
        if full[: len(full) - r].endswith(tail):
            return full[len(full) - r :]
    return b""


def wrap_healing(monitors: list[Monitor], removed: bytes) -> list[Monitor]:
    """Monitors that re-spell ``removed`` first (unchanged when nothing was removed)."""
    if not removed:
        return monitors
    from monitors.healing import HealingMonitor

    if not monitors:
        return [HealingMonitor(removed)]
    return [HealingMonitor(removed, inner=m) for m in monitors]
