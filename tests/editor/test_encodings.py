"""Positions in the negotiated encoding, end to end: clients that offer UTF-8, UTF-16, UTF-32.

One ``mgd lsp`` per encoding (pygls's LanguageClient, the tiny model, jedi). The
line before the cursor has text outside ASCII and outside the BMP
(``"📦 Größe → Ziel: "``), so the three encodings count its columns differently.
Both request kinds, in both orders and twice at one place, must complete right
after the dot; the classic completion's replace range and the
``selectedCompletionInfo`` range are in the client's units.
"""

from __future__ import annotations

import asyncio

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from lsp_bridge import ServerPool, preset
from lsp_bridge.positions import offset_to_position, unit_len
from mgd.evaluation.member_check import check_member_accesses
from monitors.languages import get_language

from .conftest import inline_params, lsp_client, open_doc, server_stats

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

INIT = {"debounce_ms": 0, "latency_budget_ms": 120000, "wait_ms": 60000, "server": "jedi",
        "max_tokens_single": 10}
LINE = '    tag = "📦 Größe → Ziel: "; return tag + c.'
ADDED = "\n\ndef label(c: Circle) -> str:\n" + LINE


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["utf-8", "utf-16", "utf-32"])
async def session(request, tiny_model, demo_project):
    encoding = request.param
    async with lsp_client(demo_project, "--model", str(tiny_model), init=INIT, encodings=[encoding]) as (client, init):
        assert init.capabilities.position_encoding == encoding  # negotiated what the client offered
        path = demo_project / "report.py"
        text = path.read_text(encoding="utf-8") + ADDED
        uri = open_doc(client, path, text)
        yield client, encoding, uri, path, text


async def inline(client, uri, pos, context=None):
    params = inline_params(uri, pos)
    if context is not None:
        params.context = context
    return await asyncio.wait_for(client.text_document_inline_completion_async(params), 240)


async def classic(client, uri, pos):
    return await asyncio.wait_for(
        client.text_document_completion_async(types.CompletionParams(types.TextDocumentIdentifier(uri), pos)), 240)


async def legal(path, prefix, completion) -> bool:
    async with ServerPool() as pool:
        checks = await check_member_accesses(pool, preset("jedi"), get_language("python"), path.parent, path,
                                             prefix, completion, "", open_end=True, timeout=60)
    return bool(checks) and checks[0].dot == -1 and bool(checks[0].legal)


async def test_both_kinds_in_any_order_after_non_ascii_text(session) -> None:
    client, encoding, uri, path, text = session
    pos = offset_to_position(text, len(text), encoding)
    assert pos.character == unit_len(LINE, encoding)
    answers = []
    for kind in ("inline", "completion", "completion", "inline"):  # completion after inline, and each twice
        if kind == "inline":
            res = await inline(client, uri, pos)
            assert len(res.items) == 1 and res.items[0].range == types.Range(pos, pos)
            answers.append(res.items[0].insert_text)
        else:
            res = await classic(client, uri, pos)
            assert len(res.items) == 1
            edit = res.items[0].text_edit
            assert edit.range == types.Range(pos, pos)  # nothing typed after the dot: insert at the cursor
            answers.append(edit.new_text)
    jobs = (await server_stats(client))["jobs"][-4:]
    assert all(j["stopped"] != "budget" and j["stats"]["triggers"] >= 1 for j in jobs), jobs
    assert all(a and a == answers[0] for a in answers), answers  # greedy: the same text every time
    assert await legal(path, text, answers[0]), answers[0]


async def test_replace_range_of_a_typed_word_is_in_client_units(session) -> None:
    client, encoding, uri, path, text = session
    end = offset_to_position(text, len(text), encoding)
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        [types.TextDocumentContentChangePartial(range=types.Range(end, end), text="ra")]))
    typed = text + "ra"
    pos = offset_to_position(typed, len(typed), encoding)
    res = await classic(client, uri, pos)
    assert len(res.items) == 1
    edit = res.items[0].text_edit
    assert edit.range == types.Range(end, pos) and edit.new_text.startswith("ra")  # replaces the typed word
    assert await legal(path, text, edit.new_text), edit.new_text
    # The item the user is choosing in the menu (selectedCompletionInfo): the answer continues it.
    word = types.Range(end, pos)
    ctx = types.InlineCompletionContext(
        trigger_kind=types.InlineCompletionTriggerKind.Automatic,
        selected_completion_info=types.SelectedCompletionInfo(range=word, text="radius"))
    res = await inline(client, uri, pos, ctx)
    assert len(res.items) == 1
    item = res.items[0]
    assert item.range == word and item.insert_text.startswith("radius"), item
    job = (await server_stats(client))["jobs"][-1]
    assert job["stopped"] != "budget"
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri=uri, version=3),
        [types.TextDocumentContentChangePartial(range=types.Range(end, pos), text="")]))


async def test_positions_past_the_line_end_in_client_units_are_refused(session) -> None:
    client, encoding, uri, _path, text = session
    pos = offset_to_position(text, len(text), encoding)
    with pytest.raises(JsonRpcException) as err:
        await inline(client, uri, types.Position(pos.line, pos.character + 1))
    assert err.value.code == -32602
