"""An mgd session: the shared vocabulary index, one background loop, one server pool.

Create one per process (or per engine) and make a :class:`SequenceGuide` for each
sequence to generate. Closing the session shuts every language server down.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsp_bridge import BackgroundLoop, ServerPool, ServerSpec, preset, resolve_in_workspace
from monitors.base import Monitor
from monitors.decoding.guide import SequenceGuide
from monitors.decoding.lookup import BridgeLookup, DocumentContext
from monitors.dereference import DereferenceMonitor
from monitors.errors import ConfigError, WorkspaceError
from monitors.languages import LanguageSpec, language_for_path
from monitors.vocab import VocabIndex

__all__ = ["DEFAULT_SERVERS", "MgdSession", "SessionConfig"]

#: Language server used per language when none is named.
DEFAULT_SERVERS: dict[str, str] = {"python": "jedi"}

KNOWN_MONITORS = ("dereference",)


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """Settings of a session.

    ``server``: a preset name (``jedi``, ``pyright``) or a :class:`ServerSpec`;
    None picks the language's default. ``wait_s``: how long one decoding step may
    wait for a language server before failing open (a synchronous engine waits for
    the server's answer; the first request in a file can take seconds while the
    server analyses it, later ones take milliseconds). ``request_timeout_s``: the
    deadline of each LSP request (None: the server spec's). ``allowed_roots``:
    if given, workspaces must lie inside one of them.
    """

    server: str | ServerSpec | None = None
    wait_s: float = 30.0
    request_timeout_s: float | None = None
    monitors: tuple[str, ...] = ("dereference",)
    allowed_roots: tuple[Path, ...] | None = None

    def __post_init__(self) -> None:
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
        self._closed = False

    # -- guides ----------------------------------------------------------------
    def server_for(self, language: LanguageSpec) -> ServerSpec:
        server = self.config.server
        if isinstance(server, ServerSpec):
            return server
        name = server or DEFAULT_SERVERS.get(language.name)
        if name is None:
            raise ConfigError(f"no language server configured for {language.name}")
        return preset(name)

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
    ) -> SequenceGuide:
        """A guide for one sequence generated into ``file`` between prefix and suffix."""
        ws, path = self.check_workspace(workspace, file)
        language = language_for_path(path)
        spec = self.server_for(language)
        names = tuple(monitors) if monitors is not None else self.config.monitors
        built: list[Monitor] = []
        for name in names:
            if name == "dereference":
                built.append(DereferenceMonitor(language, prefix))
            else:
                raise ConfigError(f"unknown monitor {name!r}; known: {list(KNOWN_MONITORS)}")
        lookup = BridgeLookup(
            self.loop,
            self.pool,
            spec,
            DocumentContext(ws, path, prefix, suffix),
            timeout_s=self.config.request_timeout_s,
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
