"""The TOML configuration: presets, overrides, validation, and its use by the session."""

from __future__ import annotations

from pathlib import Path

import pytest
from lsprotocol.types import CompletionItemKind

from lsp_bridge import PRESETS
from mgd.config import DEFAULT_SERVERS, MgdConfig, load_config, parse_config
from mgd.session import MgdSession, SessionConfig
from monitors.errors import ConfigError

EXAMPLE = """
[languages.java]
server = "jdtls-big"
monitors = []

[languages.go]
extensions = [".go", ".gox"]
member_access_tokens = ["."]

[servers.jdtls-big]
base = "jdtls"
request_timeout_s = 20
env = { JDTLS_JAVA = "/opt/java/bin/java" }
settings.java.completion.maxResults = 7

[servers.gopls]
args = ["-rpc.trace"]
identifier_kinds = ["Field", "Method"]
initialization_options = { usePlaceholders = true }

[servers.echo-lsp]
command = ["./bin/echo-lsp", "--stdio"]
language_id = "python"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mgd.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_defaults_cover_every_language() -> None:
    cfg = MgdConfig()
    for language, server in DEFAULT_SERVERS.items():
        assert cfg.server_for(language) is PRESETS[server]
    assert cfg.server_for("java").name == "jdtls"
    assert cfg.server_for("go").name == "gopls"
    assert cfg.server_for("javascript").language_id_for("a.js") == "javascript"


def test_file_overrides_servers_and_languages(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, EXAMPLE))
    java = cfg.server_for("java")
    assert java.name == "jdtls-big"
    assert java.command == PRESETS["jdtls"].command
    assert java.request_timeout_s == 20.0
    assert java.env["JDTLS_JAVA"] == "/opt/java/bin/java"
    # tables merge: the preset's other settings stay
    assert java.setting("java.completion.maxResults") == 7
    assert java.setting("java.import.maven.enabled") is False
    assert cfg.configured_monitors("java") == ()
    assert cfg.configured_monitors("python") is None

    gopls = cfg.server_for("go")
    assert gopls.command == ("gopls", "-rpc.trace")
    assert gopls.identifier_kinds == frozenset({CompletionItemKind.Field, CompletionItemKind.Method})
    assert gopls.initialization_options["usePlaceholders"] is True
    assert gopls.initialization_options["completeUnimported"] is False
    assert cfg.language_for_path("x/main.gox").name == "go"
    assert cfg.language_for_path("main.go").member_access_tokens == (".",)

    echo = cfg.server("echo-lsp")
    assert echo.command == (str(tmp_path / "bin" / "echo-lsp"), "--stdio")
    assert PRESETS["gopls"].command == ("gopls",)  # presets are never mutated


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[servers.gopls]\nrequest_timeout = 3\n", "unknown key(s) ['request_timeout']"),
        ("[servers.gopls]\nrequest_timeout_s = 'fast'\n", "request_timeout_s must be a number"),
        ("[servers.gopls]\nrequest_timeout_s = -1\n", "request_timeout_s must be > 0"),
        ("[servers.gopls]\nargs = '-v'\n", "args must be a list of strings"),
        ("[servers.gopls]\nidentifier_kinds = ['Feild']\n", "unknown kind(s) ['Feild']"),
        ("[servers.mine]\nbase = 'nope'\n", "unknown server 'nope'"),
        ("[servers.mine]\ncommand = ['x']\n", "needs `command` and `language_id`"),
        ("[languages.cobol]\nserver = 'gopls'\n", "unknown language 'cobol'"),
        ("[languages.go]\nserver = 'nope'\n", "unknown server 'nope'"),
        ("[languages.go]\nmonitors = ['spelling']\n", "unknown monitor(s) ['spelling']"),
        ("[languages.go]\nextensions = ['go']\n", 'must look like ".ext"'),
        ("[language.go]\n", "unknown key(s) ['language']"),
        ("servers = 3\n", "servers must be a table"),
        ("[servers\n", "invalid TOML"),
    ],
)
def test_bad_files_raise_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)
    assert str(path.resolve()) in str(info.value) or "invalid TOML" in message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "absent.toml")


def test_parse_config_without_file() -> None:
    cfg = parse_config({"servers": {"jedi": {"request_timeout_s": 9}}})
    assert cfg.server("jedi").request_timeout_s == 9.0
    assert cfg.source is None


def test_session_reads_the_workspace_file(tmp_path: Path, tiny_tokenizer) -> None:
    (tmp_path / "main.go").write_text("package main\n", encoding="utf-8")
    (tmp_path / "Main.java").write_text("class Main {}\n", encoding="utf-8")
    write(tmp_path, EXAMPLE)
    with MgdSession(tiny_tokenizer) as session:
        (tmp_path / "main.py").write_text("import os\n", encoding="utf-8")
        off = session.guide(tmp_path, "Main.java", "class Main { void f(Main m) { m.")
        on = session.guide(tmp_path, "main.py", "import os\nos.")
        assert off.report().get("triggers", 0) == 0  # monitors = [] for java
        assert on.report()["triggers"] == 1
        assert session.server_for(session.settings(tmp_path).language_spec("go"), tmp_path).command[-1] == "-rpc.trace"
        # an explicit config wins over the workspace file
    with MgdSession(tiny_tokenizer, SessionConfig(config=MgdConfig())) as session:
        assert session.server_for(session.settings().language_spec("java"), tmp_path).name == "jdtls"


def test_session_reports_a_broken_workspace_file(tmp_path: Path, tiny_tokenizer) -> None:
    (tmp_path / "main.go").write_text("package main\n", encoding="utf-8")
    write(tmp_path, "[servers.gopls]\ncolour = 'red'\n")
    with MgdSession(tiny_tokenizer) as session, pytest.raises(ConfigError, match="colour"):
        session.guide(tmp_path, "main.go", "package main\n")
