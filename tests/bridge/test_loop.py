from __future__ import annotations

import asyncio
import threading
import time

import pytest

from lsp_bridge import BackgroundLoop, ServerPool, preset
from monitors.errors import LspTimeout

from .conftest import PYPROJ, process_gone


async def add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


def test_run_and_submit() -> None:
    with BackgroundLoop() as bg:
        assert bg.running
        assert bg.run(add(1, 2), timeout=1) == 3
        assert bg.submit(add(2, 3)).result(timeout=1) == 5
        assert bg.start() is bg  # idempotent while running
    assert not bg.running


def test_run_timeout_cancels() -> None:
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with BackgroundLoop() as bg:
        started = time.monotonic()
        with pytest.raises(LspTimeout):
            bg.run(forever(), timeout=0.2)
        assert time.monotonic() - started < 1.0
        assert cancelled.wait(1.0)


def test_errors_propagate() -> None:
    async def boom() -> None:
        raise ValueError("boom")

    with BackgroundLoop() as bg, pytest.raises(ValueError, match="boom"):
        bg.run(boom(), timeout=1)


def test_close_cancels_pending_and_is_idempotent() -> None:
    bg = BackgroundLoop().start()
    future = bg.submit(asyncio.sleep(60))
    bg.close()
    assert future.cancelled()
    bg.close()
    with pytest.raises(RuntimeError):
        bg.run(add(1, 1), timeout=1)  # the coroutine is closed, no "never awaited" warning
    with pytest.raises(RuntimeError):
        bg.start()


def test_unstarted_loop_refuses() -> None:
    bg = BackgroundLoop()
    with pytest.raises(RuntimeError):
        bg.submit(add(1, 1))
    bg.close()


def test_sync_engine_uses_real_server() -> None:
    text = "from geometry import Circle\n\nCircle(1.0)."
    with BackgroundLoop() as bg:
        pool = ServerPool()
        result = bg.run(pool.complete(preset("jedi"), PYPROJ, "app.py", text, len(text)), timeout=30)
        assert {"radius", "area"} <= result.names
        pids = [s.pid for s in bg.run(_servers(pool), timeout=1)]
        bg.run(pool.close(), timeout=10)
    assert pids and all(process_gone(pid) for pid in pids)


async def _servers(pool: ServerPool) -> list:
    return pool.servers()
