"""The command line's conventions: exit codes, errors for users, lazy imports, flags and help."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import mgd
from mgd.cli.main import build_parser
from mgd.cli.parsing import RemovedFlag, unescape, verbosity
from mgd.config import SessionConfig
from monitors.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

#: Runs mgd.cli.main in a fresh interpreter and reports the exit status and which heavy
#: libraries the run imported.
_PROBE = (
    "import json, sys\n"
    "from mgd.cli.main import main\n"
    "try:\n"
    "    rc = main(sys.argv[1:])\n"
    "except SystemExit as exc:\n"
    "    rc = exc.code\n"
    "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'transformers', 'vllm'})\n"
    "print(json.dumps({'rc': rc, 'heavy': heavy}), file=sys.stderr)\n"
)


def probe(*args: str, cwd: Path, env: dict[str, str] | None = None) -> tuple[int, list[str], str]:
    environ = {k: v for k, v in os.environ.items() if k != "MGD_MODEL"}
    environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), environ.get("PYTHONPATH", "")])
    proc = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env={**environ, **(env or {})})
    *rest, last = proc.stderr.strip().splitlines()
    out = json.loads(last)
    return out["rc"], out["heavy"], "\n".join(rest)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["generate", "--cases", "missing.jsonl", "--out", "o.jsonl"], "--cases missing.jsonl: no such file"),
        (["generate", "--cases", "c.jsonl"], "--cases needs --out"),
        (["generate", "--model", "./no/such/model", "--file", "x.py"], "no such directory"),
        (["generate", "--model", "nobody/no-such-model", "--file", "f.py"], "tried: the directory"),
        (["generate", "--file", "f.py"], "no model: pass --model"),
        (["generate", "--speculative", "bogus", "--file", "f.py", "--model", "m"], "unknown draft source"),
        (["generate", "--speculative", "ngram:x", "--file", "f.py", "--model", "m"], "node budget"),
        (["generate", "--no-such-flag"], "unrecognized arguments"),
        (["demo", "--model", "/no/such/dir"], "no such directory"),
        (["bench", "run", "--cases", "c.jsonl"], "required: --out"),
        (["doctor", "--language", "cobol"], "cobol"),
        (["doctor", "--server", "no-such-server"], "unknown language server"),
        (["lsp", "--config", "missing.toml"], "no such file"),
    ],
)
def test_usage_errors_exit_2_without_loading_torch(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "c.jsonl").write_text("{}\n")
    (tmp_path / "f.py").write_text("x = 1\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    rc, heavy, stderr = probe(*args, cwd=tmp_path, env={"HF_HUB_OFFLINE": "1"})
    assert rc == 2, stderr
    assert message in stderr, stderr
    assert "Traceback" not in stderr
    assert heavy == [], f"a usage error imported {heavy}"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written where the user stands


def test_missing_extra_names_the_pip_line(tmp_path: Path) -> None:
    has_vllm = subprocess.run([sys.executable, "-c", "import vllm"], cwd=tmp_path, capture_output=True).returncode == 0
    if has_vllm:  # pragma: no cover - the vLLM venv runs only tests/vllm
        pytest.skip("vLLM is installed in this venv")
    (tmp_path / "c.jsonl").write_text("{}\n")
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    for args in (["serve", str(model)], ["generate", "--engine", "vllm", "--model", str(model), "--cases",
                                         "c.jsonl", "--out", "o.jsonl"]):
        rc, heavy, stderr = probe(*args, cwd=tmp_path)
        assert rc == 1, stderr
        assert "pip install 'mgd[vllm]'" in stderr and "Traceback" not in stderr
        assert "vllm" not in heavy


def test_version_comes_from_one_place() -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["--version"])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert mgd.__version__.count(".") == 2
    proc = subprocess.run([sys.executable, "-m", "mgd.cli", "--version"], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"mgd {mgd.__version__}"


def _parsers(parser: argparse.ArgumentParser, path: str = "mgd"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_flag_has_help_and_help_shows_defaults_and_examples() -> None:
    parsers = dict(_parsers(build_parser()))
    assert {"mgd generate", "mgd demo", "mgd bench run", "mgd bench build", "mgd lsp", "mgd doctor",
            "mgd serve"} <= set(parsers)
    for path, parser in parsers.items():
        for action in parser._actions:
            if action.help == argparse.SUPPRESS:  # removed spellings only: refused with the new name
                assert isinstance(action, RemovedFlag) and action.option_strings, (path, action.option_strings)
                continue
            assert action.help, f"{path}: {action.option_strings or action.dest} has no help"
        if path != "mgd" and path != "mgd bench":
            assert "examples:" in parser.format_help(), path
    generate = parsers["mgd generate"].format_help()
    assert "(default: 64)" in generate and "(default: 30000)" in generate
    assert "--wait-ms" in generate and "--wait-s" not in generate


def test_verbose_is_accepted_anywhere() -> None:
    parser = build_parser()
    assert verbosity(parser.parse_args(["generate", "--file", "f.py"])) == 0
    assert verbosity(parser.parse_args(["-v", "generate", "--file", "f.py"])) == 1
    assert verbosity(parser.parse_args(["generate", "--file", "f.py", "-v"])) == 1
    assert verbosity(parser.parse_args(["-v", "doctor", "-vv"])) == 3
    assert verbosity(parser.parse_args(["bench", "build", "--repo", "r", "--language", "python", "--out", "o",
                                        "-v"])) == 1


def test_wait_budgets_are_milliseconds_and_old_spellings_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert parser.parse_args(["generate"]).wait_ms == 30_000
    assert parser.parse_args(["generate", "--wait-ms", "250"]).wait_ms == 250
    assert capsys.readouterr().err == ""
    assert parser.parse_args(["lsp", "--wait-ms", "40"]).wait_ms == 40
    for old, line in ((["generate", "--wait-s", "1.5"], "--wait-s was removed; use --wait-ms"),
                      (["bench", "run", "--cases", "c", "--out", "o", "--wait-s", "2"], "--wait-s was removed"),
                      (["lsp", "--lookup-wait-ms", "50"], "--lookup-wait-ms was removed; use --wait-ms")):
        with pytest.raises(SystemExit) as exit_:
            parser.parse_args(old)
        assert exit_.value.code == 2 and line in capsys.readouterr().err


def test_session_config_wait_ms() -> None:
    assert SessionConfig(wait_ms=1500).wait_ms == 1500 and SessionConfig().wait_ms == 30_000
    with pytest.raises(TypeError):
        SessionConfig(wait_s=2.0)  # type: ignore[call-arg]  # the old spelling is gone
    with pytest.raises(ConfigError, match=">= 0"):
        SessionConfig(wait_ms=-1)


def test_stop_texts_decode_escapes_and_keep_non_ascii() -> None:
    assert unescape("\\n") == "\n" and unescape("\\t\\\\") == "\t\\"
    assert unescape("é\\n→") == "é\n→"  # unicode_escape made this 'Ã©\nâ\x86\x92'
    assert unescape("\\u00e9\\x41") == "éA"
    assert unescape("plain ünïcode") == "plain ünïcode"
    assert unescape("\\q") == "\\q"  # an unknown escape stays as typed


def test_bare_speculative_means_the_default_tree() -> None:
    from mgd.cli.commands.generate import _options
    from mgd.engines.speculative.decoder import DEFAULT_SPEC, SpecConfig

    parser = build_parser()
    args = parser.parse_args(["generate", "--speculative", "--file", "f.py"])
    assert _options(args).speculative == DEFAULT_SPEC
    SpecConfig.parse(DEFAULT_SPEC)  # a valid tree
    args = parser.parse_args(["generate", "--speculative", "ngram:8", "--file", "f.py"])
    assert _options(args).speculative == "ngram:8"
    assert _options(parser.parse_args(["generate", "--file", "f.py"])).speculative is None


def test_package_metadata_is_complete() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT" and (ROOT / "LICENSE").is_file()
    assert project["classifiers"] and project["urls"]
    core = " ".join(project["dependencies"])
    for needed in ("jedi-language-server", "tqdm", "pygls", "tree-sitter-python"):
        assert needed in core
    for package in ("monitors", "lsp_bridge", "mgd"):
        assert (ROOT / package / "py.typed").is_file()


def test_commands_load_only_what_they_need(tmp_path: Path) -> None:
    rc, heavy, _ = probe("--version", cwd=tmp_path)
    assert rc == 0 and heavy == []
    rc, heavy, stderr = probe("doctor", "--language", "python", "--json", cwd=tmp_path)
    assert rc == 0, stderr
    assert heavy == [], f"mgd doctor imported {heavy}"
    assert list(tmp_path.iterdir()) == []


def test_serve_takes_its_own_options_after_the_model() -> None:
    from mgd.cli.commands.serve import split_own_args

    args = build_parser().parse_args(["serve", "M", "--port", "8000", "-vv", "--lsp-server=pyright",
                                      "--allow-workspace", "/w", "--max-model-len", "512"])
    assert split_own_args(args) == ["--port", "8000", "--max-model-len", "512"]
    assert (args.lsp_server, args.allow_workspace, verbosity(args)) == ("pyright", ["/w"], 2)


@pytest.mark.parametrize(("flags", "heal"), [
    ([], True),  # monitors on: healed (the measured default)
    (["--no-monitors"], False),
    (["--no-heal"], False),
    (["--no-monitors", "--heal"], True),
    (["--heal"], True),
])
def test_generate_heals_by_default_with_monitors(flags, heal) -> None:
    from mgd.cli.commands.generate import _options

    assert _options(build_parser().parse_args(["generate", "--file", "f.py", *flags])).heal is heal
