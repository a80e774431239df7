from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from lsp_bridge import ServerPool, ServerSpec, preset
from monitors.errors import ConfigError, ServerExited, ServerStartError, WorkspaceError

from .conftest import PYPROJ, process_gone

Spec = Callable[..., ServerSpec]
TEXT = "from geometry import Circle\n\nCircle(1.0)."


async def test_one_server_per_spec_and_workspace(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(PYPROJ)
    other = tmp_path / "other"
    other.mkdir()
    jedi = preset("jedi")
    async with ServerPool() as pool:
        servers = await asyncio.gather(*(pool.get(jedi, PYPROJ) for _ in range(5)), pool.get(jedi, link))
        assert len({id(s) for s in servers}) == 1
        elsewhere = await pool.get(jedi, other)
        assert elsewhere is not servers[0]
        assert len(pool.servers()) == 2
        pids = [s.pid for s in pool.servers()]
        result = await pool.complete(jedi, PYPROJ, "geometry/scratch.py", TEXT, len(TEXT), timeout=20)
        assert {"radius", "area"} <= result.names
        with pytest.raises(WorkspaceError):
            await pool.complete(jedi, PYPROJ, "../outside.py", TEXT, len(TEXT))
    assert all(process_gone(pid) for pid in pids)
    with pytest.raises(ServerExited, match="closed"):
        await pool.get(jedi, PYPROJ)
    await pool.close()  # twice is fine


async def test_dead_server_is_restarted_with_backoff(fake_spec: Spec) -> None:
    spec = fake_spec("crash_mid")
    async with ServerPool(min_backoff_s=1.5, max_backoff_s=10.0) as pool:
        first = await pool.get(spec, PYPROJ)
        with pytest.raises(ServerExited):
            await pool.complete(spec, PYPROJ, "app.py", TEXT, len(TEXT))
        started = time.monotonic()
        with pytest.raises(ServerExited, match="next restart in"):
            await pool.get(spec, PYPROJ)  # backing off: fails fast
        assert time.monotonic() - started < 0.2
        await asyncio.sleep(1.5)
        second = await pool.get(spec, PYPROJ)
        assert second is not first and second.alive and second.pid != first.pid
        assert process_gone(first.pid)
        with pytest.raises(ServerExited):
            await second.complete(PYPROJ / "app.py", TEXT, len(TEXT))
        with pytest.raises(ServerExited, match="next restart in") as info:
            await pool.get(spec, PYPROJ)
        wait = float(re.search(r"next restart in ([\d.]+)s", str(info.value)).group(1))
        assert 1.5 < wait <= 3.0  # the second failure doubles the backoff
    assert process_gone(second.pid)


async def test_failed_start_backs_off(fake_spec: Spec) -> None:
    spec = fake_spec("exit_at_start")
    async with ServerPool(min_backoff_s=5.0) as pool:
        results = await asyncio.gather(*(pool.get(spec, PYPROJ) for _ in range(3)), return_exceptions=True)
        assert all(isinstance(r, ServerStartError) for r in results)
        started = time.monotonic()
        with pytest.raises(ServerExited, match="missing toolchain"):
            await pool.get(spec, PYPROJ)
        assert time.monotonic() - started < 0.2


async def test_close_during_start(fake_spec: Spec) -> None:
    pool = ServerPool()
    spec = fake_spec("no_init", start_timeout_s=10)
    getter = asyncio.create_task(pool.get(spec, PYPROJ))
    await asyncio.sleep(0.3)
    await pool.close()
    with pytest.raises(ServerExited):
        await getter


def test_bad_backoff() -> None:
    with pytest.raises(ConfigError):
        ServerPool(min_backoff_s=0)
    with pytest.raises(ConfigError):
        ServerPool(min_backoff_s=2, max_backoff_s=1)


async def test_servers_start_as_many_at_a_time_as_allowed(fake_spec: Spec, tmp_path: Path) -> None:
    """``max_starting``: starts beyond the limit wait their turn (one CPU: one at a time)."""
    spec = fake_spec("probe")
    roots = []
    for i in range(3):
        (tmp_path / f"ws{i}").mkdir()
        roots.append(tmp_path / f"ws{i}")
    live = peak = 0

    class Counting(ServerPool):
        async def _launch(self, spec: ServerSpec, root: Path):  # type: ignore[override]
            nonlocal live, peak
            live += 1
            peak = max(peak, live)
            try:
                return await super()._launch(spec, root)
            finally:
                live -= 1

    async with Counting(max_starting=1) as pool:
        servers = await asyncio.gather(*(pool.get(spec, r) for r in roots))
        assert len({id(s) for s in servers}) == 3 and peak == 1
        assert all(pool.running(spec, r) for r in roots)
    assert not pool.running(spec, roots[0])
    with pytest.raises(ConfigError):
        ServerPool(max_starting=0)
