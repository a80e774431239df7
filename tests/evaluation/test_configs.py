"""``mgd bench run --configs``: the ``default`` configuration is what ``mgd generate`` does
with no flags; the ablation configurations add one mechanism each. No model, no server."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mgd.cli.commands.bench import run_settings
from mgd.cli.commands.generate import _options, session_config, with_case_stops
from mgd.cli.main import build_parser
from mgd.engines.cases import Case
from mgd.evaluation.methods import case_stop_rule
from mgd.evaluation.runner import CONFIGS, RunSettings, generate_config, generate_options, parse_configs, with_monitors
from mgd.evaluation.scoring import comparison_pairs
from monitors.errors import ConfigError
from monitors.registry import DEFAULT_MONITORS, check_monitor_names


@pytest.mark.parametrize("language", ["python", "java"])
def test_default_is_generate_without_flags(language: str) -> None:
    """The whole resolved settings: every GenerateOptions field and the session config."""
    gen_args = build_parser().parse_args(["generate"])  # the real command lines, no flags
    run_args = build_parser().parse_args(["bench", "run", "--cases", "c.jsonl", "--out", "o", "--configs", "default"])
    options, session = _options(gen_args), session_config(gen_args)
    (default,) = parse_configs(run_args.configs)
    bench_options = generate_options(default, run_settings(run_args), 0, language)
    assert dataclasses.asdict(bench_options) == dataclasses.asdict(options)
    assert session_config(run_args) == session
    assert default.monitors_for(language) is None and session.monitors is None  # the session's choice
    case = Case("c", "/ws", "a.py", 6, 6, extra={"language": language})
    assert with_monitors(default, case) is case
    # a case's method end stops both (the CLI gives both engines the same rule)
    assert with_case_stops(_Recorder()).case_stop is case_stop_rule


def test_ablation_configs() -> None:
    got = parse_configs("plain, default, mgd+calls,mgd+defsites,mgd+syntax,mgd+new")
    assert [c.name for c in got] == ["plain", "default", "mgd+calls", "mgd+defsites", "mgd+syntax", "mgd+new"]
    for cfg in got[2:]:
        assert cfg.monitors and cfg.names is not None and cfg.names[: len(DEFAULT_MONITORS)] == DEFAULT_MONITORS
        check_monitor_names(cfg.names)
    assert set(CONFIGS["mgd+new"].names) == {*DEFAULT_MONITORS, "arguments", "keyword_arguments",
                                             "definition_sites", "syntax"}
    with pytest.raises(ConfigError, match=r"unknown config 'mgd\+magic'"):
        parse_configs("mgd+magic")


def test_comparisons_with_todays_mgd() -> None:
    pairs = comparison_pairs(["plain", "mgd", "mgd+calls", "default"], "plain")
    assert ("mgd+calls", "plain") in pairs and ("mgd+calls", "mgd") in pairs and ("default", "mgd") in pairs
    assert ("mgd", "mgd") not in pairs


class _Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, object]] = []

    def run_cases(self, cases, options, on_result) -> None:
        for c in cases:
            self.seen.append((c.id, c.extra.get("monitors")))


def test_names_reach_every_case(tmp_path: Path) -> None:
    cases = [Case(f"c{i}", str(tmp_path), "a.py", 0, 0, {"language": "python", "target": "", "stop": {}})
             for i in range(2)]
    rec = _Recorder()
    generate_config(rec, CONFIGS["mgd+syntax"], cases, RunSettings(max_new_tokens=4), tmp_path, progress=False)
    generate_config(rec, CONFIGS["mgd"], cases, RunSettings(max_new_tokens=4), tmp_path, progress=False)
    generate_config(rec, CONFIGS["default"], cases, RunSettings(max_new_tokens=4), tmp_path, progress=False)
    # ``mgd`` is pinned to the dereference monitor (the paper's), whatever the defaults
    # become; ``default`` leaves the choice to the session (the language's default).
    assert rec.seen == [("c0", [*DEFAULT_MONITORS, "syntax"]), ("c1", [*DEFAULT_MONITORS, "syntax"]),
                        ("c0", ["dereference"]), ("c1", ["dereference"]), ("c0", None), ("c1", None)]


def test_language_defaults() -> None:
    from monitors.registry import LANGUAGE_DEFAULTS, default_monitors

    assert default_monitors("python") == LANGUAGE_DEFAULTS["python"]
    assert set(default_monitors("python")) == set(CONFIGS["mgd+new"].names)
    assert default_monitors("java") == ("expected_types",)  # the dereference monitor with expected types
    assert default_monitors("go") == DEFAULT_MONITORS == ("dereference",)
    for names in LANGUAGE_DEFAULTS.values():
        check_monitor_names(names)


def test_default_plus_types_adds_expected_types_to_each_language_default() -> None:
    from monitors.registry import default_monitors

    (cfg,) = parse_configs("default+types")
    assert cfg.monitors and cfg.heal and cfg.names is None
    assert cfg.monitors_for("python") == [*default_monitors("python"), "expected_types"]
    case = Case("c", "/ws", "a.py", 6, 6, extra={"language": "python"})
    assert with_monitors(cfg, case).extra["monitors"] == [*default_monitors("python"), "expected_types"]
    (default,) = parse_configs("default")
    assert with_monitors(default, case) is case  # the session's choice, untouched
