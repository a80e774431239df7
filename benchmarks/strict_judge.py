"""An independent strict judge for Python runs, to check the harness's verdicts.

Written apart from ``mgd/evaluation`` (it imports nothing from mgd): standard
library ``tokenize``/``ast`` and the pyright command line. For each sample of a
``mgd bench run`` output directory it decides, on its own:

1. **finished**: the completion reaches the method's end, found with ``tokenize``
   (the first line after the dot's line whose first token, code or comment, starts
   at a column no deeper than the enclosing ``def``; lines inside strings and
   brackets are continuation lines, not candidates), or generation stopped before
   the token budget (the model ended it). A completion that used the whole budget
   without reaching the end is not finished and does not compile;
2. **parses**: the file with the method's text spliced in is accepted by ``ast.parse``;
3. **no new pyright error**: pyright (``--outputjson``, its default rules) reports no
   error for the completed file that it does not report for the original (errors
   compared as a multiset of (rule, message), lines ignored). Both files are
   checked as siblings in a private copy of the workspace, so the run's workspace
   is never written to.

It then compares its verdict with the harness's ``compiles`` for every sample and
reports the agreement (overall and per configuration) and every sample cut by the
budget that the harness marked compiling (there must be none).

    python benchmarks/strict_judge.py RUN_DIR --cases CASES.jsonl [--workspace-root benchmarks/.cache]
        [--pyright PATH] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import ast
import collections
import gzip
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import tokenize
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_SIBLING = re.compile(r"__judge_(?:orig|\d+)\b")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def find(run: Path, stem: str) -> Path:
    for name in (f"{stem}.jsonl", f"{stem}.jsonl.gz"):
        if (run / name).is_file():
            return run / name
    raise SystemExit(f"{run}: no {stem}.jsonl(.gz)")


def method_end(prefix: str, completion: str, indent: int) -> int | None:
    """Offset in ``completion`` of the newline before the method's first line outside
    it (tokenize's view), or None if the completion does not reach it."""
    text = prefix + completion
    first_nl = completion.find("\n")
    if first_nl < 0:
        return None
    start_line = (prefix + completion[: first_nl + 1]).count("\n") + 1  # 1-based line after the dot's
    line_starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            line_starts.append(i + 1)
    prev = tokenize.NEWLINE
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            kind = tok.type
            row, col = tok.start
            first_of_line = prev in (tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT)
            if kind not in (tokenize.INDENT, tokenize.DEDENT, tokenize.NL, tokenize.NEWLINE, tokenize.ENDMARKER):
                if first_of_line and row >= start_line and _width(tok.line, col) <= indent:
                    offset = line_starts[row - 1] - len(prefix)
                    if offset > 0:
                        return offset - 1
                prev = kind
            elif kind in (tokenize.NEWLINE, tokenize.NL):
                prev = kind
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return None


def _width(line: str, col: int) -> int:
    """Columns before character ``col`` of ``line``, tabs to multiples of 8 (as Python reads
    indentation, and as the cases' ``indent`` is measured)."""
    return len(line[:col].expandtabs(8))


@dataclass
class Sample:
    config: str
    case: str
    sample: int
    harness: bool
    harness_finished: bool
    completed: str | None  # the spliced file, None when not finished
    workspace: Path
    file: str
    original: str
    verdict: bool | None = None
    why: str = ""


def build(run: Path, cases_path: Path, ws_root: Path) -> list[Sample]:
    cases = {c["id"]: c for c in read_jsonl(cases_path)}
    settings = json.loads((run / "settings.json").read_text())
    budget = int(settings["max_new_tokens"])
    verdicts = {(s["config"], s["case"], s["sample"]): s for s in read_jsonl(next(run.glob("*-samples.jsonl*")))}
    out: list[Sample] = []
    for gen in sorted(run.glob("gen-*.jsonl*")):
        config = gen.name.removeprefix("gen-").split(".jsonl")[0]
        for g in read_jsonl(gen):
            case = cases.get(g["id"])
            v = verdicts.get((config, g["id"], g.get("sample", 0)))
            if case is None or v is None:
                continue
            ws = ws_root / case["workspace"]
            if not (ws / case["file"]).is_file():
                raise SystemExit(f"{ws / case['file']} is missing: fetch the workspaces first")
            original = (ws / case["file"]).read_text(encoding="utf-8")
            prefix, suffix = original[: case["prefix_end"]], original[case["suffix_start"] :]
            completion = g["completion"]
            end = method_end(prefix, completion, int(case["stop"]["indent"]))
            s = Sample(config, g["id"], g.get("sample", 0), bool(v["compiles"]), bool(v.get("finished", True)),
                       None, ws, case["file"], original)
            if end is not None:
                s.completed = prefix + completion[:end] + suffix
            elif int(g["tokens"]) < budget:  # the model stopped by itself
                s.completed = prefix + completion.rstrip("\n") + suffix
            else:
                s.verdict, s.why = False, "cut by the budget"
            out.append(s)
    return out


def pyright_errors(pyright: str, root: Path, files: list[Path]) -> dict[Path, collections.Counter[tuple[str, str]]]:
    out: dict[Path, collections.Counter[tuple[str, str]]] = {f.resolve(): collections.Counter() for f in files}
    for i in range(0, len(files), 200):
        chunk = files[i : i + 200]
        proc = subprocess.run([pyright, "--outputjson", *map(str, chunk)], cwd=root, capture_output=True, text=True,
                              check=False)
        data = json.loads(proc.stdout)
        for d in data.get("generalDiagnostics", []):
            if d.get("severity") != "error":
                continue
            key = Path(d["file"]).resolve()
            if key in out:
                # the siblings' module names (core__judge_3, core__judge_orig) read as the module's
                message = _SIBLING.sub("", " ".join(d["message"].split()))
                out[key][(d.get("rule", "syntax"), message)] += 1
    return out


def judge(samples: list[Sample], pyright: str) -> None:
    todo = [s for s in samples if s.verdict is None]
    for s in todo:
        try:
            ast.parse(s.completed or "")
        except SyntaxError as e:
            s.verdict, s.why = False, f"does not parse: {e.msg}"
    by_ws: dict[Path, list[Sample]] = collections.defaultdict(list)
    for s in todo:
        if s.verdict is None:
            by_ws[s.workspace].append(s)
    for ws, group in by_ws.items():
        with tempfile.TemporaryDirectory(prefix="strict-judge-") as tmp:
            copy = Path(tmp) / ws.name
            shutil.copytree(ws, copy, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".git"))
            files: list[Path] = []
            originals: dict[str, Path] = {}
            pairs: list[tuple[Sample, Path, Path]] = []
            for i, s in enumerate(group):
                target = copy / s.file
                orig = originals.get(s.file)
                if orig is None:
                    orig = originals[s.file] = target.with_name(f"{target.stem}__judge_orig.py")
                    orig.write_text(s.original, encoding="utf-8")
                    files.append(orig)
                done = target.with_name(f"{target.stem}__judge_{i}.py")
                done.write_text(s.completed or "", encoding="utf-8")
                files.append(done)
                pairs.append((s, orig, done))
            errors = pyright_errors(pyright, copy, files)
            for s, orig, done in pairs:
                new = errors[done.resolve()] - errors[orig.resolve()]
                s.verdict = not new
                s.why = "" if not new else "new pyright error: " + "; ".join(f"{r}: {m}" for r, m in list(new)[:2])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--cases", type=Path, required=True)
    ap.add_argument("--workspace-root", type=Path, default=ROOT / "benchmarks" / ".cache")
    ap.add_argument("--pyright", default=str(ROOT / ".venv" / "lsp" / "node_modules" / ".bin" / "pyright"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    samples = build(args.run, args.cases, args.workspace_root)
    if not samples:
        raise SystemExit("no samples to judge")
    judge(samples, args.pyright)
    per: dict[str, dict[str, int]] = collections.defaultdict(lambda: collections.Counter())
    for s in samples:
        c = per[s.config]
        c["samples"] += 1
        c["agree"] += s.harness == s.verdict
        c["harness_compiles"] += s.harness
        c["strict_compiles"] += bool(s.verdict)
        c["cut_marked_compiling"] += s.why == "cut by the budget" and s.harness
        c["harness_unfinished_marked_compiling"] += (not s.harness_finished) and s.harness
    total = collections.Counter()
    for c in per.values():
        total.update(c)
    result = {
        "command": "python benchmarks/strict_judge.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "run": str(args.run), "cases": str(args.cases),
        "agreement": round(total["agree"] / total["samples"], 4),
        "total": dict(total), "per_config": {k: dict(v) for k, v in per.items()},
        "disagreements": [
            {"config": s.config, "case": s.case, "harness": s.harness, "strict": s.verdict, "why": s.why}
            for s in samples if s.harness != s.verdict
        ],
    }
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("agreement", "total", "per_config")}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
