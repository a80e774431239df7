"""ServerSpec, presets, command lookup and environment (no processes started)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest
from lsprotocol.types import CompletionItemKind as K

from lsp_bridge import PRESETS, ServerSpec, preset, resolve_command
from lsp_bridge.servers import server_env
from monitors.errors import ConfigError, ServerStartError


def spec(**kwargs: object) -> ServerSpec:
    return ServerSpec(**{"name": "x", "language_id": "python", "command": ("x",), **kwargs})  # type: ignore[arg-type]


def test_presets() -> None:
    assert set(PRESETS) == {"jedi", "pyright", "jdtls", "typescript", "tsgo", "gopls", "rust-analyzer"}
    assert preset("jedi").command == ("jedi-language-server",)
    assert preset("pyright").command == ("pyright-langserver", "--stdio")
    with pytest.raises(ConfigError, match="jedi, pyright, rust-analyzer"):
        preset("clangd")


def test_identifier_kinds() -> None:
    kinds = preset("jedi").identifier_kinds
    assert {K.Method, K.Field, K.Property, K.EnumMember, K.Variable} <= kinds
    assert not {K.Keyword, K.Snippet, K.Text, K.File, K.Folder, K.Operator} & kinds


def test_spec_is_frozen_hashable_and_copies_mappings() -> None:
    settings = {"a": {"b": 1}}
    s = spec(command=["x", "--stdio"], settings=settings)
    assert s.command == ("x", "--stdio")
    settings["a"] = {"b": 2}
    assert s.setting("a.b") == 1
    hash(s)
    with pytest.raises(AttributeError):
        s.name = "y"  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.settings["c"] = 3  # type: ignore[index]


@pytest.mark.parametrize(
    "bad",
    [
        {"name": ""},
        {"command": ()},
        {"command": ("",)},
        {"request_timeout_s": 0},
        {"start_timeout_s": -1},
        {"position_encodings": ("latin-1",)},
        {"position_encodings": ()},
    ],
)
def test_spec_validation(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        spec(**bad)


def test_settings_sections() -> None:
    s = spec(settings={"python": {"analysis": {"mode": "basic", "paths": ("a", "b")}}})
    assert s.setting("python.analysis") == {"mode": "basic", "paths": ["a", "b"]}
    assert s.setting("python.analysis.mode") == "basic"
    assert s.setting("python.nope") is None
    assert s.setting("python.analysis.mode.deeper") is None
    assert s.setting(None) == {"python": {"analysis": {"mode": "basic", "paths": ["a", "b"]}}}
    assert type(s.setting("python")) is dict  # JSON-ready, not a mapping proxy


def test_resolve_command_prefers_venv_bin() -> None:
    assert resolve_command(preset("jedi")) == [str(Path(sys.executable).parent / "jedi-language-server")]
    [path, arg] = resolve_command(preset("pyright"))
    assert Path(path).name == "pyright-langserver" and arg == "--stdio"


def test_resolve_command_absolute_and_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tool = tmp_path / "mgd-fake-tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    assert resolve_command(spec(command=(str(tool), "-v"))) == [str(tool), "-v"]
    monkeypatch.setenv("PATH", str(tmp_path))
    assert resolve_command(spec(command=("mgd-fake-tool",))) == [str(tool)]


def test_resolve_command_missing() -> None:
    with pytest.raises(ServerStartError, match="npm install"):
        resolve_command(ServerSpec("p", "python", ("mgd-missing",), install_hint="npm install p"))
    with pytest.raises(ServerStartError, match="not found"):
        resolve_command(spec(command=("/nonexistent/mgd-missing",)))


def test_server_env_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MGD_SECRET", "1")
    env = server_env(spec(env={"EXTRA": "yes"}))
    assert "MGD_SECRET" not in env
    assert env["EXTRA"] == "yes"
    assert set(env) <= {"PATH", "HOME", "LANG", "EXTRA"}
    assert env.get("PATH") == os.environ.get("PATH")
