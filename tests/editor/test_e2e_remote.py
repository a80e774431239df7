"""The remote engine: ``mgd lsp --remote URL`` against a real OpenAI-compatible HTTP server.

``mgd serve`` (vLLM) does not run in this venv, so the server is
``openai_server.py``: a separate process with the tiny model that streams
``/v1/completions`` and parses ``vllm_xargs["mgd"]`` with the vLLM plugin's own
settings parser. The test checks what arrived (FIM prompt, document prefix for the
monitors), that the identifier is legal, and that cancelling closes the stream.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from lsp_bridge import ServerPool, preset
from lsp_bridge.check import check_member_accesses
from monitors.languages import get_language

from .conftest import inline_params, lsp_client, open_doc, position_of, wait_job

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def http_server(tiny_model):
    proc = subprocess.Popen([sys.executable, str(HERE / "openai_server.py"), str(tiny_model)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=HERE.parents[1])
    try:
        line = proc.stdout.readline()
        assert line.startswith("PORT "), f"test server did not start: {line!r}"
        yield f"http://127.0.0.1:{int(line.split()[1])}"
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def remote_stats(url: str) -> list[dict]:
    with urllib.request.urlopen(f"{url}/stats", timeout=10) as r:
        return json.loads(r.read())["requests"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def remote(http_server, demo_project):
    init = {"debounce_ms": 0, "latency_budget_ms": 60000, "lookup_wait_ms": 20000, "max_tokens_multi": 300,
            "max_lines": 300}
    async with lsp_client(demo_project, "--remote", http_server, init=init) as (client, _):
        yield client, http_server


async def test_remote_completion_is_legal_and_carries_the_settings(remote, demo_project) -> None:
    client, url = remote
    path = demo_project / "report.py"
    text = path.read_text(encoding="utf-8") + "\n\ndef rim(c: Circle) -> float:\n    return c."
    uri = open_doc(client, path, text)
    res = await asyncio.wait_for(
        client.text_document_inline_completion_async(inline_params(uri, position_of(text, len(text)))), 120
    )
    assert res.items, "no completion"
    completion = res.items[0].insert_text
    async with ServerPool() as pool:
        checks = await check_member_accesses(pool, preset("jedi"), get_language("python"), demo_project, path,
                                             text, completion, "", open_end=True, timeout=60)
    assert checks and checks[0].legal, (completion, checks)
    got = remote_stats(url)[-1]
    assert got["prompt"].startswith("<fim_prefix>") and got["prompt"].endswith("<fim_middle>")
    assert got["stop"] == ["\n"]
    assert got["mgd"]["prefix"] == text  # the monitors see the document, not the FIM string
    assert got["mgd"]["file"] == str(path) and got["mgd"]["workspace"] == str(demo_project)
    assert got["guide"]["triggers"] >= 1 and got["guide"]["constrained_steps"] >= 1


async def test_remote_cancel_closes_the_stream(remote, demo_project) -> None:
    client, url = remote
    path = demo_project / "report.py"
    text = path.read_text(encoding="utf-8") + "\n\nclass Totals:\n    def all(self):\n        "
    uri = open_doc(client, path, text, version=10)
    before = len(remote_stats(url))
    fut = client.protocol.send_request_async(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, position_of(text, len(text))), msg_id="remote-1"
    )
    for _ in range(400):
        reqs = remote_stats(url)
        if len(reqs) > before and reqs[-1]["tokens"] >= 2:
            break
        await asyncio.sleep(0.05)
    assert reqs[-1]["ended"] is None, f"finished before the cancel: {reqs[-1]}"
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="remote-1"))
    with pytest.raises(JsonRpcException):
        await asyncio.wait_for(fut, 60)
    job = await wait_job(client, lambda j: j["uri"] == uri)
    assert job["stopped"] == "cancelled"
    for _ in range(200):  # the server notices the closed connection at its next write
        if remote_stats(url)[-1]["ended"] is not None:
            break
        await asyncio.sleep(0.05)
    last = remote_stats(url)[-1]
    assert last["ended"] == "disconnected" and last["tokens"] < 300, last
