"""An mgd session: the shared vocabulary index, one background loop, one server pool.

Create one per process (or per engine) and make a :class:`SequenceGuide` for each
sequence to generate. Closing the session shuts every language server down.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsp_bridge import BackgroundLoop, ServerPool, ServerSpec, resolve_in_workspace
from monitors.base import Monitor
from mgd.config import DEFAULT_SERVERS as _BUILTIN_SERVERS
from mgd.config import KNOWN_MONITORS, MgdConfig, find_config, load_config
from monitors.guide import SequenceGuide
from lsp_bridge.lookup import BridgeLookup, DocumentContext, RequestCache
from monitors.errors import ConfigError, WorkspaceError
from monitors.healing import HealingMonitor
from monitors.languages import LanguageSpec
from monitors.registry import build_monitors
from monitors.vocab import VocabIndex

__all__ = ["DEFAULT_SERVERS", "MgdSession", "SessionConfig"]

#: Language server used per language when none is named.
DEFAULT_SERVERS: dict[str, str] = dict(_BUILTIN_SERVERS)



@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Settings of a session.

    ``server``: a preset name (``jedi``, ``pyright``) or a :class:`ServerSpec`;
    None picks the language's default. ``wait_s``: how long one decoding step may
    wait for a language server before failing open (a synchronous engine waits for
    the server's answer; the first request in a file can take seconds while the
    server analyses it, later ones take milliseconds). ``request_timeout_s``: the
    deadline of each LSP request (None: the server spec's). ``allowed_roots``:
    if given, workspaces must lie inside one of them. ``config``: an
    :class:`~mgd.config.MgdConfig` or the path of a TOML file; None reads
    ``mgd.toml`` from each workspace root (built-in presets if there is none).
    """

    server: str | ServerSpec | None = None
    wait_s: float = 30.0
    request_timeout_s: float | None = None
    monitors: tuple[str, ...] = ("dereference",)
    allowed_roots: tuple[Path, ...] | None = None
    config: MgdConfig | str | Path | None = None
    backend: str = "builtin"  # or "multilspy" (optional; see lsp_bridge.multilspy_backend)

    def __post_init__(self) -> None:
        if self.backend not in ("builtin", "multilspy"):
            raise ConfigError(f"unknown backend {self.backend!r}; known: ['builtin', 'multilspy']")
        unknown = [m for m in self.monitors if m not in KNOWN_MONITORS]
        if unknown:
            raise ConfigError(f"unknown monitor(s) {unknown}; known: {list(KNOWN_MONITORS)}")
        if self.wait_s < 0:
            raise ConfigError("wait_s must be >= 0")


class MgdSession:
    """Owns the background loop, the server pool and the vocabulary index."""

    def __init__(self, tokenizer_or_index: Any, config: SessionConfig | None = None) -> None:
        self.config = config or SessionConfig()
        self.index = (
            tokenizer_or_index
            if isinstance(tokenizer_or_index, VocabIndex)
            else VocabIndex.from_tokenizer(tokenizer_or_index)
        )
        self.loop = BackgroundLoop()
        self.loop.start()
        self.pool = ServerPool()
        if self.config.backend == "multilspy":
            from lsp_bridge.multilspy_backend import MultilspyPool

            self.pool = MultilspyPool()
        self._closed = False
        cfg = self.config.config
        self._explicit = cfg if isinstance(cfg, MgdConfig) or cfg is None else load_config(cfg)
        self._workspace_configs: dict[Path, MgdConfig] = {}
        #: LSP requests shared by every guide of the session (identical requests,
        #: import listings); see :mod:`lsp_bridge.lookup`.
        self.request_cache = RequestCache()

    # -- guides ----------------------------------------------------------------
    def settings(self, workspace: str | Path | None = None) -> MgdConfig:
        """The configuration in force: the explicit one, else ``<workspace>/mgd.toml``,
        else the built-in presets."""
        if self._explicit is not None:
            return self._explicit
        if workspace is None:
            return MgdConfig()
        ws = Path(workspace).resolve()
        if ws not in self._workspace_configs:
            self._workspace_configs[ws] = load_config(find_config(ws))
        return self._workspace_configs[ws]

    def server_for(self, language: LanguageSpec, workspace: str | Path | None = None) -> ServerSpec:
        server = self.config.server
        if isinstance(server, ServerSpec):
            return server
        settings = self.settings(workspace)
        if server is not None:
            return settings.server(server)
        return settings.server_for(language.name)

    def check_workspace(self, workspace: str | Path, file: str | Path) -> tuple[Path, Path]:
        """Resolve ``file`` inside ``workspace`` and the workspace inside the allowed roots."""
        path = resolve_in_workspace(workspace, file)
        ws = Path(workspace).resolve()
        roots = self.config.allowed_roots
        if roots is not None and not any(ws.is_relative_to(Path(r).resolve()) for r in roots):
            raise WorkspaceError(f"workspace {ws} is outside the allowed roots")
        return ws, path

    def guide(
        self,
        workspace: str | Path,
        file: str | Path,
        prefix: str,
        suffix: str = "",
        *,
        monitors: Iterable[str] | None = None,
        heal: bytes = b"",
    ) -> SequenceGuide:
        """A guide for one sequence generated into ``file`` between prefix and suffix.

        ``heal``: the bytes :func:`monitors.healing.heal_prompt` removed from the end
        of ``prefix`` (``prefix`` stays the user's original prompt); each monitor is
        wrapped in a :class:`~monitors.healing.HealingMonitor` that makes the model
        re-spell them first.
        """
        ws, path = self.check_workspace(workspace, file)
        settings = self.settings(ws)
        language = settings.language_for_path(path)
        spec = self.server_for(language, ws)
        configured = settings.monitors_for(language.name)
        if monitors is None:
            monitors = configured if configured is not None else self.config.monitors
        built: list[Monitor] = build_monitors(monitors, language, prefix)
        if heal:
            built = [HealingMonitor(heal, inner=m) for m in built] or [HealingMonitor(heal)]
        lookup = BridgeLookup(
            self.loop,
            self.pool,
            spec,
            DocumentContext(ws, path, prefix, suffix),
            timeout_s=self.config.request_timeout_s,
            cache=self.request_cache,
        )
        return SequenceGuide(built, lookup, self.index, wait_s=self.config.wait_s)

    def guides(self, n: int, *args: Any, **kwargs: Any) -> Sequence[SequenceGuide]:
        return [self.guide(*args, **kwargs) for _ in range(n)]

    # -- lifecycle ---------------------------------------------------------------
    def close(self) -> None:
        """Shut every language server down and stop the loop (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.loop.run(self.pool.close(), timeout=30.0)
        finally:
            self.loop.close()

    def __enter__(self) -> MgdSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
