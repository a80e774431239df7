"""A broken mgd must never stop vLLM: the entry point goes inert, logs once, refuses mgd requests.

The import is broken on purpose: a ``sitecustomize`` in a temporary directory
(first on ``PYTHONPATH``) installs an import hook that makes one mgd module
raise ``ImportError``. vLLM (offline ``LLM``, in a subprocess, the installed
entry point) must start, serve a request without ``mgd`` settings, refuse one
with them naming the reason, and log the reason once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]

BLOCKER = '''
import importlib.abc, os, sys

class _Broken(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == os.environ["MGD_TEST_BREAK_MODULE"]:
            raise ImportError(f"{name} broken on purpose by the test")
        return None

sys.meta_path.insert(0, _Broken())
'''

SCRIPT = '''
import json, sys
from vllm import LLM, SamplingParams
model, workspace = sys.argv[1], sys.argv[2]
llm = LLM(model=model, dtype="float32", enforce_eager=True, max_model_len=512)
plain = llm.generate(["def area(c):\\n    return c."], SamplingParams(max_tokens=4, temperature=0), use_tqdm=False)
try:
    llm.generate(["def area(c):\\n    return c."],
                 SamplingParams(max_tokens=4, extra_args={"mgd": {"workspace": workspace, "file": "report.py"}}),
                 use_tqdm=False)
    refused = ""
except Exception as exc:
    refused = f"{type(exc).__name__}: {exc}"
print("RESULT " + json.dumps({"plain": plain[0].outputs[0].text, "refused": refused}))
'''


@pytest.mark.parametrize("module", ["mgd.vllm.common", "mgd.vllm.v1"])
def test_broken_mgd_leaves_vllm_running(tmp_path: Path, tiny_model: Path, demo_project: Path, module: str) -> None:
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
           "MGD_TEST_BREAK_MODULE": module, "MGD_ALLOWED_WORKSPACES": str(demo_project),
           "VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": "1"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tiny_model), str(demo_project)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    assert result["plain"], result  # vLLM started and served a request without mgd settings
    assert "mgd is not available" in result["refused"] and "broken on purpose" in result["refused"], result
    assert proc.stderr.count("the mgd logits processor is inert") == 1, proc.stderr[-3000:]


def test_plugin_imports_without_mgd_when_blocked(tmp_path: Path) -> None:
    """The entry-point module itself imports (vLLM's loader would raise otherwise)."""
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
           "MGD_TEST_BREAK_MODULE": "mgd.config"}
    code = ("import mgd.vllm.plugin as p, vllm.v1.sample.logits_processor as v1;"
            "inst = p.MgdLogitsProcessor(None, 'cpu', False);"
            "print(p.load_problem()); print(type(inst).__name__, isinstance(inst, v1.LogitsProcessor))")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    problem, kind = proc.stdout.strip().splitlines()[-2:]
    assert "mgd.config broken on purpose" in problem
    assert kind == "_InertV1 True"


def test_plugin_without_the_v1_interface_serves_mrv2(tmp_path: Path) -> None:
    """vLLM 0.34 has no V1 runner (``vllm.v1.sample.logits_processor`` is gone, see
    mgd.vllm.compat.DIFFERENCES): the entry point must still load, for MRV2 only."""
    (tmp_path / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)]),
           "MGD_TEST_BREAK_MODULE": "vllm.v1.sample.logits_processor"}
    code = ("import mgd.vllm.plugin as p;"
            "from vllm.v1.worker.gpu.sample.logits_processor import LogitsProcessor as V2;"
            "from vllm.v1.worker.gpu.sample.logits_processor.loader import _load_v2_logitsprocs_plugins as load;"
            "print(p.load_problem(), [b.__module__ for b in p.MgdLogitsProcessor.__bases__],"
            " p.MgdLogitsProcessor in load())")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split("\n")[-2] == "None ['vllm.v1.worker.gpu.sample.logits_processor.interface'] True"
