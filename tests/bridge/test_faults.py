"""Faults that real servers will not produce on demand, from tiny fake servers
(real processes, ``tests/fake_servers/``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lsp_bridge import LspServer, ServerSpec
from monitors.errors import LspResponseError, LspTimeout, ServerExited, ServerStartError

from .conftest import PYPROJ, pids_with_env, process_gone

FILE = PYPROJ / "app.py"
TEXT = "import os\nos."

Spec = Callable[..., ServerSpec]
Received = Callable[[], list[dict[str, Any]]]


def methods(received: Received) -> list[str]:
    return [m.get("method", f"<response {m.get('id')}>") for m in received()]


async def wait_for(predicate: Callable[[], bool], timeout: float = 2.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_timeout_sends_cancel_request(fake_spec: Spec, received: Received) -> None:
    async with await LspServer.start(fake_spec("hang", request_timeout_s=0.3), PYPROJ) as server:
        started = time.monotonic()
        with pytest.raises(LspTimeout):
            await server.complete(FILE, TEXT, len(TEXT))
        assert time.monotonic() - started < 0.3 + 0.5
        await wait_for(lambda: "$/cancelRequest" in methods(received))
        [request] = [m for m in received() if m.get("method") == "textDocument/completion"]
        [cancel] = [m for m in received() if m.get("method") == "$/cancelRequest"]
        assert cancel["params"]["id"] == request["id"]
        assert server.alive  # a timeout does not kill the server
        assert request["params"]["context"] == {"triggerKind": 2, "triggerCharacter": "."}


async def test_late_reply_is_dropped(fake_spec: Spec, received: Received, caplog: pytest.LogCaptureFixture) -> None:
    spec = fake_spec("hang", env={"FAKE_DELAY": "0.4"})
    async with await LspServer.start(spec, PYPROJ) as server:
        with pytest.raises(LspTimeout):
            await server.complete(FILE, TEXT, len(TEXT), timeout=0.1)
        with caplog.at_level(logging.WARNING):
            await asyncio.sleep(0.5)  # the late reply arrives meanwhile
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
        result = await server.complete(FILE, TEXT, len(TEXT), timeout=2.0)
        assert result.names == {"late"}


async def test_cancelled_caller_cancels_request(fake_spec: Spec, received: Received) -> None:
    async with await LspServer.start(fake_spec("hang"), PYPROJ) as server:
        task = asyncio.create_task(server.complete(FILE, TEXT, len(TEXT), timeout=10))
        await wait_for(lambda: "textDocument/completion" in methods(received))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await wait_for(lambda: "$/cancelRequest" in methods(received))
        # The per-document lock was released: the next caller is not stuck.
        await server.sync(FILE, TEXT + "path", timeout=0.5)


async def test_exit_at_start(fake_spec: Spec) -> None:
    started = time.monotonic()
    with pytest.raises(ServerStartError, match="missing toolchain"):
        await LspServer.start(fake_spec("exit_at_start"), PYPROJ)
    assert time.monotonic() - started < 2.0


async def test_missing_command_has_install_hint() -> None:
    spec = ServerSpec(name="nope", language_id="python", command=("mgd-no-such-server",), install_hint="pip install it")
    with pytest.raises(ServerStartError, match="pip install it"):
        await LspServer.start(spec, PYPROJ)


async def test_start_timeout_kills_the_process(fake_spec: Spec, fake_log: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ServerStartError, match="did not initialize"):
        await LspServer.start(fake_spec("no_init", start_timeout_s=0.5), PYPROJ)
    assert time.monotonic() - started < 0.5 + 1.5
    assert pids_with_env(f"FAKE_LSP_LOG={fake_log}") == []


async def test_crash_fails_pending_requests_at_once(fake_spec: Spec) -> None:
    server = await LspServer.start(fake_spec("crash_mid", request_timeout_s=10), PYPROJ)
    started = time.monotonic()
    results = await asyncio.gather(
        server.complete(FILE, TEXT, len(TEXT)),
        server.complete(PYPROJ / "other.py", TEXT, len(TEXT)),
        return_exceptions=True,
    )
    assert time.monotonic() - started < 2.0  # not after the 10 s timeout
    assert all(isinstance(r, ServerExited) for r in results), results
    assert not server.alive and server.returncode == 7
    with pytest.raises(ServerExited, match="status 7"):
        await server.complete(FILE, TEXT, len(TEXT))
    await server.shutdown()
    assert process_gone(server.pid)


async def test_error_reply(fake_spec: Spec) -> None:
    async with await LspServer.start(fake_spec("error_reply"), PYPROJ) as server:
        with pytest.raises(LspResponseError, match="kaboom") as info:
            await server.complete(FILE, TEXT, len(TEXT))
        assert info.value.code == -32603
        assert server.alive


async def test_stubborn_server_is_killed(fake_spec: Spec) -> None:
    server = await LspServer.start(fake_spec("stubborn", shutdown_timeout_s=0.3), PYPROJ)
    pid = server.pid
    started = time.monotonic()
    await server.shutdown()
    assert time.monotonic() - started < 0.3 + 1.0 + 1.0
    assert process_gone(pid)


async def test_server_requests_are_answered(fake_spec: Spec, received: Received) -> None:
    settings = {"fake": {"nested": {"x": 1}, "flag": True}}
    async with await LspServer.start(fake_spec("probe", settings=settings), PYPROJ):
        await wait_for(lambda: len([m for m in received() if "id" in m and "method" not in m]) >= 4)
        answers = {m["id"]: m for m in received() if "method" not in m}
        assert answers[100]["result"] == [{"x": 1}, settings["fake"], None, settings]
        assert "result" in answers[101] and answers[101]["result"] is None
        assert "result" in answers[102] and answers[102]["result"] is None
        assert answers[103]["result"] == [{"uri": PYPROJ.as_uri(), "name": "pyproj"}]


async def test_progress_and_wait_idle(fake_spec: Spec, received: Received) -> None:
    spec = fake_spec("probe", env={"FAKE_PROGRESS_S": "0.8"})
    async with await LspServer.start(spec, PYPROJ) as server:
        await wait_for(lambda: server.busy)
        assert not await server.wait_idle(0.01)
        assert await server.wait_idle(2.0)
        assert not server.busy


async def test_completion_items_are_reduced(fake_spec: Spec) -> None:
    async with await LspServer.start(fake_spec("probe"), PYPROJ) as server:
        result = await server.complete(FILE, TEXT, len(TEXT))
        assert result.names == {"radius", "area", "scale", "grow", "plain", "édition"}
        assert result.incomplete
        assert len(result.items) == 8
        assert result.elapsed_ms > 0


async def test_initialize_params(fake_spec: Spec, received: Received) -> None:
    spec = fake_spec("probe", initialization_options={"a": {"b": [1, 2]}})
    async with await LspServer.start(spec, PYPROJ):
        pass
    init = received()[0]
    assert init["method"] == "initialize"
    params = init["params"]
    assert params["rootUri"] == PYPROJ.as_uri()
    assert params["workspaceFolders"] == [{"uri": PYPROJ.as_uri(), "name": "pyproj"}]
    assert params["initializationOptions"] == {"a": {"b": [1, 2]}}
    caps = params["capabilities"]
    assert caps["textDocument"]["completion"]["completionItem"]["snippetSupport"] is False
    assert caps["window"]["workDoneProgress"] is True
    assert caps["workspace"]["configuration"] is True
    sent = [m for m in methods(received) if not m.startswith("<response")]
    assert sent[:2] == ["initialize", "initialized"]
    assert sent[-2:] == ["shutdown", "exit"]


async def test_scrubbed_environment(fake_spec: Spec, received: Received, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MGD_SECRET_TOKEN", "do-not-leak")
    spec = fake_spec("probe", env={"EXTRA": "1"})
    async with await LspServer.start(spec, PYPROJ) as server:
        environ = Path(f"/proc/{server.pid}/environ").read_bytes().split(b"\0")
    names = {e.split(b"=", 1)[0].decode() for e in environ if e}
    assert "MGD_SECRET_TOKEN" not in names
    assert {"EXTRA", "FAKE_LSP_LOG"} <= names <= {"PATH", "HOME", "LANG", "EXTRA", "FAKE_LSP_LOG", "LC_CTYPE"}


async def test_sync_sends_open_then_changes(fake_spec: Spec, received: Received) -> None:
    async with await LspServer.start(fake_spec("probe"), PYPROJ) as server:
        await server.sync(FILE, "a😀b")
        await server.sync(FILE, "a😀b")  # unchanged: nothing sent
        await server.sync(FILE, "a😀bc")
        await server.close_document(FILE)
    sent = [m for m in received() if m.get("method", "").startswith("textDocument/")]
    assert [m["method"] for m in sent] == ["textDocument/didOpen", "textDocument/didChange", "textDocument/didClose"]
    change = sent[1]["params"]
    assert change["textDocument"]["version"] == 1
    assert change["contentChanges"] == [
        {"range": {"start": {"line": 0, "character": 4}, "end": {"line": 0, "character": 4}}, "text": "c"}
    ]


async def test_resolve_that_never_answers_keeps_the_item(fake_spec: Spec, received: Received) -> None:
    """A server that never answers one ``completionItem/resolve``: the list still comes
    back within the request's time, the resolved item with its detail, the other plain."""
    async with await LspServer.start(fake_spec("slow_resolve", request_timeout_s=1.0), PYPROJ) as server:
        started = time.perf_counter()
        res = await server.complete(PYPROJ / "app.py", TEXT, len(TEXT), resolve=8)
        assert time.perf_counter() - started < 1.0
        details = {it.label: it.detail for it in res.items}
        assert details == {"quick": "quick: int", "stuck": None}
        plain = await server.complete(PYPROJ / "app.py", TEXT, len(TEXT))  # not asked: nothing resolved
        assert {it.detail for it in plain.items} == {None}
    resolves = [m for m in received() if m.get("method") == "completionItem/resolve"]
    assert sorted(m["params"]["label"] for m in resolves) == ["quick", "stuck"]
