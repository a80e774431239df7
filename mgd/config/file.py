"""Per-language configuration: built-in presets plus a TOML file (``mgd.toml``).

A file (``mgd.toml`` in the workspace, or ``--config PATH``) overrides anything::

    [languages.java]
    server = "jdtls"                 # a preset or a [servers.NAME] table
    monitors = ["dereference"]       # [] turns monitors off; "all" = every monitor for it
    extensions = [".java", ".jav"]   # files routed to this language
    member_access_tokens = ["."]     # trigger rule: which tokens are member-access dots

    [servers.jdtls]                  # override a preset (tables are merged) ...
    request_timeout_s = 15
    cpus = "6-7"                     # the server's CPUs (GPU hosts: cores the engine leaves free)
    env = { JDTLS_JAVA = "/opt/jdk-21/bin/java" }
    settings.java.completion.maxResults = 0

    [servers.my-gopls]               # ... or define a new server from one
    base = "gopls"
    args = ["-remote=auto"]

    [editor]                         # settings of ``mgd lsp`` (:class:`~mgd.config.editor.EditorOptions`)
    debounce_ms = 60

This module is the only reader of the file: every engine (``mgd generate``, the
vLLM processors, ``mgd lsp``) gets the same :class:`MgdConfig` from it. Unknown
keys and wrong types raise :class:`~monitors.errors.ConfigError` naming the file
and the key. Built-in defaults: see :data:`DEFAULT_SERVERS`.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from types import MappingProxyType
from typing import Any

from lsprotocol.types import CompletionItemKind

from lsp_bridge.cpus import parse_cpus
from lsp_bridge.servers import PRESETS, ServerSpec, plain_data
from mgd.config.editor import EditorOptions
from mgd.config.validate import check_keys, number, str_list, sub_table, table_value
from monitors.errors import ConfigError
from monitors.languages import LANGUAGES, LanguageSpec, language_for_path
from monitors.registry import check_monitor_names

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_SERVERS",
    "LanguageConfig",
    "MgdConfig",
    "find_config",
    "load_config",
    "parse_config",
]

#: The project file looked up in the workspace root.
CONFIG_FILE = "mgd.toml"

#: Language server used per language when the configuration names none.
DEFAULT_SERVERS: Mapping[str, str] = MappingProxyType(
    {
        "python": "jedi",
        "java": "jdtls",
        "typescript": "typescript",
        "tsx": "typescript",
        "javascript": "typescript",
        "go": "gopls",
        "rust": "rust-analyzer",
    }
)

_FLOAT_KEYS = (
    "start_timeout_s",
    "request_timeout_s",
    "first_request_timeout_s",
    "shutdown_timeout_s",
    "empty_retry_s",
)
_STR_LIST_KEYS = ("command", "args", "file_extensions", "position_encodings", "identifier_kinds")
_TABLE_KEYS = ("env", "extension_language_ids", "initialization_options", "settings")
_SERVER_KEYS = frozenset({"base", "language_id", "install_hint", "cpus", *_FLOAT_KEYS, *_STR_LIST_KEYS,
                          *_TABLE_KEYS})
_LANGUAGE_KEYS = frozenset({"server", "monitors", "extensions", "member_access_tokens", "reject_ancestor_types"})
_TOP_KEYS = frozenset({"languages", "servers", "editor"})
_KINDS = {kind.name.lower(): kind for kind in CompletionItemKind}


@dataclass(frozen=True, slots=True)
class LanguageConfig:
    """Overrides for one language (None: keep the built-in behaviour)."""

    server: str | None = None
    monitors: tuple[str, ...] | None = None
    extensions: tuple[str, ...] | None = None
    member_access_tokens: tuple[str, ...] | None = None
    reject_ancestor_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MgdConfig:
    """Servers (presets merged with the file's tables) and per-language settings."""

    servers: Mapping[str, ServerSpec] = field(default_factory=lambda: PRESETS)
    languages: Mapping[str, LanguageConfig] = field(default_factory=lambda: MappingProxyType({}))
    source: Path | None = None
    #: The ``[editor]`` table as written (validated against :class:`EditorOptions`);
    #: ``mgd lsp`` applies it between the defaults and its flags.
    editor: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def server(self, name: str) -> ServerSpec:
        """The server called ``name``; :class:`ConfigError` lists the known ones."""
        spec = self.servers.get(name)
        if spec is None:
            raise ConfigError(f"unknown language server {name!r}; known: {', '.join(sorted(self.servers))}")
        return spec

    def server_for(self, language: str) -> ServerSpec:
        """The server configured for ``language`` (else its built-in default)."""
        name = self._language(language).server or DEFAULT_SERVERS.get(language)
        if name is None:
            raise ConfigError(f"no language server configured for {language}")
        return self.server(name)

    def configured_monitors(self, language: str) -> tuple[str, ...] | None:
        """The monitors ``[languages.<language>] monitors`` names (None: not configured)."""
        return self._language(language).monitors

    def language_for_path(self, path: str | PurePath) -> LanguageSpec:
        """The language of ``path``, with the configured extensions and trigger rules."""
        suffix = PurePath(path).suffix.lower()
        spec = None
        for name, lang in self.languages.items():
            if lang.extensions is not None and suffix in lang.extensions:
                spec = LANGUAGES[name]
                break
        if spec is None:
            spec = language_for_path(path)
            own = self._language(spec.name).extensions
            if own is not None and suffix not in own:
                raise ConfigError(f"{suffix} files are not routed to {spec.name} by {self.source}")
        return self.language_spec(spec.name)

    def language_spec(self, name: str) -> LanguageSpec:
        """The tree-sitter spec of ``name`` with the configured trigger rules."""
        spec = LANGUAGES[name]
        lang = self._language(name)
        changes: dict[str, Any] = {}
        if lang.member_access_tokens is not None:
            changes["member_access_tokens"] = lang.member_access_tokens
        if lang.reject_ancestor_types:
            changes["reject_ancestor_types"] = spec.reject_ancestor_types | frozenset(lang.reject_ancestor_types)
        if lang.extensions is not None:
            changes["extensions"] = lang.extensions
        return dataclasses.replace(spec, **changes) if changes else spec

    def _language(self, name: str) -> LanguageConfig:
        return self.languages.get(name) or LanguageConfig()


def find_config(workspace: str | Path) -> Path | None:
    """``<workspace>/mgd.toml`` if it exists."""
    path = Path(workspace) / CONFIG_FILE
    return path if path.is_file() else None


def load_config(path: str | Path | None = None) -> MgdConfig:
    """The built-in configuration, overridden by the TOML file at ``path`` (if given)."""
    if path is None:
        return MgdConfig()
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    return parse_config(data, source=path.resolve())


def parse_config(data: Mapping[str, Any], source: Path | None = None) -> MgdConfig:
    """Validate decoded TOML ``data`` and merge it over the built-in presets."""
    where = str(source) if source is not None else "config"
    check_keys(data, _TOP_KEYS, where)
    servers = dict(PRESETS)
    for name, table in sub_table(data, "servers", where).items():
        servers[name] = _server(name, table_value(table, f"{where}: servers.{name}"), servers, source)
    languages: dict[str, LanguageConfig] = {}
    for name, table in sub_table(data, "languages", where).items():
        if name not in LANGUAGES:
            raise ConfigError(f"{where}: unknown language {name!r}; known: {', '.join(sorted(LANGUAGES))}")
        lang = _language(table_value(table, f"{where}: languages.{name}"), f"{where}: languages.{name}")
        if lang.server is not None and lang.server not in servers:
            raise ConfigError(
                f"{where}: languages.{name}.server: unknown server {lang.server!r}; known: {', '.join(sorted(servers))}"
            )
        languages[name] = lang
    editor = dict(sub_table(data, "editor", where))
    EditorOptions().merged(editor, f"{where}: editor")  # validates; applied by mgd lsp
    return MgdConfig(MappingProxyType(servers), MappingProxyType(languages), source, MappingProxyType(editor))


# -- validation ------------------------------------------------------------------


def _merge(base: Any, over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` deep-merged onto ``base`` (tables merge, everything else replaces)."""
    out = dict(plain_data(base)) if isinstance(base, Mapping) else {}
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = plain_data(value)
    return out


def _command(words: tuple[str, ...], source: Path | None) -> tuple[str, ...]:
    """A ``./`` or ``../`` program is relative to the config file's directory."""
    if words and source is not None and words[0].startswith(("./", "../")):
        return (str((source.parent / words[0]).resolve()), *words[1:])
    return words


def _server(name: str, table: Mapping[str, Any], known: Mapping[str, ServerSpec], source: Path | None) -> ServerSpec:
    where = f"{source or 'config'}: servers.{name}"
    check_keys(table, _SERVER_KEYS, where)
    base_name = table.get("base", name)
    if not isinstance(base_name, str):
        raise ConfigError(f"{where}.base must be a string")
    base = known.get(base_name)
    if base is None and "base" in table:
        raise ConfigError(f"{where}.base: unknown server {base_name!r}; known: {', '.join(sorted(known))}")
    if base is None and ("command" not in table or "language_id" not in table):
        raise ConfigError(f"{where}: a new server needs `command` and `language_id` (or `base = \"<preset>\"`)")
    changes: dict[str, Any] = {"name": name}
    for key in _FLOAT_KEYS:
        if key in table:
            changes[key] = number(table[key], f"{where}.{key}")
    for key in ("language_id", "install_hint"):
        if key in table:
            if not isinstance(table[key], str):
                raise ConfigError(f"{where}.{key} must be a string")
            changes[key] = table[key]
    command = base.command if base is not None else ()
    if "command" in table:
        command = _command(str_list(table["command"], f"{where}.command"), source)
    if "args" in table:
        command = (*command, *str_list(table["args"], f"{where}.args"))
    changes["command"] = command
    for key in ("file_extensions", "position_encodings"):
        if key in table:
            changes[key] = str_list(table[key], f"{where}.{key}")
    if "cpus" in table:  # "2-3,6" or [2, 3, 6]
        changes["cpus"] = parse_cpus(table["cpus"], f"{where}.cpus")
    if "identifier_kinds" in table:
        kinds = str_list(table["identifier_kinds"], f"{where}.identifier_kinds")
        bad = [k for k in kinds if k.lower() not in _KINDS]
        if bad:
            raise ConfigError(f"{where}.identifier_kinds: unknown kind(s) {bad}; known: {sorted(k.name for k in CompletionItemKind)}")
        changes["identifier_kinds"] = frozenset(_KINDS[k.lower()] for k in kinds)
    for key in _TABLE_KEYS:
        if key in table:
            value = table_value(table[key], f"{where}.{key}")
            if key in ("env", "extension_language_ids"):
                if not all(isinstance(v, str) for v in value.values()):
                    raise ConfigError(f"{where}.{key} values must be strings")
                changes[key] = {**(getattr(base, key) if base is not None else {}), **value}
            else:
                changes[key] = _merge(getattr(base, key, None), value)
    try:
        return ServerSpec(**changes) if base is None else dataclasses.replace(base, **changes)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def _language(table: Mapping[str, Any], where: str) -> LanguageConfig:
    check_keys(table, _LANGUAGE_KEYS, where)
    server = table.get("server")
    if server is not None and not isinstance(server, str):
        raise ConfigError(f"{where}.server must be a string")
    monitors = None
    if "monitors" in table:
        monitors = check_monitor_names(str_list(table["monitors"], f"{where}.monitors"), f"{where}.monitors")
    extensions = None
    if "extensions" in table:
        extensions = tuple(e.lower() for e in str_list(table["extensions"], f"{where}.extensions"))
        if not all(e.startswith(".") and len(e) > 1 for e in extensions):
            raise ConfigError(f"{where}.extensions must look like \".ext\"")
    tokens = None
    if "member_access_tokens" in table:
        tokens = str_list(table["member_access_tokens"], f"{where}.member_access_tokens")
        if not tokens or not all(tokens):
            raise ConfigError(f"{where}.member_access_tokens must be non-empty strings")
    reject = ()
    if "reject_ancestor_types" in table:
        reject = str_list(table["reject_ancestor_types"], f"{where}.reject_ancestor_types")
    return LanguageConfig(server, monitors, extensions, tokens, reject)
