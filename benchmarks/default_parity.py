"""Is ``mgd bench run --configs default`` what a user gets from ``mgd generate`` without flags?

Runs both commands as a user would, on the same cases (the first ``--limit`` of a
cases file), and compares the completions case by case: identical text, and
identical up to the method's end (the case's stop rule; text a stop rule would
not keep does not count). ``mgd generate --cases`` gets nothing but the model, the
cases (workspaces made absolute: it takes paths as given) and where to write.

    python benchmarks/default_parity.py --cases benchmarks/cases/dev/python-dev2-cases.jsonl \\
        --limit 40 --out benchmarks/results/default_parity.json

Writes the agreement and every differing case.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.report import mgd_cmd, run  # noqa: E402
from mgd.evaluation.methods import method_end  # noqa: E402


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def kept(text: str, case: dict[str, Any]) -> str:
    stop = case.get("stop")
    end = method_end(text, stop) if isinstance(stop, dict) else None
    return text if end is None else text[:end]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=Path, required=True)
    ap.add_argument("--workspace-root", type=Path, default=ROOT / "benchmarks" / ".cache")
    ap.add_argument("--limit", type=int, default=40)
    ap.add_argument("--model", default=os.environ.get("MGD_MODEL"), required=not os.environ.get("MGD_MODEL"))
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "default_parity.json")
    args = ap.parse_args(argv)
    cases = read_jsonl(args.cases)[: args.limit]
    with tempfile.TemporaryDirectory(prefix="mgd-parity-") as tmp:
        t = Path(tmp)
        subset, absolute = t / "cases.jsonl", t / "cases-abs.jsonl"
        subset.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
        absolute.write_text("".join(
            json.dumps({**c, "workspace": str((args.workspace_root / c["workspace"]).resolve())}) + "\n" for c in cases),
            encoding="utf-8")
        run(mgd_cmd("generate", "--model", args.model, "--cases", str(absolute), "--out", str(t / "generate.jsonl"),
                "--quiet"))
        run(mgd_cmd("bench", "run", "--model", args.model, "--cases", str(subset), "--workspace-root",
                str(args.workspace_root), "--configs", "default", "--out", str(t / "bench"), "--name", "parity",
                "--quiet"))
        gen = {r["id"]: r for r in read_jsonl(t / "generate.jsonl")}
        bench_file = next((t / "bench").glob("gen-default.jsonl*"))
        bench = {r["id"]: r for r in read_jsonl(bench_file)}
    rows = []
    for c in cases:
        g, b = gen.get(c["id"], {}), bench.get(c["id"], {})
        a, z = g.get("completion"), b.get("completion")
        rows.append({"id": c["id"], "identical": a == z and a is not None,
                     "same_method": a is not None and z is not None and kept(a, c) == kept(z, c),
                     "generate": a, "bench": z, "error": g.get("error") or b.get("error")})
    n = len(rows)
    result = {
        "command": "python benchmarks/default_parity.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "cases": n, "cases_file": str(args.cases),
        "identical": sum(r["identical"] for r in rows), "same_method": sum(r["same_method"] for r in rows),
        "same_method_rate": round(sum(r["same_method"] for r in rows) / n, 4) if n else None,
        "differing": [r for r in rows if not r["same_method"]],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("cases", "identical", "same_method", "same_method_rate")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
