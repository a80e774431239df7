"""What mgd gives the pure guide: a real clock and wait, and a memo shared across threads.

:mod:`monitors.guide` declares what it needs (:class:`~monitors.guide.Waiter`, an
:class:`~monitors.vocab.IdsMemo`) and has neither a clock nor a lock; the session
(:meth:`mgd.session.MgdSession.guide`) hands every guide these.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Hashable

import numpy as np

from monitors.guide import Pending
from monitors.vocab import IdsMemo

__all__ = ["FutureWaiter", "SharedMemo"]

_POLL_S = 0.001


class FutureWaiter:
    """Waits on ``concurrent.futures.Future`` answers (what ``lsp_bridge`` lookups return)
    against ``time.perf_counter``; any other pending answer is polled."""

    def now(self) -> float:
        return time.perf_counter()

    def wait(self, pending: Pending[object], budget_s: float) -> None:
        if budget_s <= 0 or pending.done():
            return
        if isinstance(pending, concurrent.futures.Future):
            concurrent.futures.wait([pending], timeout=budget_s)
            return
        deadline = time.perf_counter() + budget_s
        while not pending.done() and time.perf_counter() < deadline:
            time.sleep(min(_POLL_S, max(deadline - time.perf_counter(), 0.0)))


class SharedMemo(IdsMemo):
    """An :class:`~monitors.vocab.IdsMemo` behind a lock: one per session, shared by
    the guides of every thread (identical constraints computed once)."""

    def __init__(self, *args: int) -> None:
        super().__init__(*args)
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> tuple[np.ndarray, bool] | None:
        with self._lock:
            return super().get(key)

    def put(self, key: Hashable, parts: tuple[np.ndarray, bool]) -> None:
        with self._lock:
            super().put(key, parts)

    def get_containing(self, needles: tuple[bytes, ...]) -> np.ndarray | None:
        with self._lock:
            return super().get_containing(needles)

    def put_containing(self, needles: tuple[bytes, ...], ids: np.ndarray) -> None:
        with self._lock:
            super().put_containing(needles, ids)

    def clear(self) -> None:
        with self._lock:
            super().clear()

    def info(self) -> dict[str, int]:
        with self._lock:
            return super().info()
