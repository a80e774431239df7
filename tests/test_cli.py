"""`mgd generate` as a user runs it: batch cases, bad cases, single-file mode."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mgd.engines.cases import Case
from monitors.errors import ConfigError

MGD = [sys.executable, "-m", "mgd.cli"]


def test_case_validation() -> None:
    ok = Case.from_json({"id": 1, "workspace": "/w", "file": "a.py", "prefix_end": 3, "suffix_start": 5})
    assert ok.id == "1" and ok.prefix_end == 3
    bad = [
        [],
        {"id": 1},
        {"id": 1, "workspace": "/w", "file": "a.py", "prefix_end": -1, "suffix_start": 5},
        {"id": 1, "workspace": "/w", "file": "a.py", "prefix_end": 6, "suffix_start": 5},
        {"id": 1, "workspace": "/w", "file": "", "prefix_end": 1, "suffix_start": 5},
        {"id": 1, "workspace": "/w", "file": "a.py", "prefix_end": True, "suffix_start": 5},
    ]
    for obj in bad:
        with pytest.raises(ConfigError):
            Case.from_json(obj)


@pytest.mark.e2e
def test_batch_cases_keep_order_and_report_bad_cases(tmp_path: Path, tiny_model: Path, demo_project: Path) -> None:
    report = demo_project / "report.py"
    text = report.read_text()
    dots = [text.index("total += c.") + len("total += c."), text.index("return c.") + len("return c.")]
    (tmp_path / "latin1.py").write_bytes("x = 'caf\xe9'.\n".encode("latin-1"))
    lines = [
        {"id": "a", "workspace": str(demo_project), "file": "report.py", "prefix_end": dots[0],
         "suffix_start": text.index("\n", dots[0])},
        {"id": "missing", "workspace": str(demo_project), "file": "nope.py", "prefix_end": 0, "suffix_start": 0},
        "not json",
        {"id": "escape", "workspace": str(demo_project), "file": "../../README.md", "prefix_end": 0,
         "suffix_start": 0},
        {"id": "past-end", "workspace": str(demo_project), "file": "report.py", "prefix_end": 10,
         "suffix_start": 10**6},
        {"id": "latin1", "workspace": str(tmp_path), "file": "latin1.py", "prefix_end": 3, "suffix_start": 3},
        {"id": "b", "workspace": str(demo_project), "file": "report.py", "prefix_end": dots[1],
         "suffix_start": text.index("\n", dots[1])},
    ]
    cases = tmp_path / "cases.jsonl"
    cases.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    out = tmp_path / "out" / "results.jsonl"
    proc = subprocess.run(
        [*MGD, "generate", "--model", str(tiny_model), "--cases", str(cases), "--out", str(out),
         "--max-new-tokens", "8", "--stop", "\\n", "--batch-size", "2", "--quiet"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.returncode == 1, proc.stderr  # cases ended with error records
    results = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in results] == ["a", "missing", "line3", "escape", "past-end", "latin1", "b"]
    by_id = {r["id"]: r for r in results}
    for rid in ("missing", "line3", "escape", "past-end", "latin1"):
        assert by_id[rid].get("error"), rid
    assert "outside" in by_id["escape"]["error"]
    assert "UTF-8" in by_id["latin1"]["error"]
    for rid in ("a", "b"):
        r = by_id[rid]
        assert "error" not in r
        assert set(r) == {"id", "completion", "tokens", "elapsed_s", "stats"}
        assert set(r["stats"]) >= {"triggers", "constrained_steps", "fallbacks", "lsp_ms"}
        assert r["stats"]["triggers"] >= 1 and r["stats"]["constrained_steps"] >= 1
        assert "\n" not in r["completion"]
    assert "7 cases, 5 errors" in proc.stderr


@pytest.mark.e2e
def test_single_file_mode(tiny_model: Path, demo_project: Path, tmp_path: Path) -> None:
    text = (demo_project / "report.py").read_text().splitlines()
    line = next(i for i, t in enumerate(text, 1) if "total += c." in t)
    col = text[line - 1].index("c.") + 3
    command = [*MGD, "generate", "--model", str(tiny_model), "--workspace", str(demo_project), "--file", "report.py",
               "--line", str(line), "--column", str(col), "--max-new-tokens", "16", "--stop", "\\n"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    ident = re.match(r"\w*", proc.stdout).group()  # the member the completion starts with
    assert ident in {"radius", "area", "circumference", "scaled"}, proc.stdout
    assert proc.stdout.count("\n") == 1 and not proc.stderr.strip(), proc.stderr  # the completion, nothing else
    proc_text = proc.stdout.removesuffix("\n")
    # --json: the result line of the batch contract, on stdout
    proc = subprocess.run([*command, "--json", "-v"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert set(result) == {"id", "completion", "tokens", "elapsed_s", "stats"}
    # the dot, and with the default Python monitors the call it opens (arguments)
    assert result["completion"] == proc_text and result["stats"]["triggers"] >= 1
    assert list(tmp_path.iterdir()) == []  # nothing written in the current directory


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text("{}\n")
    proc = subprocess.run([*MGD, "generate", "--cases", str(tmp_path / "x.jsonl")], capture_output=True,
                          text=True, timeout=60, env={k: v for k, v in os.environ.items() if k != "MGD_MODEL"})
    assert proc.returncode == 2
    assert "mgd: error:" in proc.stderr
