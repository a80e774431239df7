"""``mgd lsp --remote`` against a real ``mgd serve`` (vLLM's OpenAI server) started with ``--api-key``.

The editor server's remote engine (httpx) sends the key from ``$MGD_REMOTE_API_KEY``
as a bearer token, learns the FIM template from vLLM's ``/tokenize`` (the tiny model
is StarCoder-shaped) and streams ``/v1/completions`` with the mgd settings; the
monitors run in vLLM's logits processor. A client with a wrong key gets a clear
401 error that never shows the key.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_asyncio
from pygls.exceptions import JsonRpcException
from serving import free_port, wait_healthy

from lsp_bridge import ServerPool, preset
from mgd.evaluation.member_check import check_member_accesses
from monitors.languages import get_language

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: tests.editor's client
from tests.editor.conftest import inline_params, lsp_client, open_doc, position_of, server_stats  # noqa: E402

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

KEY = "sk-vllm-test-18"
INIT = {"debounce_ms": 0, "latency_budget_ms": 120000, "wait_ms": 60000, "max_tokens_single": 10}


@pytest.fixture(scope="module")
def served(tiny_model, demo_project):
    port = free_port()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
           "MGD_ALLOWED_WORKSPACES": ""}
    cmd = [sys.executable, "-m", "mgd.cli", "serve", str(tiny_model), "--allow-workspace", str(demo_project),
           "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--enforce-eager",
           "--max-model-len", "2048", "--max-num-seqs", "4", "--api-key", KEY]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    wait_healthy(proc, base, 300)
    yield base
    proc.kill()
    proc.wait()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def doc(demo_project):
    path = demo_project / "report.py"
    text = path.read_text(encoding="utf-8") + "\n\ndef rim(c: Circle) -> float:\n    return c."
    return path, text


async def test_remote_engine_with_the_api_key(served, demo_project, doc) -> None:
    path, text = doc
    async with lsp_client(demo_project, "--remote", served, init=INIT, env={"MGD_REMOTE_API_KEY": KEY}) as (client, _):
        uri = open_doc(client, path, text)
        res = await asyncio.wait_for(
            client.text_document_inline_completion_async(inline_params(uri, position_of(text, len(text)))), 300)
        assert res.items and res.items[0].insert_text, (await server_stats(client))["jobs"][-1]
        completion = res.items[0].insert_text
        stats = await server_stats(client)
    engine = stats["engine"]
    # StarCoder's markers, and auto takes the family's SPM layout (mgd.engines.fim.PREFERRED)
    assert engine["fim_template"] == "starcoder-spm" and engine["fim_source"] == "the server's /tokenize"
    assert engine["api_key"] is True and KEY not in json.dumps(stats)
    async with ServerPool() as pool:
        checks = await check_member_accesses(pool, preset("jedi"), get_language("python"), demo_project, path,
                                             text, completion, "", open_end=True, timeout=60)
    assert checks and checks[0].legal, (completion, checks)


async def test_a_wrong_key_is_refused_clearly(served, demo_project, doc) -> None:
    path, text = doc
    init = {**INIT, "remote_api_key": "sk-wrong"}
    async with lsp_client(demo_project, "--remote", served, init=init) as (client, _):
        uri = open_doc(client, path, text)
        with pytest.raises(JsonRpcException) as err:
            await asyncio.wait_for(
                client.text_document_inline_completion_async(inline_params(uri, position_of(text, len(text)))), 120)
    assert "401" in err.value.message and "unauthorized" in err.value.message and "sk-wrong" not in err.value.message
