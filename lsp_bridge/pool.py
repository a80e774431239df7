"""Share one language server per (server, workspace) among concurrent callers."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from pathlib import Path

from monitors.errors import ConfigError, ServerExited

from .client import CompletionResult, LspServer
from .servers import ServerSpec
from .workspace import resolve_in_workspace, resolve_workspace

__all__ = ["ServerPool"]


@dataclass(slots=True)
class _Slot:
    """The server for one key, and the restart bookkeeping."""

    server: LspServer | None = None
    starting: asyncio.Task[LspServer] | None = None
    failures: int = 0
    last_start: float = float("-inf")
    last_error: str = ""


class ServerPool:
    """One :class:`LspServer` per ``(spec.name, workspace root)``, started on demand.

    Concurrent :meth:`get` calls for one key start a single server. A server
    that died is restarted by the next :meth:`get`, but never sooner than
    ``min_backoff_s * 2**(failures-1)`` (capped at ``max_backoff_s``) after the
    previous start; until then :meth:`get` raises :class:`ServerExited` at once.

    ``max_starting``: at most this many servers start at a time (None: no limit); the
    others wait their turn. Starting is CPU-bound (a Python server imports its analysis
    library, a JVM warms up): on a few reserved CPUs, starting sixteen at once makes
    every one of them ready only when all are, one at a time makes the first ready
    after one start.
    """

    def __init__(self, *, min_backoff_s: float = 0.5, max_backoff_s: float = 30.0,
                 max_starting: int | None = None) -> None:
        if not 0 < min_backoff_s <= max_backoff_s:
            raise ConfigError("need 0 < min_backoff_s <= max_backoff_s")
        if max_starting is not None and max_starting < 1:
            raise ConfigError("max_starting must be >= 1")
        self._starting_limit = None if max_starting is None else asyncio.Semaphore(max_starting)
        self._start_s: dict[str, float] = {}  # spec name -> moving average of start durations
        self._min_backoff_s = min_backoff_s
        self._max_backoff_s = max_backoff_s
        self._slots: dict[tuple[str, Path], _Slot] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        self._closed = False

    def servers(self) -> list[LspServer]:
        """The servers currently running."""
        return [s.server for s in self._slots.values() if s.server is not None and s.server.alive]

    def running(self, spec: ServerSpec, workspace: str | Path) -> bool:
        """Whether the server for ``(spec, workspace)`` is up (any thread may ask)."""
        slot = self._slots.get((spec.name, resolve_workspace(workspace)))
        return slot is not None and slot.server is not None and slot.server.alive

    def start_eta_s(self, spec: ServerSpec, workspace: str | Path) -> float | None:
        """Estimated seconds until the server for ``(spec, workspace)`` is up: 0 when it is,
        None when unknown (no server of ``spec`` has started yet). From the recent starts'
        durations (a moving average per spec); one asked for longer ago than that (waiting
        its turn, or slow) counts as one start away (any thread may ask)."""
        slot = self._slots.get((spec.name, resolve_workspace(workspace)))
        if slot is not None and slot.server is not None and slot.server.alive:
            return 0.0
        typical = self._start_s.get(spec.name)
        if typical is None:
            return None
        if slot is None or slot.starting is None:
            return typical
        left = typical - (time.monotonic() - slot.last_start)
        return left if left > 0 else typical

    async def get(self, spec: ServerSpec, workspace: str | Path) -> LspServer:
        """The running server for ``(spec, workspace)``, started if needed."""
        if self._closed:
            raise ServerExited("the server pool is closed")
        root = resolve_workspace(workspace)
        slot = self._slots.setdefault((spec.name, root), _Slot())
        if slot.server is not None:
            if slot.server.alive:
                return slot.server
            self._retire(slot)
        if slot.starting is None:
            loop = asyncio.get_running_loop()
            wait = slot.last_start + self._backoff(slot.failures) - loop.time()
            if wait > 0:
                raise ServerExited(
                    f"language server {spec.name!r} for {root} is down ({slot.last_error}); next restart in {wait:.2f}s"
                )
            slot.last_start = loop.time()
            slot.starting = asyncio.ensure_future(self._start(spec, root, slot))
            slot.starting.add_done_callback(_retrieve)
        starting = slot.starting
        try:
            return await asyncio.shield(starting)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if starting.cancelled() and (current is None or not current.cancelling()):
                raise ServerExited("the server pool was closed during start") from None
            raise

    async def complete(
        self,
        spec: ServerSpec,
        workspace: str | Path,
        file: str | Path,
        text: str,
        offset: int,
        timeout: float | None = None,
        *,
        resolve: int = 0,
    ) -> CompletionResult:
        """Completions in ``file`` (inside ``workspace``) holding ``text``, at ``offset``
        (``resolve``: see :meth:`LspServer.complete`)."""
        server, path = await self.server_for(spec, workspace, file)
        return await server.complete(path, text, offset, timeout, resolve=resolve)

    async def server_for(self, spec: ServerSpec, workspace: str | Path, file: str | Path) -> tuple[LspServer, Path]:
        """The server for ``workspace`` and ``file``'s path, checked to lie inside it (for
        other requests than :meth:`complete`, e.g. ``signature_help``)."""
        path = resolve_in_workspace(workspace, file)
        return await self.get(spec, workspace), path

    async def close(self) -> None:
        """Shut every server down, concurrently. Safe to call more than once."""
        self._closed = True
        starting = [s.starting for s in self._slots.values() if s.starting is not None]
        for task in starting:
            task.cancel()
        await asyncio.gather(*starting, return_exceptions=True)
        servers = [s.server for s in self._slots.values() if s.server is not None]
        self._slots.clear()
        await asyncio.gather(*(s.shutdown() for s in servers), *self._retiring, return_exceptions=True)

    async def __aenter__(self) -> ServerPool:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _backoff(self, failures: int) -> float:
        if failures == 0:
            return 0.0
        return min(self._max_backoff_s, self._min_backoff_s * 2 ** (failures - 1))

    async def _launch(self, spec: ServerSpec, root: Path) -> LspServer:
        """Start one server process (other backends override this)."""
        return await LspServer.start(spec, root)

    async def _timed_launch(self, spec: ServerSpec, root: Path) -> LspServer:
        t0 = time.monotonic()
        server = await self._launch(spec, root)
        took = time.monotonic() - t0
        before = self._start_s.get(spec.name)
        self._start_s[spec.name] = took if before is None else 0.7 * before + 0.3 * took
        return server

    async def _start(self, spec: ServerSpec, root: Path, slot: _Slot) -> LspServer:
        try:
            if self._starting_limit is None:
                server = await self._timed_launch(spec, root)
            else:
                async with self._starting_limit:
                    server = await self._timed_launch(spec, root)
        except BaseException as exc:
            slot.failures += 1
            slot.last_error = " | ".join(str(exc).split("\n"))[:500] or type(exc).__name__
            raise
        finally:
            slot.starting = None
        slot.server = server
        return server

    def _retire(self, slot: _Slot) -> None:
        """Drop a dead server (reaping it in the background) and count the failure."""
        dead = slot.server
        assert dead is not None
        slot.server = None
        if asyncio.get_running_loop().time() - slot.last_start > self._max_backoff_s:
            slot.failures = 0  # it had been healthy for a long while
        slot.failures += 1
        slot.last_error = f"exited with status {dead.returncode}"
        task = asyncio.ensure_future(dead.shutdown())
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)


def _retrieve(task: asyncio.Task[LspServer]) -> None:
    """Mark a start's exception as seen (callers may all have been cancelled)."""
    if not task.cancelled():
        with contextlib.suppress(BaseException):
            task.exception()
