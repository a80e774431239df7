"""Bridge-level faults the fault matrix relies on (real fake-server processes, no model):
malformed JSON-RPC kills the server at once (its stream cannot be trusted), a server
without completion support is not asked, and a killed server is restarted with backoff."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from lsp_bridge import LspServer, ServerPool
from monitors.errors import LspError, LspTimeout, ServerExited

from ._procs import children
from .conftest import fake_spec, received_methods

PYPROJ = Path(__file__).resolve().parent.parent / "fixtures" / "pyproj"
FILE = PYPROJ / "app.py"
TEXT = "import os\nos."


@pytest.mark.parametrize("mode", ["body", "short"])
async def test_malformed_reply_kills_the_server(mode: str, tmp_path: Path, caplog) -> None:
    spec = fake_spec("malformed", tmp_path / "log.jsonl", {"FAKE_MODE": mode}, request_timeout_s=30)
    before = children()
    server = await LspServer.start(spec, PYPROJ)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="lsp_bridge"), pytest.raises(ServerExited, match="malformed"):
        await server.complete(FILE, TEXT, len(TEXT))
    assert time.monotonic() - started < 5.0  # not the 30 s deadline
    assert any("malformed JSON-RPC" in r.getMessage() for r in caplog.records)
    assert not server.alive
    await server.shutdown()
    assert children() - before == set()


async def test_wrong_length_that_never_completes_is_bounded_by_the_deadline(tmp_path: Path) -> None:
    spec = fake_spec("malformed", tmp_path / "log.jsonl", {"FAKE_MODE": "long"}, request_timeout_s=0.5)
    async with await LspServer.start(spec, PYPROJ) as server:
        started = time.monotonic()
        with pytest.raises(LspTimeout):
            await server.complete(FILE, TEXT, len(TEXT))
        assert time.monotonic() - started < 0.5 + 1.5


async def test_server_without_completion_is_not_asked(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    async with await LspServer.start(fake_spec("no_completion", log, request_timeout_s=30), PYPROJ) as server:
        started = time.monotonic()
        with pytest.raises(LspError, match="does not offer completion"):
            await server.complete(FILE, TEXT, len(TEXT))
        assert time.monotonic() - started < 1.0
        assert server.alive
    assert "textDocument/completion" not in received_methods(log)


async def test_killed_server_is_restarted_with_backoff(tmp_path: Path) -> None:
    spec = fake_spec("die_after", tmp_path / "log.jsonl", {"FAKE_ANSWERS": "1"}, request_timeout_s=5)
    before = children()
    async with ServerPool(min_backoff_s=1.5, max_backoff_s=10) as pool:
        first = await pool.complete(spec, PYPROJ, FILE, TEXT, len(TEXT))
        assert "radius" in first.names
        [server] = pool.servers()
        with pytest.raises(ServerExited):  # SIGKILLed while answering
            await pool.complete(spec, PYPROJ, FILE, TEXT, len(TEXT))
        with pytest.raises(ServerExited, match="next restart in"):  # within the backoff: no restart yet
            await pool.complete(spec, PYPROJ, FILE, TEXT, len(TEXT))
        assert pool.servers() == []
        await asyncio.sleep(1.6)
        again = await pool.complete(spec, PYPROJ, FILE, TEXT, len(TEXT))
        assert "radius" in again.names
        [restarted] = pool.servers()
        assert restarted.pid != server.pid
    assert children() - before == set()
