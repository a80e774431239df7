"""``mgd serve`` end to end: vLLM's OpenAI server on loopback with the mgd entry point.

Completions with ``vllm_xargs`` are constrained, completions without are not,
malformed settings and a workspace outside the operator's allow-list get HTTP 400,
/health answers, and SIGINT stops vLLM and the language servers it started. The
server runs with ``--fim off``: a request's ``suffix`` reaches the monitors only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from serving import cmdline, descendants, free_port, wait_healthy

pytestmark = pytest.mark.e2e

CIRCLE_MEMBERS = {"area", "radius", "circumference", "scaled"}


def post(url: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


@pytest.fixture(scope="module")
def server(tiny_model, demo_project):
    port = free_port()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "MGD_ALLOWED_WORKSPACES": ""}
    env["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # engine in the server process: starts in seconds
    cmd = [sys.executable, "-m", "mgd.cli", "serve", str(tiny_model), "--allow-workspace", str(demo_project),
           "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--enforce-eager",
           "--max-model-len", "2048", "--max-num-seqs", "8", "--fim", "off"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    wait_healthy(proc, base, 300)
    yield proc, base
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def completion(base: str, model: Path, prompt: str, xargs: dict | None) -> tuple[int, dict]:
    body = {"model": str(model), "prompt": prompt, "max_tokens": 6, "temperature": 0}
    if xargs is not None:
        body["vllm_xargs"] = xargs
    return post(base + "/v1/completions", body)


def test_bad_requests_get_400_and_the_server_keeps_working(server, tiny_model, demo_project) -> None:
    """Malformed settings (types, sizes, paths escaping the allow-list) and a prompt longer
    than the context: HTTP 400 each; a good request afterwards still completes."""
    _, base = server
    text = (demo_project / "report.py").read_text()
    at = text.index("total += c.") + len("total += c.")
    settings = {"workspace": str(demo_project), "file": "report.py", "suffix": text[at:], "wait_ms": 30000}
    bad = {
        "wait_ms text": {**settings, "wait_ms": "soon"},
        "monitors int": {**settings, "monitors": 5},
        "suffix int": {**settings, "suffix": 7},
        "file ..": {**settings, "file": "../../../etc/passwd"},
        "file absolute": {**settings, "file": "/etc/passwd"},
        "file name too long": {**settings, "file": "a" * 100_000},
        "workspace ..": {**settings, "workspace": str(demo_project / "..")},
        "workspace NUL": {**settings, "workspace": str(demo_project) + "\0"},
        "suffix too long": {**settings, "suffix": "x" * 2_000_001},
    }
    for name, body in bad.items():
        status, err = completion(base, tiny_model, text[:at], {"mgd": json.dumps(body)})
        assert status == 400, (name, status, err)
    status, err = completion(base, tiny_model, "x = 1\n" * 3000, {"mgd": json.dumps(settings)})
    assert status == 400, err  # longer than --max-model-len
    status, ok = completion(base, tiny_model, text[:at], {"mgd": json.dumps(settings)})
    assert status == 200 and ok["choices"][0]["text"], ok


def test_fim_off_prompts_left_to_right(server, tiny_model, demo_project) -> None:
    """``--fim off``: a ``suffix`` leaves the prompt as sent (vLLM would refuse the field);
    the monitors still get it, and a guided request stays guided."""
    from transformers import AutoTokenizer

    _, base = server
    tok = AutoTokenizer.from_pretrained(str(tiny_model))
    text = (demo_project / "report.py").read_text()
    at = text.index("total += c.") + len("total += c.")
    body = {"model": str(tiny_model), "prompt": text[:at], "suffix": text[at:], "max_tokens": 6, "temperature": 0}
    status, plain = post(base + "/v1/completions", body)
    assert status == 200, plain
    assert plain["usage"]["prompt_tokens"] == len(tok(text[:at])["input_ids"]), plain["usage"]
    settings = {"workspace": str(demo_project), "file": "report.py", "wait_ms": 30000}
    status, guided = post(base + "/v1/completions", {**body, "vllm_xargs": {"mgd": json.dumps(settings)}})
    assert status == 200, guided
    assert guided["usage"]["prompt_tokens"] == plain["usage"]["prompt_tokens"]
    assert guided["mgd"]["constrained_steps"] >= 1, guided["mgd"]
    name = guided["choices"][0]["text"].split("(")[0].split()[0]
    assert any(m.startswith(name) for m in CIRCLE_MEMBERS), guided["choices"][0]["text"]
    status, err = post(base + "/v1/completions", {**body, "suffix": 1})
    assert status == 400 and "suffix must be a string" in err["error"]["message"], err


def test_server_end_to_end(server, tiny_model, demo_project) -> None:
    proc, base = server
    text = (demo_project / "report.py").read_text()
    at = text.index("total += c.") + len("total += c.")
    prompt = text[:at]
    settings = {"workspace": str(demo_project), "file": "report.py", "suffix": text[at:], "wait_ms": 30000}

    status, guided = completion(base, tiny_model, prompt, {"mgd": json.dumps(settings)})
    assert status == 200, guided
    name = guided["choices"][0]["text"].split("(")[0].split()[0]
    assert any(m.startswith(name) for m in CIRCLE_MEMBERS), guided["choices"][0]["text"]  # may be cut at 6 tokens

    status, plain = completion(base, tiny_model, prompt, None)
    assert status == 200
    assert plain["choices"][0]["text"] != guided["choices"][0]["text"]  # untouched without mgd

    status, err = completion(base, tiny_model, prompt, {"mgd": json.dumps({**settings, "colour": "red"})})
    assert status == 400 and "unknown mgd setting" in json.dumps(err)
    status, err = completion(base, tiny_model, prompt, {"mgd": json.dumps({**settings, "workspace": "/tmp"})})
    assert status == 400 and "outside the allowed workspaces" in json.dumps(err)
    status, err = completion(base, tiny_model, prompt, {"mgd": "{not json"})
    assert status == 400

    servers = {p: c for p in descendants(proc.pid) if "jedi-language-server" in (c := cmdline(p))}
    assert servers, "no language server was started under mgd serve"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(90) is not None
    time.sleep(2)
    alive = [p for p in servers if Path(f"/proc/{p}").exists()
             and "Z" not in (Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0])]
    assert not alive, f"language servers still running after shutdown: {alive}"
