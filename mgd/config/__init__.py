"""Every setting of mgd, in one place: ``mgd.toml`` and the typed settings objects.

* :mod:`.file` — ``mgd.toml`` (the only reader): servers, languages, ``[editor]``;
* :mod:`.session` — :class:`SessionConfig` (flags and API arguments of a session);
* :mod:`.editor` — :class:`EditorOptions` (``mgd lsp``);
* :mod:`.request` — :class:`MgdSettings` (per-request settings, vLLM ``mgd``);
* :mod:`.validate` — the one validator behind all of them.

Precedence everywhere (later wins): defaults < ``mgd.toml`` < flags < per-request.
"""

from mgd.config.editor import EditorOptions
from mgd.config.file import (
    CONFIG_FILE,
    DEFAULT_SERVERS,
    LanguageConfig,
    MgdConfig,
    find_config,
    load_config,
    parse_config,
)
from mgd.config.request import (
    ALLOWED_WORKSPACES_ENV,
    DEFAULT_WAIT_MS,
    KEY,
    MAX_TEXT_CHARS,
    MAX_WAIT_MS,
    MgdSettings,
    allowed_roots_from_env,
    settings_of,
    settings_payload,
)
from mgd.config.session import SessionConfig

__all__ = [
    "ALLOWED_WORKSPACES_ENV",
    "CONFIG_FILE",
    "DEFAULT_SERVERS",
    "DEFAULT_WAIT_MS",
    "KEY",
    "MAX_TEXT_CHARS",
    "MAX_WAIT_MS",
    "EditorOptions",
    "LanguageConfig",
    "MgdConfig",
    "MgdSettings",
    "SessionConfig",
    "allowed_roots_from_env",
    "find_config",
    "load_config",
    "parse_config",
    "settings_of",
    "settings_payload",
]
