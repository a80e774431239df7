"""An asyncio event loop in a daemon thread, for synchronous callers (engines)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from monitors.errors import ConfigError, LspTimeout

from .cpus import pin_thread

__all__ = ["BackgroundLoop"]

T = TypeVar("T")

log = logging.getLogger(__name__)


class BackgroundLoop:
    """Runs coroutines on a private event loop in a daemon thread.

    ``start()`` it (or use it as a context manager), ``submit`` coroutines from
    any thread, ``run`` one and block for its result with a deadline, and
    ``close`` it. ``close`` cancels whatever is still running; it is idempotent.
    ``cpus``: the loop's thread runs on these CPUs only (the language servers'
    cores, so the client's JSON and document work stays off the engine's).
    """

    def __init__(self, name: str = "mgd-lsp-loop", *, cpus: frozenset[int] | None = None) -> None:
        self._name = name
        self._cpus = cpus
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop (``RuntimeError`` if not started or closed)."""
        if self._loop is None or self._closed:
            raise RuntimeError("BackgroundLoop is not running; call start() first")
        return self._loop

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`close`."""
        return self._loop is not None and not self._closed

    def start(self) -> BackgroundLoop:
        """Start the thread and wait until its loop runs (no-op if already running)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("BackgroundLoop was closed; create a new one")
            if self._loop is not None:
                return self
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            thread = threading.Thread(target=self._main, args=(loop, ready, self._cpus), name=self._name, daemon=True)
            thread.start()
            ready.wait()
            self._loop, self._thread = loop, thread
        return self

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule ``coro`` on the loop; a future for its result."""
        try:
            loop = self.loop
        except RuntimeError:
            coro.close()  # never awaited: close it so Python does not warn
            raise
        return asyncio.run_coroutine_threadsafe(coro, loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run ``coro`` and block for its result; :class:`LspTimeout` (after cancelling
        it) if it takes longer than ``timeout`` seconds. Do not call from the loop's
        own thread."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("BackgroundLoop.run() called from its own thread (deadlock)")
        future = self.submit(coro)
        done, _ = concurrent.futures.wait((future,), timeout)
        if not done:
            future.cancel()
            raise LspTimeout(f"no result within {timeout:g}s (cancelled)")
        return future.result()

    def close(self, timeout: float = 5.0) -> None:
        """Cancel pending tasks, stop the loop and join the thread. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if threading.current_thread() is thread:
            raise RuntimeError("BackgroundLoop.close() called from its own thread")
        cleanup = asyncio.run_coroutine_threadsafe(_cancel_all(), loop)
        try:
            cleanup.result(timeout)
        except (concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
            pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if not thread.is_alive():
            loop.close()

    def __enter__(self) -> BackgroundLoop:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @staticmethod
    def _main(loop: asyncio.AbstractEventLoop, ready: threading.Event, cpus: frozenset[int] | None) -> None:
        if cpus is not None:
            try:
                pin_thread(cpus)
            except ConfigError as exc:  # e.g. a cpuset cgroup without those CPUs: run unpinned
                log.warning("mgd: LSP loop thread not pinned: %s", exc)
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()


async def _cancel_all() -> None:
    """Cancel every other task on the loop and wait for them, then tidy up."""
    loop = asyncio.get_running_loop()
    current = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not current]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await loop.shutdown_asyncgens()
    await loop.shutdown_default_executor()
