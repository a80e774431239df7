"""V1 runner + speculative decoding: vLLM does not run logits processors there, so mgd refuses at start-up.

On CPU vLLM resolves to the V1 runner; with n-gram speculation it drops an
entry-point processor silently and refuses an explicitly registered one. mgd's
own start paths register mgd explicitly and read vLLM's resolved configuration:
the offline engine (``mgd generate --engine vllm``) refuses with an error that
names the method and the way out; a plain ``LLM`` with mgd registered explicitly
does not start. Each engine runs in its own process: n-gram speculation loads
numba kernels that break the next in-process ``LLM``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

_SCRIPT = r'''
import json, os, sys
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
mode, model = sys.argv[1], sys.argv[2]
spec = {"method": "ngram", "num_speculative_tokens": 2, "prompt_lookup_max": 3, "prompt_lookup_min": 2}
try:
    if mode == "offline":
        from mgd.config import SessionConfig
        from mgd.vllm.offline import VllmGenerator
        VllmGenerator(model, config=SessionConfig(server="jedi"), speculative_config=spec)
    else:
        from vllm import LLM
        LLM(model, dtype="float32", enforce_eager=True, max_model_len=2048, speculative_config=spec,
            logits_processors=["mgd.vllm.plugin:MgdExplicitProcessor"])
    out = {"refused": None}
except Exception as exc:
    out = {"refused": f"{type(exc).__name__}: {exc}"}
print("RESULT " + json.dumps(out), flush=True)
'''


def _start(mode: str, model) -> str | None:
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, mode, str(model)], capture_output=True, text=True,
                          timeout=600, env=dict(os.environ))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])["refused"]


def test_offline_engine_refuses_v1_speculation_naming_the_method(tiny_model, allowed_workspaces) -> None:
    refused = _start("offline", tiny_model)
    assert refused is not None, "the offline engine started: its requests would run unconstrained"
    assert refused.startswith("ConfigError") and "speculative decoding" in refused, refused
    assert "'ngram'" in refused and "Way out" in refused and "Model Runner V2" in refused


def test_explicit_registration_is_refused_by_vllm_under_v1_speculation(tiny_model, allowed_workspaces) -> None:
    refused = _start("explicit", tiny_model)
    assert refused is not None and "speculative decoding" in refused, refused


@pytest.mark.parametrize("mode", ["0", "false"])
def test_mgd_serve_refuses_forced_v1_speculation(monkeypatch, mode: str) -> None:
    from mgd.cli.commands.serve import build_command, split_own_args
    from mgd.cli.main import build_parser
    from monitors.errors import ConfigError

    monkeypatch.setenv("VLLM_USE_V2_MODEL_RUNNER", mode)
    args = build_parser().parse_args(["serve", "M", "--speculative-config", json.dumps({"method": "suffix"})])
    with pytest.raises(ConfigError, match="'suffix'"):
        build_command(args, split_own_args(args))
