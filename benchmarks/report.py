"""The sealed report: run each report split once per version, under the protocol, and keep a history.

``make report`` (``python benchmarks/report.py run``) runs ``default`` (``mgd generate``
without flags) against ``plain`` on each language's report split
(:data:`SPLITS`: cases no tuning has looked at), with the token budget chosen on the
development split (``make budget``: ``python benchmarks/report.py budget``, the fewest tokens
within which 95% of plain completions end their method). Before it runs it refuses a split
already reported for this version of mgd (``--force`` runs it again, and the history shows
it); after, it appends one line to :data:`HISTORY` (date, version, commit, whether the tree
had uncommitted changes, the settings, the SHA-256 of the cases file and its build record,
the run directory and the headline numbers) and never rewrites earlier lines. The README's
evaluation figures are written from the newest run of each split (``make figures``), and
docs/evaluation.md says how many times each split has run (the ``report-runs`` figure).

All tuning happens on the development splits (``benchmarks/cases/dev/``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "benchmarks" / "cases"
CACHE = ROOT / "benchmarks" / ".cache"
RESULTS = ROOT / "benchmarks" / "results" / "eval"
HISTORY = RESULTS / "report-history.jsonl"
CONFIGS = "plain,default"
#: A generous budget for the development run the budget is chosen from.
DEV_BUDGET = 512


@dataclass(frozen=True)
class Split:
    """A language's sealed report split and the development split its budget comes from."""

    language: str
    cases: Path
    dev_cases: Path

    @property
    def budget(self) -> Path:
        return CASES / f"{self.language}-budget.json"


SPLITS = {
    "python": Split("python", CASES / "python-report-cases.jsonl", CASES / "dev" / "python-dev2-cases.jsonl"),
    "java": Split("java", CASES / "java-report-cases.jsonl", CASES / "dev" / "java-dev2-cases.jsonl"),
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout.strip()


def version() -> str:
    sys.path.insert(0, str(ROOT))
    import mgd

    return str(mgd.__version__)


def history() -> list[dict[str, Any]]:
    if not HISTORY.is_file():
        return []
    return [json.loads(line) for line in HISTORY.read_text(encoding="utf-8").splitlines() if line.strip()]


def already_reported(split: Split, ver: str, records: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The history's record of ``split`` at version ``ver`` (its cases file unchanged), if any."""
    digest = sha256(split.cases)
    return next((r for r in records if r["split"] == split.language and r["version"] == ver
                 and r["cases_sha256"] == digest), None)


def mgd_cmd(*args: str) -> list[str]:
    """The ``mgd`` of the running interpreter's environment."""
    local = Path(sys.executable).parent / "mgd"
    return [str(local) if local.exists() else "mgd", *args]


def run(cmd: list[str]) -> None:
    print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True, env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})


def fetch(cases: Path) -> None:
    """Fetch (once) the workspaces ``cases`` names (benchmarks/_common.py's recipes)."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from _common import fetch_case_workspaces  # type: ignore[import-not-found]

    fetch_case_workspaces(cases)


def cmd_budget(args: argparse.Namespace) -> int:
    """Choose each language's budget on its development split: a plain run with a generous
    budget, then ``mgd bench budget`` (95% of plain completions end their method)."""
    for lang in languages(args):
        split = SPLITS[lang]
        fetch(split.dev_cases)
        out = RESULTS / "dev" / f"{lang}-budget"
        run(mgd_cmd("bench", "run", "--model", args.model, "--cases", str(split.dev_cases), "--workspace-root",
                    str(CACHE), "--configs", "plain", "--max-new-tokens", str(DEV_BUDGET), "--batch-size",
                    str(args.batch_size), "--out", str(out), "--name", f"{lang}-budget", "--quiet"))
        run(mgd_cmd("bench", "budget", "--cases", str(split.dev_cases), "--workspace-root", str(CACHE),
                    "--run", str(out), "--out", str(split.budget)))
    return 0


def languages(args: argparse.Namespace) -> list[str]:
    """``--languages``, or every language whose report split exists (saying which do not)."""
    if args.languages:
        return args.languages.split(",")
    have = [lang for lang, split in SPLITS.items() if split.cases.is_file()]
    for lang in SPLITS.keys() - set(have):
        print(f"no {lang} report split ({SPLITS[lang].cases.relative_to(ROOT)}): skipped", file=sys.stderr)
    if not have:
        raise SystemExit("no report split exists")
    return have


def summary(report: dict[str, Any]) -> dict[str, Any]:
    """The headline of a report: per configuration CR, NIM, truncated and unknown; the paired
    default-vs-plain CR and NIM (Δ, CI, fixed/broken, McNemar p)."""
    out: dict[str, Any] = {"configs": {}}
    for s in report["summaries"]:
        out["configs"][s["config"]] = {
            "CR@1": round(100 * s["scores"].get("CR@1", 0.0), 2), "NIM@1": round(100 * s["scores"]["NIM@1"], 2),
            "truncated": s.get("truncated"), "unknown": s.get("unknown"), "cases": s["cases"],
        }
    pair = report.get("paired", {}).get("default vs plain", {})
    out["default_vs_plain"] = {m: {k: pair[m][k] for k in ("delta", "ci_low", "ci_high", "fixed", "broken", "p_mcnemar")}
                               for m in ("CR@1", "NIM@1") if m in pair}
    return out


def gzip_generations(out: Path) -> None:
    """gen-*.jsonl -> gen-*.jsonl.gz (results stay small; ``read_generations`` reads either)."""
    for path in sorted(out.glob("gen-*.jsonl")):
        with path.open("rb") as src, gzip.GzipFile(path.with_suffix(".jsonl.gz"), "wb", mtime=0) as dst:
            shutil.copyfileobj(src, dst)
        path.unlink()


def cmd_run(args: argparse.Namespace) -> int:
    ver, commit = version(), git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    records = history()
    splits = [SPLITS[lang] for lang in languages(args)]
    for split in splits:
        for need in (split.cases, split.budget):
            if not need.is_file():
                raise SystemExit(f"{need.relative_to(ROOT)} is missing"
                                 + (" (make budget)" if need == split.budget else ""))
        done = already_reported(split, ver, records)
        if done and not args.force:
            raise SystemExit(f"the {split.language} report split was already run for mgd {ver} on {done['date']} "
                             f"(commit {done['commit'][:10]}, {done['out']}): a report split runs once per version; "
                             "--force runs it again (and the history keeps both)")
    for split in splits:
        fetch(split.cases)
    for split in splits:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        out = RESULTS / "report" / f"{split.language}-{ver}-{stamp}"
        cmd = mgd_cmd("bench", "run", "--model", args.model, "--cases", str(split.cases), "--workspace-root",
                      str(CACHE), "--configs", CONFIGS, "--budget", str(split.budget), "--batch-size",
                      str(args.batch_size), "--out", str(out), "--name", split.language, "--quiet")
        run(cmd)
        report = json.loads((out / f"{split.language}.json").read_text())
        gzip_generations(out)
        record = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "split": split.language, "version": ver, "commit": commit, "uncommitted_changes": dirty,
            "forced": bool(args.force and already_reported(split, ver, records)),
            "cases": str(split.cases.relative_to(ROOT)), "cases_sha256": sha256(split.cases),
            "build_sha256": sha256(split.cases.with_name(split.cases.name.removesuffix(".jsonl") + ".build.json")),
            "budget": json.loads(split.budget.read_text()), "settings": report["settings"],
            "out": str(out.relative_to(ROOT)), "command": " ".join(["mgd", *cmd[1:]]),
            **summary(report),
        }
        HISTORY.parent.mkdir(parents=True, exist_ok=True)
        with HISTORY.open("a", encoding="utf-8") as fh:  # append: earlier runs stay
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        records.append(record)
        print(f"{split.language}: {json.dumps(record['default_vs_plain'])} -> {HISTORY.relative_to(ROOT)}",
              file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    for name, fn in (("run", cmd_run), ("budget", cmd_budget)):
        p = sub.add_parser(name)
        p.add_argument("--languages", default=None, help="comma list (default: every split that exists)")
        p.add_argument("--model", default=os.environ.get("MGD_MODEL"), required=not os.environ.get("MGD_MODEL"))
        p.add_argument("--batch-size", type=int, default=1,
                       help="rows decoded together (default 1: exactly `mgd generate`'s; more is faster, and "
                            "greedy results may differ in rare ties)")
        if name == "run":
            p.add_argument("--force", action="store_true", help="run a split already reported for this version")
        p.set_defaults(func=fn)
    args = ap.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
