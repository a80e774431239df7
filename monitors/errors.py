"""The one error hierarchy of mgd.

    MgdError                      base of everything mgd raises on purpose
    ├── ConfigError               bad settings (unknown key, wrong type, bad value)
    ├── WorkspaceError            a path outside the allowed workspace, or missing
    ├── TokenizerError            a tokenizer mgd cannot index
    └── LspError                  anything between mgd and a language server
        ├── LspTimeout            a request passed its deadline (it was cancelled)
        ├── ServerExited          the server process died or exited
        ├── ServerStartError      the server could not be started or initialized
        └── LspResponseError      the server answered with a JSON-RPC error

Data problems during decoding (a server that returns nothing useful, a dead server) never
raise into the engine: monitors fail open and count it. Misuse of the API raises.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "LspError",
    "LspResponseError",
    "LspTimeout",
    "MgdError",
    "ServerExited",
    "ServerStartError",
    "TokenizerError",
    "WorkspaceError",
]


class MgdError(Exception):
    """Base class of every error mgd raises on purpose."""


class ConfigError(MgdError, ValueError):
    """Settings that are malformed: unknown keys, wrong types, bad values."""


class WorkspaceError(MgdError, ValueError):
    """A file or workspace that is missing or outside what is allowed."""


class TokenizerError(MgdError, ValueError):
    """A tokenizer that mgd cannot index."""


class LspError(MgdError):
    """A problem talking to a language server."""


class LspTimeout(LspError, TimeoutError):
    """A request passed its deadline; it was cancelled with ``$/cancelRequest``."""


class ServerExited(LspError):
    """The server process exited; every pending request fails with this."""


class ServerStartError(LspError):
    """The server could not be started or did not initialize."""


class LspResponseError(LspError):
    """The server answered a request with a JSON-RPC error."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
