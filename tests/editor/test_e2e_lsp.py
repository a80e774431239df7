"""End to end: pygls's LanguageClient against ``mgd lsp`` over stdio, the tiny model, jedi.

One server process for the module (model loaded once). The document is edited in
the client's buffer only (never on disk), so completions prove the server uses
the editor's text.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from lsp_bridge import ServerPool, preset
from mgd.evaluation.member_check import check_member_accesses
from monitors.languages import get_language

from .conftest import inline_params, lsp_client, open_doc, position_of, server_stats, wait_job

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

INIT = {
    "debounce_ms": 0,
    "latency_budget_ms": 180000,
    "wait_ms": 20000,
    "max_tokens_single": 10,
    "max_tokens_multi": 200,
    "max_lines": 200,
    "server": "jedi",
}
ADDED = "\n\ndef half_radius(c: Circle) -> float:\n    return c."
LONG = "\n\n\nclass Summary:\n    def totals(self, shapes: list[Rectangle]) -> list[float]:\n        "


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def session(tiny_model, demo_project):
    async with lsp_client(demo_project, "--model", str(tiny_model), init=INIT) as (client, init):
        yield client, init


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def doc(session, demo_project):
    """report.py opened, then extended in the buffer by an incremental didChange."""
    client, _ = session
    path = demo_project / "report.py"
    text = path.read_text(encoding="utf-8")
    uri = open_doc(client, path, text)
    end = position_of(text, len(text))
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            [types.TextDocumentContentChangePartial(range=types.Range(end, end), text=ADDED)],
        )
    )
    return uri, path, text + ADDED


async def legal(path: Path, prefix: str, completion: str, suffix: str) -> list:
    async with ServerPool() as pool:
        return await check_member_accesses(pool, preset("jedi"), get_language("python"), path.parent, path,
                                           prefix, completion, suffix, open_end=True, timeout=60)


async def test_initialize_advertises_inline_completion(session) -> None:
    _, init = session
    caps = init.capabilities
    assert caps.inline_completion_provider is not None and caps.inline_completion_provider is not False
    assert "." in (caps.completion_provider.trigger_characters or [])
    sync = caps.text_document_sync
    assert getattr(sync, "change", sync) == types.TextDocumentSyncKind.Incremental
    assert "mgd.stats" in caps.execute_command_provider.commands


async def test_inline_completion_at_dot_is_legal(session, doc) -> None:
    client, _ = session
    uri, path, text = doc
    pos = position_of(text, len(text))
    res = await asyncio.wait_for(client.text_document_inline_completion_async(inline_params(uri, pos)), 240)
    assert res is not None and len(res.items) == 1, (await server_stats(client))["jobs"][-1]
    item = res.items[0]
    completion = item.insert_text
    assert completion and "\n" not in completion
    assert item.range == types.Range(pos, pos)
    checks = await legal(path, text, completion, "")
    assert checks and checks[0].dot == -1 and checks[0].legal, (completion, checks)
    job = (await server_stats(client))["jobs"][-1]
    assert job["stats"]["fim"] is True  # the prompt was a FIM string...
    assert job["stats"]["triggers"] >= 1 and job["stats"]["constrained_steps"] >= 1  # ...the monitors saw `c.`
    assert not job["multiline"] and job["shape_reason"] == "mid-statement"


async def test_classic_completion_replaces_the_word(session, doc) -> None:
    client, _ = session
    uri, _path, text = doc
    pos = position_of(text, len(text))
    res = await asyncio.wait_for(
        client.text_document_completion_async(
            types.CompletionParams(types.TextDocumentIdentifier(uri), pos)
        ),
        120,
    )
    assert isinstance(res, types.CompletionList) and len(res.items) == 1
    edit = res.items[0].text_edit
    assert edit.range.end == pos and edit.new_text


async def _start_long_job(client, uri: str, text: str, msg_id: str):
    """A multi-line request in an empty method body (up to 200 tokens)."""
    base = len(text)
    change_at = position_of(text, base)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=uri, version=3 if msg_id == "long-1" else 4),
            [types.TextDocumentContentChangePartial(range=types.Range(change_at, change_at), text=LONG)],
        )
    )
    full = text + LONG
    fut = client.protocol.send_request_async(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, position_of(full, len(full))), msg_id=msg_id
    )
    for _ in range(600):  # wait until the worker is generating
        jobs = [j for j in (await server_stats(client))["jobs"] if j["uri"] == uri]
        if jobs and jobs[-1]["started"] is not None:
            break
        await asyncio.sleep(0.05)
    job = jobs[-1]
    assert job["ended"] is None, f"the long job ended before it could be cancelled: {job}"
    return fut, job, full


async def _undo(client, uri: str, full: str, version: int) -> None:
    start = position_of(full, len(full) - len(LONG))
    end = position_of(full, len(full))
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            [types.TextDocumentContentChangePartial(range=types.Range(start, end), text="")],
        )
    )


async def test_cancel_request_stops_generation(session, doc) -> None:
    client, _ = session
    uri, _path, text = doc
    fut, job, full = await _start_long_job(client, uri, text, "long-1")
    assert job["multiline"], job
    # Cancel at once: on an idle machine the tiny model can finish the body in well under a second.
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="long-1"))
    with pytest.raises(JsonRpcException) as err:
        await asyncio.wait_for(fut, 60)
    assert err.value.code == -32800  # RequestCancelled
    done = await wait_job(client, lambda j: j["id"] == job["id"])
    assert done["cancel_reason"] == "cancelRequest" and done["stopped"] == "cancelled"
    # The generation thread stopped early: far fewer steps than allowed, soon after the cancel.
    assert done["steps"] < INIT["max_tokens_multi"] // 2, done
    assert done["stop_after_cancel_ms"] is not None and done["stop_after_cancel_ms"] < 3000, done
    await _undo(client, uri, full, 31)


async def test_newer_request_supersedes_older(session, doc) -> None:
    client, _ = session
    uri, path, text = doc
    old, job, full = await _start_long_job(client, uri, text, "long-2")
    # A newer request for the same document (after `return c.`, the long method below it).
    new = await asyncio.wait_for(
        client.text_document_inline_completion_async(inline_params(uri, position_of(full, len(text)))), 120
    )
    first = await asyncio.wait_for(old, 60)
    assert not first.items  # the superseded request answers empty
    done = await wait_job(client, lambda j: j["id"] == job["id"])
    assert done["stopped"] == "cancelled" and done["cancel_reason"] == "superseded", done
    assert done["steps"] < INIT["max_tokens_multi"] // 2, done
    assert new.items and (await legal(path, text, new.items[0].insert_text, LONG))[0].legal
    await _undo(client, uri, full, 41)


async def test_bad_requests_get_errors_and_the_server_keeps_serving(session, doc, demo_project) -> None:
    client, _ = session
    uri, path, text = doc
    ghost = (demo_project / "geometry" / "shapes.py").as_uri()  # exists on disk, never opened
    with pytest.raises(JsonRpcException) as err:
        await client.text_document_inline_completion_async(inline_params(ghost, types.Position(0, 0)))
    assert err.value.code == -32602 and "not open" in err.value.message
    with pytest.raises(JsonRpcException) as err:
        await client.text_document_inline_completion_async(inline_params(uri, types.Position(9999, 0)))
    assert err.value.code == -32602
    with pytest.raises(JsonRpcException) as err:
        await client.text_document_inline_completion_async(inline_params(uri, types.Position(0, 500)))
    assert err.value.code == -32602
    # Malformed params: the typed client refuses to send them, so write the raw message.
    bad: asyncio.Future = asyncio.get_running_loop().create_future()
    client.protocol._request_futures["bad-params"] = bad
    client.protocol._send_data({"jsonrpc": "2.0", "id": "bad-params", "method": types.TEXT_DOCUMENT_INLINE_COMPLETION,
                                "params": {"textDocument": 3, "position": "x"}})
    with pytest.raises(JsonRpcException):
        await asyncio.wait_for(bad, 30)
    with pytest.raises(JsonRpcException) as err:
        await asyncio.wait_for(client.protocol.send_request_async("mgd/noSuchMethod", {}), 30)
    assert err.value.code == -32601
    res = await asyncio.wait_for(
        client.text_document_inline_completion_async(inline_params(uri, position_of(text, len(text)))), 120
    )
    assert res.items and res.items[0].insert_text


async def test_a_request_waits_for_the_model_at_most_startup_timeout(tiny_model, demo_project) -> None:
    """While the model loads a request waits for it; ``startup_timeout_ms`` bounds that wait."""
    init = {**INIT, "startup_timeout_ms": 1}
    async with lsp_client(demo_project, "--model", str(tiny_model), init=init) as (client, _):
        path = demo_project / "report.py"
        text = path.read_text(encoding="utf-8")
        uri = open_doc(client, path, text)
        pos = position_of(text, text.index("total += c.") + len("total += c."))
        res = await asyncio.wait_for(client.text_document_inline_completion_async(inline_params(uri, pos)), 60)
        job = (await server_stats(client))["jobs"][-1]
        assert not res.items and job["stopped"] == "startup_timeout", job  # 1 ms: nothing loads that fast
