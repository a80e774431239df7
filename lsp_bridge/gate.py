"""At most a few lookups per language server in flight; the rest wait on mgd's side.

Language servers such as jedi-language-server answer one request at a time and
cannot stop one they have started (``$/cancelRequest`` arrives after the work is
done). A lookup already written to the server's pipe therefore costs its full
CPU even when the request that asked for it has ended. :class:`LookupGate`
keeps all but ``limit`` lookups of one server in mgd's own queue, where
cancelling one is free: it is never sent. The order is first come, first served.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["LookupGate"]

_Start = Callable[[], concurrent.futures.Future[Any]]


class LookupGate:
    """Admits at most ``limit`` lookups at a time; ``never_sent`` counts those
    cancelled while they waited here."""

    def __init__(self, limit: int = 1, *, smoothing: float = 0.2) -> None:
        if limit < 1:
            raise ValueError("LookupGate limit must be >= 1")
        self.limit = limit
        self._lock = threading.Lock()
        self._running = 0
        self._queue: deque[tuple[_Start, concurrent.futures.Future[Any]]] = deque()
        self._since: dict[concurrent.futures.Future[Any], float] = {}  # running lookups: when sent
        self._smoothing = smoothing
        #: Moving average of the seconds a lookup takes once sent (None until one finished).
        self.service_s: float | None = None
        self.never_sent = 0

    @property
    def waiting(self) -> int:
        """Lookups queued here (cancelled ones included until they are skipped)."""
        with self._lock:
            return len(self._queue)

    def submit(self, start: _Start) -> concurrent.futures.Future[Any]:
        """A future for ``start()``'s result; ``start`` runs now or when a slot frees.

        Cancelling the returned future before ``start`` ran means it never runs;
        after, the started future is cancelled too.
        """
        proxy: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            admit = self._running < self.limit
            if admit:
                self._running += 1
            else:
                self._queue.append((start, proxy))
        if admit:
            self._run(start, proxy)
        return proxy

    def eta_s(self, proxy: concurrent.futures.Future[Any]) -> float | None:
        """Estimated seconds until ``proxy`` (a future :meth:`submit` returned) is
        answered; None when unknown (no lookup finished yet, or not this gate's)."""
        now = time.perf_counter()
        with self._lock:
            service = self.service_s
            if service is None or proxy.done():
                return None if service is None else 0.0
            since = self._since.get(proxy)
            if since is not None:
                return max(service - (now - since), 0.0)
            ahead = next((i for i, (_s, p) in enumerate(self._queue) if p is proxy), None)
            if ahead is None:
                return None
            soonest = min((max(service - (now - t), 0.0) for t in self._since.values()), default=0.0)
            return soonest + (ahead // self.limit + 1) * service

    def _run(self, start: _Start, proxy: concurrent.futures.Future[Any]) -> None:
        sent = time.perf_counter()
        with self._lock:
            self._since[proxy] = sent
        try:
            inner = start()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiter, which fails open
            with self._lock:
                self._since.pop(proxy, None)
            _settle(proxy, exc=exc)
            self._next()
            return

        def inner_done(f: concurrent.futures.Future[Any]) -> None:
            with self._lock:
                self._since.pop(proxy, None)
                if not f.cancelled():
                    took = time.perf_counter() - sent
                    a = self._smoothing
                    self.service_s = took if self.service_s is None else (1 - a) * self.service_s + a * took
            if f.cancelled():
                proxy.cancel()
            elif (exc := f.exception()) is not None:
                _settle(proxy, exc=exc)
            else:
                _settle(proxy, result=f.result())
            self._next()

        def proxy_done(p: concurrent.futures.Future[Any]) -> None:
            if p.cancelled():
                inner.cancel()

        proxy.add_done_callback(proxy_done)
        inner.add_done_callback(inner_done)

    def _next(self) -> None:
        """A slot freed: start the oldest lookup still wanted."""
        while True:
            with self._lock:
                if not self._queue:
                    self._running -= 1
                    return
                start, proxy = self._queue.popleft()
                if proxy.cancelled():
                    self.never_sent += 1
                    continue
            self._run(start, proxy)
            return


def _settle(fut: concurrent.futures.Future[Any], *, result: Any = None, exc: BaseException | None = None) -> None:
    """Finish ``fut`` unless it is already done (cancelled by its waiter)."""
    try:
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)
    except concurrent.futures.InvalidStateError:
        pass
