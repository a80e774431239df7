"""FIM on the development splits: the same cases with left-to-right and FIM prompts, paired.

    .venv/bin/python benchmarks/fim_dev.py \
        --run python:off=benchmarks/results/eval/dev/py-fimoff --run python:auto=benchmarks/results/eval/dev/py-fimauto \
        --run java:off=benchmarks/results/eval/dev/java-fimoff --run java:auto=benchmarks/results/eval/dev/java-fimauto

Each run directory is an ``mgd bench run --configs plain,default --budget ... --fim off|auto``
of one development split (never a report split; docs/evaluation.md, "Protocol"). Per
language and prompt layout: CR@1 (a completion the budget cut fails), NIM@1, truncated
completions, and the files with each error class; paired comparisons (per case, bootstrap
95% CI, fixed/broken, exact McNemar p): ``default`` vs ``plain`` within each layout, and
each configuration with FIM vs without. JSON to benchmarks/results/fim_dev.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

from _common import write_result

from mgd.evaluation.stats import compare


def _samples(run: Path) -> list[dict[str, Any]]:
    (path,) = run.glob("*-samples.jsonl.gz")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _per_case(samples: list[dict[str, Any]], config: str, key: str) -> dict[str, float]:
    return {s["case"]: float(bool(s[key])) for s in samples if s["config"] == config and s["sample"] == 0}


def _cr(samples: list[dict[str, Any]], config: str) -> dict[str, float]:
    """Per case: compiles and finished (a completion the budget cut fails CR)."""
    return {s["case"]: float(bool(s["compiles"]) and bool(s["finished"]))
            for s in samples if s["config"] == config and s["sample"] == 0}


def _cmp(metric: str, baseline: str, base: dict[str, float], other: dict[str, float]) -> dict[str, Any]:
    c = dataclasses.asdict(compare(metric, baseline, base, other))
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in c.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", action="append", required=True, metavar="LANG:LAYOUT=DIR")
    args = ap.parse_args()
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {}
    sources: dict[str, str] = {}
    for spec in args.run:
        key, _, path = spec.partition("=")
        lang, _, layout = key.partition(":")
        runs.setdefault(lang, {})[layout] = _samples(Path(path))
        sources[key] = path
    out: dict[str, Any] = {}
    for lang, layouts in runs.items():
        rows: dict[str, Any] = {}
        for layout, samples in layouts.items():
            for config in ("plain", "default"):
                mine = [s for s in samples if s["config"] == config and s["sample"] == 0]
                kinds = Counter(k for s in mine for k in set(s.get("error_kinds") or []))
                rows[f"{layout}/{config}"] = {
                    "cases": len(mine),
                    "CR@1": round(100.0 * sum(bool(s["compiles"]) and bool(s["finished"]) for s in mine) / len(mine), 1),
                    "NIM@1": round(100.0 * sum(bool(s["nim"]) for s in mine) / len(mine), 1),
                    "truncated": sum(not s["finished"] for s in mine),
                    "unknown": sum(s["compiles"] is None for s in mine),
                    "error_files": dict(sorted(kinds.items())),
                }
        cr = {f"{layout}/{config}": _cr(samples, config)
              for layout, samples in layouts.items() for config in ("plain", "default")}
        nim = {f"{layout}/{config}": _per_case(samples, config, "nim")
               for layout, samples in layouts.items() for config in ("plain", "default")}
        paired: dict[str, Any] = {}
        for layout in layouts:
            paired[f"{layout}: default vs plain"] = {
                "CR@1": _cmp("CR@1", f"{layout}/plain", cr[f"{layout}/plain"], cr[f"{layout}/default"]),
                "NIM@1": _cmp("NIM@1", f"{layout}/plain", nim[f"{layout}/plain"], nim[f"{layout}/default"]),
            }
        if "off" in layouts:
            for layout in [x for x in layouts if x != "off"]:
                for config in ("plain", "default"):
                    paired[f"{config}: {layout} vs off"] = {
                        "CR@1": _cmp("CR@1", f"off/{config}", cr[f"off/{config}"], cr[f"{layout}/{config}"]),
                        "NIM@1": _cmp("NIM@1", f"off/{config}", nim[f"off/{config}"], nim[f"{layout}/{config}"]),
                    }
                paired[f"{layout}/default vs off/plain"] = {
                    "CR@1": _cmp("CR@1", "off/plain", cr["off/plain"], cr[f"{layout}/default"]),
                    "NIM@1": _cmp("NIM@1", "off/plain", nim["off/plain"], nim[f"{layout}/default"]),
                }
        out[lang] = {"rows": rows, "paired": paired}
        for name, row in rows.items():
            print(lang, name, row)
        for name, p in paired.items():
            print(lang, name, {m: (v["delta"], v["ci_low"], v["ci_high"], v["fixed"], v["broken"], v["p_mcnemar"])
                               for m, v in p.items()})
    settings = {}
    for key, path in sources.items():
        s = json.loads((Path(path) / "settings.json").read_text())
        settings[key] = {k: s.get(k) for k in ("max_new_tokens", "batch_size", "fim", "fim_template", "budget")}
    path = write_result("fim_dev", {"runs": sources, "settings": settings, "languages": out})
    print("wrote", path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
