"""The monitor suite: per-monitor triggers and rule violations, and the cost of joint monitoring.

    .venv/bin/python benchmarks/monitor_suite.py [--model PATH] [--max-new-tokens 32] [--repeats 1] [--no-replay]

Prompts: short Python (jedi), TypeScript and Go (gopls) files in the test fixtures,
each ending at a place where one of the suite's monitors applies (a call, ``new``,
an import path, a keyword argument, a ``case`` in a switch on an enum). Each prompt runs, back to back in one process, three
ways: plain (no monitors), ``dereference`` alone, and ``all`` monitors of its
language (joint monitoring). Reported:

- per monitor: rule violations in the plain and in the joint output, judged
  **independently of the monitors** (:mod:`mgd.evaluation.judge`): the sites where
  a rule applies are found by syntax, and the language's checker (pyright, tsc,
  go build) run on prompt + completion says which break the rule; a site the text
  ends inside (a cut name, a call never closed) is counted as *unjudged*. Every
  site, its verdict and the checker's messages are recorded;
- for comparison, the monitors' own view: both outputs replayed through a fresh
  observing guide per monitor (same real server, nothing masked; "triggers",
  "violations", "failed_lookups" as the monitor counts them — a trigger whose
  lookup failed is never judged there);
- tokens/s of each configuration, and the ratio joint / dereference-only (each
  timed generation starts with an empty request cache; ``--repeats`` runs each
  configuration several times per prompt in rotated order, against drift);
- per generation, for dereference-only and joint: LSP requests sent per kind
  (``completion``, ``import`` listings, ``signature`` help), requests shared
  (answered by an identical one), and the milliseconds decoding waited for them.

JSON: ``benchmarks/results/monitor_suite.json``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import ROOT, default_model, write_result

from mgd.engines.generate import GenerateOptions, HFGenerator, Prompt
from mgd.evaluation.judge import judge_file
from mgd.session import SessionConfig
from monitors.languages import language_for_path
from monitors.registry import applicable_monitors

FIX = ROOT / "tests" / "fixtures"
PY, TS, GO = FIX / "pyproj", FIX / "ts_project", FIX / "go_sites"

_BOX = "def box(width, height, depth=1):\n    return width * height * depth\n\n\n"
_AREA = "def area(width, height):\n    return width * height\n\n\n"
_SHAPES = "from geometry.shapes import Circle, Square\n\n\n"
_VEH = 'import { Vehicle } from "./vehicle";\n\n'
_GOWEEK = ("package levels\n\nfunc Short(d Weekday) string {\n\tswitch d {\n"
           "\tcase WeekdayMonday:\n\t\treturn \"Mon\"\n\tcase")
_TSCOLOR = ('export enum Color {\n  Red = "red",\n  Blue = "blue",\n}\n\nexport function hex(c: Color): string {\n'
            '  switch (c) {\n    case Color.Red:\n      return "#ff0000";\n    case')
_TSAREA = "function area(width: number, height: number): number {\n  return width * height;\n}\n\n"

PROMPTS: list[tuple[str, Path, str, str]] = [
    ("py-area-call", PY, "bench_a.py", _AREA + "print(area("),
    ("py-box-call", PY, "bench_b.py", _BOX + "b = box("),
    ("py-box-kw", PY, "bench_c.py", _BOX + "b = box(1, "),
    ("py-circle", PY, "bench_d.py", _SHAPES + "def main():\n    c = Circle("),
    ("py-square-method", PY, "bench_e.py", _SHAPES + "def main():\n    s = Square(2.0)\n    return s.rotate("),
    ("py-from-import", PY, "bench_f.py", "import os\nfrom geometry.shapes import Circle\nfrom geometry."),
    ("py-import-names", PY, "bench_g.py", "from geometry.shapes import "),
    ("py-mixed", PY, "bench_h.py", _SHAPES + _BOX + "def main():\n    c = Circle(2.0)\n    return box("),
    ("ts-new", TS, "src/bench_new.ts", _VEH + "export function make(): Vehicle {\n  const v = new "),
    ("ts-area-call", TS, "src/bench_area.ts", _TSAREA + "console.log(area("),
    ("ts-new-args", TS, "src/bench_args.ts", _VEH + "export function make(): Vehicle {\n  return new Vehicle("),
    ("ts-case", TS, "src/bench_case.ts", _TSCOLOR),
    ("go-case", GO, "levels/bench_week.go", _GOWEEK),
]


def observe(gen: HFGenerator, prompt: Prompt, completion: str, name: str) -> dict[str, int]:
    """Replay ``completion`` through monitor ``name`` without masking; its counters."""
    guide = gen.session.guide(prompt.workspace, prompt.file, prompt.prefix, prompt.suffix, monitors=[name])
    ids = gen.tokenizer.encode(completion, add_special_tokens=False)
    for tid in ids:
        guide.allowed()  # hands the server's facts to the monitor (the mask is not used)
        guide.advance([tid])
    guide.allowed()
    rep = guide.report()
    return {"triggers": int(rep.get("triggers", 0)), "violations": int(rep.get("violations", 0)),
            "accepted": int(rep.get("accepted", 0)), "failed_lookups": int(rep.get("failed_lookups", 0))}


def judged(ws: Path, rel: str, language: str, prefix: str, completion: str) -> tuple[dict, list[dict]]:
    """Per monitor: sites and verdicts by the checker (not the monitors); and the sites."""
    verdicts = judge_file(language, ws, rel, prefix, completion, applicable_monitors(language))
    counts: dict[str, dict[str, int]] = {m: {"sites": 0, "violation": 0, "ok": 0, "unjudged": 0}
                                         for m in applicable_monitors(language)}
    for v in verdicts:
        c = counts[v.site.monitor]
        c["sites"] += 1
        c[v.verdict] += 1
    sites = [{"monitor": v.site.monitor, "name": v.site.name, "at": v.site.start - len(prefix),
              "verdict": v.verdict, "errors": list(v.errors)} for v in verdicts]
    return counts, sites


def _lsp_row(stats: dict) -> dict[str, float]:
    """The LSP side of one generation: requests per kind, shared ones, time decoding waited."""
    row = {k[len("lsp_requests_"):]: int(v) for k, v in stats.items() if k.startswith("lsp_requests_")}
    row.update(requests=int(stats.get("lsp_requests", 0)), shared=int(stats.get("lsp_shared", 0)),
               waited_ms=round(float(stats.get("lsp_ms", 0.0)), 1))
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=default_model())
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=1,
                    help="timed runs of each configuration per prompt (order rotated each time)")
    ap.add_argument("--no-replay", action="store_true",
                    help="skip the per-monitor replays (timing and request counts only)")
    args = ap.parse_args()

    gen = HFGenerator(args.model, config=SessionConfig(wait_ms=60_000))
    configs = {"plain": None, "dereference": ["dereference"], "joint": ["all"]}
    totals = {c: {"tokens": 0, "seconds": 0.0} for c in configs}
    lsp_totals: dict[str, dict[str, float]] = {c: {} for c in configs if c != "plain"}
    per_monitor: dict[str, dict[str, dict[str, int]]] = {}
    checker: dict[str, dict[str, dict[str, int]]] = {}
    cases = []
    try:
        # Warm every server once (the first request analyses the project) and the model, untimed.
        for _cid, ws, rel, prefix in (p for p in PROMPTS if p[0] in ("py-area-call", "ts-new", "go-case")):
            for monitors in (["all"], None):
                extra = {"monitors": monitors} if monitors else {}
                gen.generate([Prompt("warm", ws, ws / rel, prefix, "", extra)],
                             GenerateOptions(max_new_tokens=args.max_new_tokens, monitors=monitors is not None))
        names = list(configs)
        for cid, ws, rel, prefix in PROMPTS:
            language = language_for_path(ws / rel).name
            outputs: dict[str, str] = {}
            row: dict[str, object] = {"id": cid, "language": language}
            for rep in range(args.repeats):
                for cname in names[rep % 3:] + names[: rep % 3]:
                    monitors = configs[cname]
                    prompt = Prompt(cid, ws, ws / rel, prefix, "", {"monitors": monitors} if monitors else {})
                    opts = GenerateOptions(max_new_tokens=args.max_new_tokens, monitors=monitors is not None)
                    # Each timed generation starts without answers from earlier ones (the
                    # session's request cache would otherwise carry them across runs).
                    gen.session.request_cache.clear()
                    t0 = time.perf_counter()
                    (res,) = gen.generate([prompt], opts)
                    dt = time.perf_counter() - t0
                    if res.error:
                        raise SystemExit(f"{cid}/{cname}: {res.error}")
                    totals[cname]["tokens"] += res.tokens
                    totals[cname]["seconds"] += dt
                    outputs[cname] = res.completion
                    entry = row.setdefault(cname, {"completion": res.completion, "tokens": res.tokens,
                                                   "seconds": []})
                    entry["seconds"].append(round(dt, 3))  # type: ignore[index]
                    if cname in lsp_totals:
                        lsp = _lsp_row(res.stats)
                        entry["lsp"] = lsp  # type: ignore[index]
                        for k, v in lsp.items():
                            lsp_totals[cname][k] = lsp_totals[cname].get(k, 0) + v
            for which in ("plain", "joint"):
                counts, sites = judged(ws, rel, language, prefix, outputs[which])
                row.setdefault("judge", {})[which] = {"counts": counts, "sites": sites}  # type: ignore[union-attr]
                for name, c in counts.items():
                    agg = checker.setdefault(name, {}).setdefault(which, {"sites": 0, "violation": 0, "ok": 0,
                                                                           "unjudged": 0})
                    for k, v in c.items():
                        agg[k] += v
            if not args.no_replay:
                prompt = Prompt(cid, ws, ws / rel, prefix, "")
                for name in applicable_monitors(language):
                    stats = {which: observe(gen, prompt, outputs[which], name) for which in ("plain", "joint")}
                    row.setdefault("monitors", {})[name] = stats  # type: ignore[union-attr]
                    agg = per_monitor.setdefault(name, {})
                    for which, s in stats.items():
                        a = agg.setdefault(which, {"triggers": 0, "violations": 0, "accepted": 0,
                                                   "failed_lookups": 0})
                        for k, v in s.items():
                            a[k] += v
            cases.append(row)
            print(cid, {k: outputs[k][:40] for k in outputs}, flush=True)
    finally:
        gen.close()

    tps = {c: (t["tokens"] / t["seconds"] if t["seconds"] else 0.0) for c, t in totals.items()}
    runs = len(PROMPTS) * args.repeats
    payload = {
        "model": args.model,
        "max_new_tokens": args.max_new_tokens,
        "prompts": len(PROMPTS),
        "repeats": args.repeats,
        "tokens_per_s": {c: round(v, 2) for c, v in tps.items()},
        "ratio_joint_vs_dereference": round(tps["joint"] / tps["dereference"], 3) if tps["dereference"] else None,
        "ratio_joint_vs_plain": round(tps["joint"] / tps["plain"], 3) if tps["plain"] else None,
        # Per generation (mean over prompts and repeats): requests sent per key kind
        # (completion / import / signature), shared ones, and the time decoding waited.
        "lsp_per_generation": {c: {k: round(v / runs, 2) for k, v in sorted(t.items())}
                               for c, t in lsp_totals.items()},
        # rule violations judged by the language's checker (mgd.evaluation.judge), not the monitors
        "judged_by_checker": checker,
        # the monitors' own replay (a trigger whose lookup failed is never judged there)
        "per_monitor": per_monitor,
        "cases": cases,
    }
    out = write_result("monitor_suite", payload)
    print(f"tokens/s {payload['tokens_per_s']}  joint/dereference {payload['ratio_joint_vs_dereference']}")
    print(f"LSP per generation {payload['lsp_per_generation']}")
    for name, agg in checker.items():
        print(f"{name:18s} checker  plain: {agg['plain']}  joint: {agg['joint']}")
    for name, agg in per_monitor.items():
        print(f"{name:18s} replay   plain: {agg['plain']}  joint: {agg['joint']}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
