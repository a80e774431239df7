"""Settings of an :class:`~mgd.session.MgdSession` (what flags and API callers set).

Precedence, the same for every engine (later wins): built-in defaults <
``mgd.toml`` < these settings (command-line flags, API arguments) < per-request
settings (a case's ``monitors``, vLLM's ``extra_args["mgd"]``). A field left at
``None`` means "not given": the layer below decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lsp_bridge.cpus import parse_cpus
from lsp_bridge.servers import ServerSpec
from mgd.config.file import MgdConfig
from monitors.errors import ConfigError
from monitors.registry import check_monitor_names

__all__ = ["SessionConfig"]


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Settings of a session.

    ``server``: a preset name (``jedi``, ``pyright``) or a :class:`ServerSpec`;
    None: ``[languages.X] server`` in ``mgd.toml``, else the language's default.
    ``monitors``: monitor names for every language (None: ``[languages.X]
    monitors`` in ``mgd.toml``, else :func:`~monitors.registry.default_monitors`).
    ``wait_ms``: how long one decoding step may wait for a language server before
    failing open, in milliseconds like every wait budget of mgd (a synchronous
    engine waits for the server's answer; the first request in a file can take
    seconds while the server analyses it, later ones take milliseconds; default
    30 s). ``request_timeout_s``: the deadline of each LSP request
    (None: the server spec's). ``allowed_roots``: if given, workspaces must lie
    inside one of them. ``config``: an :class:`~mgd.config.MgdConfig` or the
    path of a TOML file; None reads ``mgd.toml`` from each workspace root
    (built-in presets if there is none). ``max_inflight``: at most this many
    lookups per language server are sent at a time, the others wait in mgd where
    cancelling them is free (None: no limit). ``cache_size``/``cache_ttl_s``: the
    session's request cache (identical LSP requests are sent once). ``lsp_cpus``:
    CPUs reserved for language servers (every server, overriding ``[servers.X]
    cpus``) and for the session's LSP client thread; None: ``mgd.toml``'s, else
    wherever the process runs (see :mod:`lsp_bridge.cpus`). ``provisional``:
    non-blocking guides constrain a step whose member lookup is still running to
    provisional names (the last answer for the same receiver and scope, else the
    names written after that receiver in the document; see
    :mod:`lsp_bridge.provisional`) instead of leaving it free.
    """

    server: str | ServerSpec | None = None
    wait_ms: float = 30_000.0
    request_timeout_s: float | None = None
    monitors: tuple[str, ...] | None = None
    allowed_roots: tuple[Path, ...] | None = None
    config: MgdConfig | str | Path | None = None
    backend: str = "builtin"  # or "multilspy" (optional; see lsp_bridge.multilspy_backend)
    max_inflight: int | None = None
    cache_size: int = 1024
    cache_ttl_s: float = 60.0
    lsp_cpus: frozenset[int] | None = None
    provisional: bool = False

    def __post_init__(self) -> None:
        if self.backend not in ("builtin", "multilspy"):
            raise ConfigError(f"unknown backend {self.backend!r}; known: ['builtin', 'multilspy']")
        if self.monitors is not None:
            object.__setattr__(self, "monitors", check_monitor_names(self.monitors))
        if self.wait_ms < 0:
            raise ConfigError("wait_ms must be >= 0")
        if self.request_timeout_s is not None and self.request_timeout_s <= 0:
            raise ConfigError("request_timeout_s must be > 0")
        if self.max_inflight is not None and self.max_inflight < 1:
            raise ConfigError("max_inflight must be >= 1")
        if self.cache_size < 1 or self.cache_ttl_s < 0:
            raise ConfigError("cache_size must be >= 1 and cache_ttl_s >= 0")
        if self.lsp_cpus is not None:
            object.__setattr__(self, "lsp_cpus", parse_cpus(self.lsp_cpus, "lsp_cpus"))
