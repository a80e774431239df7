"""Editor settings: merging, type checks, TOML, the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from mgd.editor.options import EditorOptions, load_toml_options
from mgd.cli import build_parser
from mgd.cli.commands.lsp import options_from_args
from monitors.errors import ConfigError


def test_merge_checks_keys_and_types() -> None:
    o = EditorOptions().merged({"debounce-ms": 10, "latency_budget_ms": 500, "temperature": 1, "server": "pyright"})
    assert (o.debounce_ms, o.latency_budget_ms, o.temperature, o.server) == (10, 500, 1.0, "pyright")
    with pytest.raises(ConfigError, match="unknown setting 'nope'"):
        EditorOptions().merged({"nope": 1})
    with pytest.raises(ConfigError, match="expected an integer"):
        EditorOptions().merged({"debounce_ms": "10"})
    with pytest.raises(ConfigError, match="true/false"):
        EditorOptions().merged({"monitors": 1})
    with pytest.raises(ConfigError, match="one of"):
        EditorOptions().merged({"fim": "maybe"})
    with pytest.raises(ConfigError, match=">= 1"):
        EditorOptions().merged({"max_lines": 0})
    with pytest.raises(ConfigError, match="table/object"):
        EditorOptions().merged([1, 2])  # type: ignore[arg-type]


def test_remote_url_selects_the_remote_engine() -> None:
    o = EditorOptions().merged({"remote_url": "http://127.0.0.1:8000"})
    assert o.engine == "remote"
    with pytest.raises(ConfigError, match="remote_url"):
        EditorOptions(engine="remote")


def test_toml(tmp_path: Path) -> None:
    f = tmp_path / "mgd.toml"
    f.write_text('[editor]\ndebounce_ms = 5\nserver = "pyright"\n\n[other]\nx = 1\n')
    assert load_toml_options(f) == {"debounce_ms": 5, "server": "pyright"}
    f.write_text("[editor\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_toml_options(f)
    with pytest.raises(ConfigError, match="cannot read"):
        load_toml_options(tmp_path / "missing.toml")


def test_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MGD_MODEL", raising=False)
    args = build_parser().parse_args(["lsp", "--remote", "http://h:1", "--debounce-ms", "0", "--no-monitors"])
    o = options_from_args(args)
    assert (o.engine, o.remote_url, o.debounce_ms, o.monitors) == ("remote", "http://h:1", 0, False)
    assert o.latency_budget_ms == EditorOptions().latency_budget_ms


def test_server_precedence_toml_then_flags_then_initialization_options(tmp_path: Path) -> None:
    from lsprotocol import types

    from mgd.editor.server import build_server

    (tmp_path / "mgd.toml").write_text(
        '[editor]\ndebounce_ms = 5\nmax_lines = 7\nserver = "pyright"\n\n[languages.python]\nserver = "jedi"\n'
    )
    server = build_server(EditorOptions().merged({"max_lines": 9}))  # as if from --max-lines 9
    server.configure(types.InitializeParams(capabilities=types.ClientCapabilities(), root_uri=tmp_path.as_uri(),
                                            initialization_options={"mgd": {"server": "jedi"}}))
    o = server.options
    assert (o.debounce_ms, o.max_lines, o.server) == (5, 9, "jedi")
    assert o.config_file == str(tmp_path / "mgd.toml")
    assert server.roots == [tmp_path.resolve()]
    with pytest.raises(ConfigError, match="initializationOptions: unknown setting"):
        server.configure(types.InitializeParams(capabilities=types.ClientCapabilities(), root_uri=tmp_path.as_uri(),
                                                initialization_options={"bogus": 1}))
    server.worker.shutdown()
