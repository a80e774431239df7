"""The remote engine: ``mgd lsp --remote URL`` against a real OpenAI-compatible HTTP server.

``mgd serve`` (vLLM) does not run in this venv, so the server is
``openai_server.py``: a separate process with the tiny model that streams
``/v1/completions``, parses ``vllm_xargs["mgd"]`` with the vLLM plugin's own
settings parser, answers ``/tokenize`` like vLLM and, like ``vllm serve
--api-key``, refuses requests without the bearer token. The tests check what
arrived (the FIM prompt of the template learned from ``/tokenize``, the document
prefix for the monitors, the Authorization header), that the identifier is legal,
that cancelling closes the stream, that a wrong key is a clear error and never
shown, and TLS with a private CA (a second server: https, a Qwen2.5-Coder
stand-in tokenizer behind its ``/tokenize``).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from lsp_bridge import ServerPool, preset
from mgd.config import EditorOptions
from mgd.editor.remote_engine import RemoteEngine
from mgd.evaluation.member_check import check_member_accesses
from monitors.errors import LspError
from monitors.languages import get_language

from .conftest import inline_params, lsp_client, open_doc, position_of, server_stats, wait_job
from .fim_tokenizers import save_standin

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

HERE = Path(__file__).resolve().parent
KEY = "sk-test-18-secret"
INIT = {"debounce_ms": 0, "latency_budget_ms": 60000, "wait_ms": 20000, "max_tokens_multi": 300,
        "max_lines": 300}


def start_server(*args: str):
    proc = subprocess.Popen([sys.executable, str(HERE / "openai_server.py"), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=HERE.parents[1])
    line = proc.stdout.readline()
    if not line.startswith("PORT "):
        proc.kill()
        raise AssertionError(f"test server did not start: {line!r}")
    return proc, int(line.split()[1])


def stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def http_server(tiny_model):
    proc, port = start_server(str(tiny_model), "--api-key", KEY)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def tls_server(tiny_model, tmp_path_factory):
    """https with a self-signed certificate for 127.0.0.1, /tokenize from a Qwen2.5-Coder stand-in."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True)
    qwen = save_standin("qwen", d / "qwen-tokenizer")
    proc, port = start_server(str(tiny_model), "--tokenizer", str(qwen), "--tls", str(cert), str(key))
    try:
        yield f"https://127.0.0.1:{port}", cert
    finally:
        stop(proc)


def remote_stats(url: str, cafile: Path | None = None) -> list[dict]:
    context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    with urllib.request.urlopen(f"{url}/stats", timeout=10, context=context) as r:
        return json.loads(r.read())["requests"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def remote(http_server, demo_project):
    """``mgd lsp --remote`` with the API key in its environment."""
    async with lsp_client(demo_project, "--remote", http_server, init=INIT, env={"MGD_REMOTE_API_KEY": KEY}) as (c, _):
        yield c, http_server


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
    assert got["auth"] == "bearer"  # the key from $MGD_REMOTE_API_KEY
    # The template was learned from the server's /tokenize: the tiny model is StarCoder-shaped,
    # and auto takes the family's SPM layout (the prompt ends with the prefix as typed).
    assert got["prompt"].startswith("<fim_prefix><fim_suffix>") and got["prompt"].endswith(text[-200:])
    assert got["stop"][0] == "\n"
    engine = (await server_stats(client))["engine"]
    assert engine["fim_template"] == "starcoder-spm" and engine["fim_source"] == "the server's /tokenize"
    assert engine["api_key"] is True and KEY not in json.dumps(await server_stats(client))
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


async def test_a_wrong_key_is_a_clear_error_and_never_shown(http_server, demo_project, tmp_path) -> None:
    log = tmp_path / "lsp.log"
    init = {**INIT, "remote_api_key": "sk-wrong-key-18"}
    async with lsp_client(demo_project, "--remote", http_server, "--log-file", str(log), "--no-monitors",
                          init=init) as (client, _):
        path = demo_project / "report.py"
        text = path.read_text(encoding="utf-8")
        uri = open_doc(client, path, text)
        with pytest.raises(JsonRpcException) as err:
            await asyncio.wait_for(
                client.text_document_inline_completion_async(inline_params(uri, position_of(text, len(text)))), 120)
        assert "401" in err.value.message and "unauthorized" in err.value.message
        stats = await server_stats(client)
        assert stats["options"]["remote_api_key"] == "<redacted>"
        assert "sk-wrong-key-18" not in json.dumps(stats) and "sk-wrong-key-18" not in err.value.message
    assert remote_stats(http_server)[-1]["ended"] == "unauthorized"
    assert "sk-wrong-key-18" not in log.read_text(encoding="utf-8")


async def test_tls_needs_the_private_ca(tls_server) -> None:
    url, cert = tls_server
    engine = RemoteEngine(EditorOptions(remote_url=url))
    try:
        with pytest.raises(LspError, match="CERTIFICATE_VERIFY_FAILED"):
            engine.model_name()
    finally:
        engine.close()
    engine = RemoteEngine(EditorOptions(remote_url=url, remote_ca_file=str(cert)))
    try:
        assert engine.model_name() == "tinycode"
    finally:
        engine.close()


async def test_template_learned_from_the_served_tokenizer(tls_server, demo_project) -> None:
    """A server whose tokenizer has Qwen2.5-Coder's FIM tokens gets Qwen's layout (over https, private CA)."""
    url, cert = tls_server
    async with lsp_client(demo_project, "--remote", url, "--remote-ca-file", str(cert), init=INIT) as (client, _):
        path = demo_project / "report.py"
        text = path.read_text(encoding="utf-8") + "\n\ndef rim(c: Circle) -> float:\n    return c."
        uri = open_doc(client, path, text)
        await asyncio.wait_for(
            client.text_document_inline_completion_async(inline_params(uri, position_of(text, len(text)))), 120)
        engine = (await server_stats(client))["engine"]
        assert engine["fim_template"] == "qwen" and engine["fim_source"] == "the server's /tokenize"
        assert engine["api_key"] is False
    got = remote_stats(url, cert)[-1]
    assert got["prompt"].startswith("<|fim_prefix|>") and got["prompt"].endswith("<|fim_middle|>")
    assert "<|fim_suffix|>" in got["prompt"] and got["auth"] == "none"
    assert "<|fim_pad|>" in got["stop"]  # the family's stop markers go with the request
