"""V1 runner + speculative decoding: vLLM drops the entry-point processor, so mgd refuses.

A plain ``LLM`` (no ``logits_processors`` argument: the entry point is what
``vllm serve`` would load) with n-gram speculative decoding on CPU. Requests
without mgd settings run; a request with them is refused with the reason
instead of running unconstrained. The engine runs in its own process: n-gram
speculation loads numba kernels that break the next in-process ``LLM``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

_SCRIPT = r'''
import json, os, sys
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
from vllm import LLM, SamplingParams
from vllm.exceptions import VLLMValidationError
model, workspace = sys.argv[1], sys.argv[2]
llm = LLM(model, dtype="float32", enforce_eager=True, max_model_len=2048, speculative_config={
    "method": "ngram", "num_speculative_tokens": 2, "prompt_lookup_max": 3, "prompt_lookup_min": 2})
out = {}
plain = llm.generate(["def area(r):\n    return r"], SamplingParams(max_tokens=3, temperature=0))
out["plain_tokens"] = len(plain[0].outputs[0].token_ids)
settings = {"mgd": {"workspace": workspace, "file": "report.py"}}
try:
    llm.generate(["def area(r):\n    return r."], SamplingParams(max_tokens=3, temperature=0, extra_args=settings))
    out["refused"] = None
except VLLMValidationError as exc:  # an HTTP 400 in the server
    out["refused"] = str(exc)
print("RESULT " + json.dumps(out), flush=True)
'''


def test_requests_with_mgd_settings_are_refused_under_v1_spec_decode(tiny_model, allowed_workspaces) -> None:
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(tiny_model), allowed_workspaces[1]],
                          capture_output=True, text=True, timeout=600, env=dict(os.environ))
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])
    assert out["plain_tokens"] > 0, "a request without mgd settings must still run"
    assert out["refused"] is not None, "a request with mgd settings ran unconstrained"
    assert "speculative decoding" in out["refused"] and "V2 model runner" in out["refused"]


def test_the_engine_config_is_found_only_inside_vllm() -> None:
    from mgd.vllm.common import calling_engine_config

    assert calling_engine_config() is None
