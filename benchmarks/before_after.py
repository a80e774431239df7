"""Run one benchmark on an earlier commit and on the working tree, alternately, in one run.

    .venv/bin/python benchmarks/before_after.py --ref d8e49db --rounds 2 e2e -- --packages 2 --per-package 5

For a refactoring that must leave behaviour and speed unchanged: the benchmark
script of each tree runs in that tree (``git worktree`` of ``--ref`` under
``benchmarks/.cache``), with that tree's packages first on ``PYTHONPATH``,
``--rounds`` times each, alternating (before, after, before, after, ...) so both
see the same machine load. Each run's result file is kept; the summary pairs the
results of both trees are written to ``benchmarks/results/before_after/<benchmark>.json``
(each tree's own result file is left as it was).

Installed entry points name the working tree's modules (``mgd.vllm.plugin``); for
the older tree a shim package on its path maps the vLLM entry point to that tree's
own processor (see :func:`_shim`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import CACHE, ROOT, write_result

#: Where each benchmark writes its result, relative to its tree (``speculative`` takes ``--out``).
OUTPUTS = {
    "e2e": "benchmarks/results/e2e.json",
    "monitor_suite": "benchmarks/results/monitor_suite.json",
    "vllm_throughput": "benchmarks/results/vllm_throughput.json",
    "editor_latency": "benchmarks/results/editor_latency.json",
    "speculative": "benchmarks/results/speculative.json",
    "monitor_overhead": "benchmarks/results/monitor_overhead.json",
    #: takes ``--out benchmarks/results/default_speed_python.json`` (the path each tree writes).
    "default_speed": "benchmarks/results/default_speed_python.json",
}
#: The entry point module of the older tree's vLLM processor.
OLD_PLUGIN = "monitors.vllm.plugin"


def _worktree(ref: str) -> Path:
    sha = subprocess.run(["git", "rev-parse", "--short", ref], cwd=ROOT, check=True, capture_output=True,
                         text=True).stdout.strip()
    path = CACHE / f"ref-{sha}"
    if not (path / ".git").exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "worktree", "add", "--detach", str(path), sha], cwd=ROOT, check=True)
    return path


def _shim(tree: Path) -> Path:
    """A package ``mgd.vllm.plugin`` re-exporting the old tree's processor (the installed
    ``vllm.logits_processors`` entry point names ``mgd.vllm.plugin``)."""
    shim = tree / ".shim"
    plugin = shim / "mgd" / "vllm"
    plugin.mkdir(parents=True, exist_ok=True)
    (shim / "mgd" / "__init__.py").write_text("")
    (plugin / "__init__.py").write_text("")
    (plugin / "plugin.py").write_text(f"from {OLD_PLUGIN} import MgdLogitsProcessor  # noqa: F401\n")
    return shim


def _run(tree: Path, bench: str, args: list[str], python: str, shim: Path | None) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tree), *([str(shim)] if shim else []), env.get("PYTHONPATH", "")])
    out = tree / OUTPUTS[bench]
    kept = out.read_bytes() if out.exists() else None  # the tree's committed result stays as it was
    out.unlink(missing_ok=True)
    t0 = time.perf_counter()
    try:
        subprocess.run([python, str(tree / "benchmarks" / f"{bench}.py"), *args], cwd=tree, env=env, check=True)
        result = json.loads(out.read_text())
    finally:
        if kept is not None:
            out.write_bytes(kept)
        else:
            out.unlink(missing_ok=True)
    result["_wall_s"] = round(time.perf_counter() - t0, 1)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ref", required=True, help="the earlier commit (before)")
    ap.add_argument("--rounds", type=int, default=1, help="runs per tree, alternating")
    ap.add_argument("--python", default=sys.executable, help="interpreter (the vLLM venv for vllm_throughput)")
    ap.add_argument("bench", choices=sorted(OUTPUTS))
    ap.add_argument("args", nargs=argparse.REMAINDER, help="-- then the benchmark's own arguments")
    a = ap.parse_args()
    args = a.args[1:] if a.args[:1] == ["--"] else a.args
    old = _worktree(a.ref)
    shim = _shim(old)
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    for r in range(a.rounds):
        for label, tree, sh in (("before", old, shim), ("after", ROOT, None)):
            print(f"-- round {r + 1}/{a.rounds}: {label} ({tree})", flush=True)
            runs[label].append(_run(tree, a.bench, args, a.python, sh))
    path = write_result(f"before_after/{a.bench}", {
        "benchmark": a.bench, "ref": a.ref, "rounds": a.rounds, "args": args,
        "before": runs["before"], "after": runs["after"],
    })
    print(f"-> {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
