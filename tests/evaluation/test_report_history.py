"""``make report`` (benchmarks/report.py): a report split runs once per version unless forced,
and the history is appended to, never rewritten. Nothing is generated here: the refusal
comes before any run."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _module(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


report = _module("report")


def test_a_reported_version_is_refused_unless_forced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cases = tmp_path / "python-report-cases.jsonl"
    cases.write_text('{"id": "a"}\n')
    split = report.Split("python", cases, tmp_path / "dev.jsonl")
    (tmp_path / "python-budget.json").write_text("{}")
    monkeypatch.setattr(report, "CASES", tmp_path)
    monkeypatch.setattr(report, "SPLITS", {"python": split})
    history = tmp_path / "report-history.jsonl"
    monkeypatch.setattr(report, "HISTORY", history)
    ver = report.version()
    old = {"split": "python", "version": ver, "cases_sha256": report.sha256(cases), "date": "2026-12-01",
           "commit": "0" * 40, "out": "benchmarks/results/eval/report/x"}
    history.write_text(json.dumps(old) + "\n")
    assert report.already_reported(split, ver, report.history()) == old
    assert report.already_reported(split, ver + ".1", report.history()) is None
    args = argparse.Namespace(languages="python", model="m", batch_size=1, force=False)
    with pytest.raises(SystemExit, match="already run for mgd .* --force"):
        report.cmd_run(args)
    cases.write_text('{"id": "b"}\n')  # another split (new cases): not the one reported
    assert report.already_reported(split, ver, report.history()) is None
    assert history.read_text() == json.dumps(old) + "\n"  # untouched


def test_summary_of_a_committed_report() -> None:
    data = json.loads((ROOT / "benchmarks" / "results" / "eval" / "java" / "java.json").read_text())
    got = report.summary(data)
    assert set(got["configs"]) >= {"plain", "default"}
    assert got["default_vs_plain"]["CR@1"]["fixed"] >= got["default_vs_plain"]["CR@1"]["broken"]


def test_gzipped_generations_read_back(tmp_path: Path) -> None:
    from mgd.evaluation.runner import read_generations

    lines = [{"id": "a", "sample": 0, "completion": "x", "tokens": 1}, {"id": "b", "sample": 0, "completion": "y"}]
    path = tmp_path / "gen-plain.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    before = read_generations(path)
    report.gzip_generations(tmp_path)
    assert not path.exists() and (tmp_path / "gen-plain.jsonl.gz").exists()
    assert read_generations(path) == before and len(before) == 2
