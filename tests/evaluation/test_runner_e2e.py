"""mgd bench run end to end: tiny model, real jedi, real pyright; resumable output."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from mgd.evaluation.builder import BuildOptions, build_cases, write_cases
from mgd.evaluation.diagnostics import ERROR_CLASSES
from mgd.evaluation.runner import (
    RunSettings,
    check_settings,
    generate_config,
    load_bench_cases,
    parse_configs,
    read_generations,
)
from monitors.errors import ConfigError

pytestmark = pytest.mark.e2e


def test_parse_configs() -> None:
    assert [c.name for c in parse_configs("plain, mgd")] == ["plain", "mgd"]
    with pytest.raises(ConfigError):
        parse_configs("plain,turbo")
    with pytest.raises(ConfigError):
        RunSettings(n=3, temperature=0.0)


def test_run_score_report_resume(tmp_path: Path, tiny_model: Path) -> None:
    from mgd.engines.generate import HFGenerator
    from mgd.evaluation.report import write_report
    from mgd.evaluation.scoring import score_run

    repo = tmp_path / "pyproj"
    shutil.copytree(Path(__file__).parents[1] / "fixtures" / "pyproj", repo)
    cases_path = tmp_path / "cases.jsonl"
    write_cases(build_cases(repo, "python", BuildOptions(seed=0, max_cases=3)), cases_path)
    cases = load_bench_cases(cases_path)
    assert len(cases) == 3
    settings = RunSettings(max_new_tokens=8, max_prompt_tokens=128, batch_size=2)
    out = tmp_path / "run"
    out.mkdir()
    check_settings(out, settings)
    configs = parse_configs("plain,mgd")
    with HFGenerator(tiny_model) as gen:
        for cfg in configs:
            generate_config(gen, cfg, cases, settings, out, progress=False)
        # a killed run leaves a torn line and misses a case: the rerun fills in only that one
        path = out / "gen-mgd.jsonl"
        lines = path.read_text().splitlines()
        path.write_text("\n".join(lines[:-1]) + '\n{"id": "torn')
        generate_config(gen, configs[1], cases, settings, out, progress=False)
    again = read_generations(path)
    assert sorted(k[0] for k in again) == sorted(c.id for c in cases)
    assert all(json.loads(line) for line in path.read_text().splitlines())
    with pytest.raises(ConfigError):
        check_settings(out, RunSettings(max_new_tokens=9, max_prompt_tokens=128))

    result = score_run(cases, configs, settings, out, ks=(1,))
    by = {s.config: s for s in result.summaries}
    assert by["mgd"].stats["triggers"] >= 3  # each prompt ends at a dot
    assert by["plain"].stats["triggers"] == 0
    for s in result.summaries:
        assert s.cases == 3 and set(s.scores) == {"CR@1", "NIM@1", "ISM@1", "PM@1"}
        assert all(0.0 <= v <= 1.0 for v in s.scores.values())
        # each NIM split covers every case and averages back to NIM@1
        assert set(s.nim_splits["name"]) <= {"public", "private", "dunder", "none"}
        assert set(s.nim_splits["site"]) <= {"definition", "use"}
        for split in s.nim_splits.values():
            assert sum(v["cases"] for v in split.values()) == 3
            overall = sum(v["cases"] * v["NIM@1"] for v in split.values()) / 3
            assert overall == pytest.approx(s.scores["NIM@1"])
    # strict CR: a file checks iff it adds no error; each error has a class
    for s in result.summaries:
        assert set(s.error_samples) == set(ERROR_CLASSES) and s.cr_cases == 3
        failing = sum(1 for x in result.samples[s.config] if x.errors or not x.finished or x.unknown)
        assert s.scores["CR@1"] == pytest.approx(1 - failing / 3)  # truncated or unknown: fails
        assert s.truncated == sum(1 for x in result.samples[s.config] if not x.finished)
        assert max(s.error_samples.values()) <= failing
    paths = write_report(result, out, name="t", command="mgd bench run ...")
    report = json.loads((out / "t.json").read_text())
    assert report["command"] == "mgd bench run ..." and report["baseline"] == "plain"
    md = (out / "t.md").read_text()
    assert "| plain |" in md and "NIM@1 by the ground truth's first identifier" in md
    assert "| mgd vs plain | NIM@1 |" in md and "unknown member" in md
    nim = report["paired"]["mgd vs plain"]["NIM@1"]
    nim_delta = 3 * (by["mgd"].scores["NIM@1"] - by["plain"].scores["NIM@1"])
    assert nim["fixed"] - nim["broken"] == pytest.approx(nim_delta)
    assert nim["ci_low"] <= nim["delta"] <= nim["ci_high"]
    assert all(p.exists() for p in paths)
    samples = [json.loads(line) for line in gzip.decompress((out / "t-samples.jsonl.gz").read_bytes()).splitlines()]
    assert all(set(x["error_kinds"]) <= set(ERROR_CLASSES) for x in samples)
    assert all((x["compiles"] is True) == (not x["errors"] and x["finished"] and not x["unknown"]) for x in samples)
    assert "| truncated | unknown |" in md


def test_generation_stops_at_the_method_end(tmp_path: Path, tiny_model: Path) -> None:
    """The protocol: a completion is the rest of the method; with the case's stop rule the
    engine spends no token past the method's end, and the text up to the end is the text
    the unstopped generation has there (same greedy run, cut earlier)."""
    from mgd.cli.commands.generate import with_case_stops
    from mgd.engines.generate import HFGenerator
    from mgd.evaluation.methods import method_end

    repo = tmp_path / "pyproj"
    shutil.copytree(Path(__file__).parents[1] / "fixtures" / "pyproj", repo)
    cases_path = tmp_path / "cases.jsonl"
    write_cases(build_cases(repo, "python", BuildOptions(seed=0, max_cases=4)), cases_path)
    cases = load_bench_cases(cases_path)
    settings = RunSettings(max_new_tokens=48, max_prompt_tokens=256)
    (plain,) = parse_configs("plain")
    free, stopped = tmp_path / "free", tmp_path / "stopped"
    free.mkdir()
    stopped.mkdir()
    with HFGenerator(tiny_model) as gen:
        generate_config(gen, plain, cases, settings, free, progress=False)
        generate_config(with_case_stops(gen), plain, cases, settings, stopped, progress=False)
    a, b = read_generations(free / "gen-plain.jsonl"), read_generations(stopped / "gen-plain.jsonl")
    ended = 0
    for c in cases:
        g_free, g_stop = a[(c.id, 0)], b[(c.id, 0)]
        end = method_end(g_free["completion"], c.extra["stop"])
        if end is None:
            assert g_stop["completion"] == g_free["completion"]
            continue
        ended += 1
        assert g_stop["tokens"] < g_free["tokens"] or g_free["tokens"] < settings.max_new_tokens
        assert method_end(g_stop["completion"], c.extra["stop"]) == end
        assert g_stop["completion"][:end] == g_free["completion"][:end]
    assert ended >= 1
