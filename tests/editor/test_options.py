"""Editor settings: merging, type checks, TOML (through the one config reader), the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from mgd.cli.commands.lsp import flags_from_args
from mgd.cli.main import build_parser
from mgd.config import EditorOptions, load_config
from monitors.errors import ConfigError


def test_merge_checks_keys_and_types() -> None:
    o = EditorOptions().merged({"debounce-ms": 10, "latency_budget_ms": 500, "temperature": 1, "server": "pyright"})
    assert (o.debounce_ms, o.latency_budget_ms, o.temperature, o.server) == (10, 500, 1.0, "pyright")
    with pytest.raises(ConfigError, match="unknown setting 'nope'"):
        EditorOptions().merged({"nope": 1})
    for old in ("lookup_wait_ms", "lookup-wait-ms"):  # the old spelling: refused, naming the new one
        with pytest.raises(ConfigError, match=f"'{old}' is now spelled 'wait_ms'"):
            EditorOptions().merged({old: 100})
    assert EditorOptions().merged({"wait-ms": 100}).wait_ms == 100
    with pytest.raises(ConfigError, match="expected an integer"):
        EditorOptions().merged({"debounce_ms": "10"})
    with pytest.raises(ConfigError, match="true/false"):
        EditorOptions().merged({"monitors": 1})
    with pytest.raises(ConfigError, match="one of"):
        EditorOptions().merged({"fim": "maybe"})
    with pytest.raises(ConfigError, match=">= 1"):
        EditorOptions().merged({"max_lines": 0})
    with pytest.raises(ConfigError, match="top_p"):
        EditorOptions().merged({"top_p": 0})
    with pytest.raises(ConfigError, match="table/object"):
        EditorOptions().merged([1, 2])  # type: ignore[arg-type]


def test_remote_url_selects_the_remote_engine() -> None:
    o = EditorOptions().merged({"remote_url": "http://127.0.0.1:8000"})
    assert o.engine == "remote"
    with pytest.raises(ConfigError, match="remote_url"):
        EditorOptions(engine="remote")


def test_toml_editor_table_is_read_and_checked_by_the_config_reader(tmp_path: Path) -> None:
    f = tmp_path / "mgd.toml"
    f.write_text('[editor]\ndebounce_ms = 5\nserver = "pyright"\n')
    assert dict(load_config(f).editor) == {"debounce_ms": 5, "server": "pyright"}
    f.write_text('[editor]\ndebounce_ms = "5"\n')
    with pytest.raises(ConfigError, match="editor: debounce_ms: expected an integer"):
        load_config(f)
    f.write_text("[editor\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(f)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")


def test_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MGD_MODEL", raising=False)
    args = build_parser().parse_args(["lsp", "--remote", "http://h:1", "--debounce-ms", "0", "--no-monitors",
                                      "--top-p", "0.9"])
    flags = flags_from_args(args)
    assert flags == {"remote_url": "http://h:1", "debounce_ms": 0, "monitors": False, "top_p": 0.9}
    o = EditorOptions().merged(flags)
    assert (o.engine, o.remote_url, o.debounce_ms, o.monitors, o.top_p) == ("remote", "http://h:1", 0, False, 0.9)
    assert o.latency_budget_ms == EditorOptions().latency_budget_ms


def _init(root: Path, options: object = None):
    from lsprotocol import types

    return types.InitializeParams(capabilities=types.ClientCapabilities(), root_uri=root.as_uri(),
                                  initialization_options=options)


def test_server_precedence_toml_then_flags_then_initialization_options(tmp_path: Path) -> None:
    from mgd.editor.server import build_server

    (tmp_path / "mgd.toml").write_text(
        '[editor]\ndebounce_ms = 5\nmax_lines = 7\nserver = "pyright"\nlatency_budget_ms = 900\n\n'
        '[languages.python]\nserver = "jedi"\nextensions = [".py", ".pyw"]\n'
    )
    # --max-lines 9 and, explicitly, --latency-budget-ms at its default value: both beat the file.
    server = build_server({"max_lines": 9, "latency_budget_ms": EditorOptions().latency_budget_ms})
    server.configure(_init(tmp_path, {"mgd": {"server": "jedi"}}))
    o = server.options
    assert (o.debounce_ms, o.max_lines, o.server) == (5, 9, "jedi")
    assert o.latency_budget_ms == EditorOptions().latency_budget_ms  # the flag, though equal to the default
    assert server.config.source == (tmp_path / "mgd.toml").resolve()
    assert server.roots == [tmp_path.resolve()]
    # The workspace config decides which files are in a language mgd knows (not the built-in table).
    assert server.language_of(tmp_path / "tool.pyw") is not None
    assert server.language_of(tmp_path / "notes.txt") is None
    with pytest.raises(ConfigError, match="initializationOptions: unknown setting"):
        server.configure(_init(tmp_path, {"bogus": 1}))
    server.worker.shutdown()


def test_bad_flags_fail_when_the_server_is_built() -> None:
    from mgd.editor.server import build_server

    with pytest.raises(ConfigError, match="command line: debounce_ms"):
        build_server({"debounce_ms": "soon"})
