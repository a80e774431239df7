"""Tokens/s of two bench configurations, paired case by case in one run (issue 20).

Each case is generated once per configuration, one right after the other (the order
alternates between cases), with the same model, servers and settings as
``mgd bench run`` (``--configs`` names, greedy). A case's speed is its tokens over its
wall time; the report gives each configuration's pooled tokens/s, the ratio, and the
paired bootstrap 95% CI of the per-case ratio's mean (cases resampled). Run it on a quiet
machine: the ratio is what it measures, both sides see the same noise. The session's
request cache is cleared before each generation, so neither side reuses the other's
answers (the language server's own caches stay warm for both).

Usage::

    python benchmarks/default_speed.py --cases benchmarks/cases/dev/python-cases.jsonl \\
        --workspace-root benchmarks/.cache --configs mgd+heal,default --limit 60 \\
        --out benchmarks/results/default_speed_python.json

A warm-up pass (the first ``--warmup`` cases, both configurations) starts the servers
and is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from mgd.engines.generate import HFGenerator
from mgd.evaluation.runner import RunSettings, generate_options, load_bench_cases, parse_configs, with_monitors
from mgd.session import SessionConfig


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", type=Path, required=True)
    ap.add_argument("--workspace-root", type=Path, default=None)
    ap.add_argument("--configs", default="mgd+heal,default", help="two configurations: reference,candidate")
    ap.add_argument("--model", default=os.environ.get("MGD_MODEL", "../shared/models/tinycode-27m"))
    ap.add_argument("--limit", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--max-new-tokens", type=int, default=40)
    ap.add_argument("--max-prompt-tokens", type=int, default=512)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    ref, cand = parse_configs(args.configs)
    cases = load_bench_cases(args.cases, args.limit + args.warmup, args.workspace_root)
    settings = RunSettings(max_new_tokens=args.max_new_tokens, max_prompt_tokens=args.max_prompt_tokens, batch_size=1)
    gen = HFGenerator(args.model, config=SessionConfig(wait_ms=30_000))
    rows: list[dict[str, float | str]] = []
    try:
        for k, case in enumerate(cases):
            measured: dict[str, tuple[int, float, float]] = {}
            order = (ref, cand) if k % 2 == 0 else (cand, ref)
            for cfg in order:
                c = with_monitors(cfg, case)
                opts = generate_options(cfg, settings, 0, str(case.extra["language"]))
                gen.session.request_cache.clear()  # neither side reuses the other's answers
                t0 = time.perf_counter()
                res = gen.run_cases([c], opts)[0]
                dt = time.perf_counter() - t0
                if res.error:
                    print(f"{case.id}: {cfg.name}: {res.error}", file=sys.stderr)
                measured[cfg.name] = (res.tokens, dt, float(res.stats.get("lsp_ms", 0.0)))
            if k < args.warmup:
                continue
            (tr, sr, wr), (tc, sc, wc) = measured[ref.name], measured[cand.name]
            rows.append({"case": case.id, "ref_tokens": tr, "ref_s": sr, "cand_tokens": tc, "cand_s": sc,
                         "ref_waited_ms": round(wr, 1), "cand_waited_ms": round(wc, 1)})
            print(f"{len(rows)}/{args.limit} {case.id}: {tr / sr:.1f} vs {tc / sc:.1f} tok/s", file=sys.stderr)
    finally:
        gen.close()
    ref_tps = sum(r["ref_tokens"] for r in rows) / sum(r["ref_s"] for r in rows)
    cand_tps = sum(r["cand_tokens"] for r in rows) / sum(r["cand_s"] for r in rows)
    per_case = np.array([(r["cand_tokens"] / r["cand_s"]) / (r["ref_tokens"] / r["ref_s"])
                         for r in rows if r["ref_tokens"] and r["cand_tokens"]])
    rng = np.random.default_rng(0)
    boots = per_case[rng.integers(0, len(per_case), size=(10_000, len(per_case)))].mean(axis=1)
    lo, hi = np.quantile(boots, [0.025, 0.975])
    out = {
        "command": "python " + " ".join(sys.argv),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "reference": ref.name,
        "candidate": cand.name,
        "cases": len(rows),
        "tokens_per_s": {ref.name: round(ref_tps, 2), cand.name: round(cand_tps, 2)},
        "ratio_pooled": round(cand_tps / ref_tps, 3),
        "ratio_per_case_mean": round(float(per_case.mean()), 3),
        "ratio_per_case_ci95": [round(float(lo), 3), round(float(hi), 3)],
        # Decoding time spent waiting for language servers (the guides' lsp_ms), and the rest.
        "waited_s": {ref.name: round(sum(r["ref_waited_ms"] for r in rows) / 1000, 2),
                     cand.name: round(sum(r["cand_waited_ms"] for r in rows) / 1000, 2)},
        "total_s": {ref.name: round(sum(r["ref_s"] for r in rows), 2), cand.name: round(sum(r["cand_s"] for r in rows), 2)},
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in out.items() if k != "rows"}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
