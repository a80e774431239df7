"""Optional backend on Microsoft's ``multilspy`` (for users who are online).

``MultilspyPool`` is a :class:`~lsp_bridge.pool.ServerPool` whose servers are
started and driven by multilspy instead of mgd's own client; select it with
``SessionConfig(backend="multilspy")``. multilspy picks and (except for Python)
downloads the server itself, from the spec's ``language_id``; the spec's
command, settings and initialization options are not used. Install it with
``pip install --no-deps multilspy psutil requests`` (its own pins would
downgrade jedi-language-server and pygls).

Limits (see docs/languages.md): offline only Python works (it runs
``jedi-language-server`` from ``PATH``); incomplete lists are accepted;
positions are Python characters, not UTF-16 (wrong after astral characters);
every completion replaces the whole document; there is no ``$/cancelRequest``
(mgd's deadline still bounds each call); shutdown is bounded here by
``spec.shutdown_timeout_s`` and the process is then killed. The built-in client
stays the default.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

from lsprotocol.types import CompletionItemKind

from monitors.errors import LspTimeout, ServerExited, ServerStartError
from monitors.identifiers import IDENTIFIER

from .client import CompletionResult
from .pool import ServerPool
from .servers import ServerSpec, resolve_command
from .workspace import resolve_workspace

__all__ = ["MULTILSPY_LANGUAGES", "MultilspyPool", "MultilspyServer"]

#: LSP language ids mgd knows -> multilspy's ``code_language``.
MULTILSPY_LANGUAGES = {
    "python": "python",
    "java": "java",
    "typescript": "typescript",
    "javascript": "javascript",
    "go": "go",
    "rust": "rust",
}


class MultilspyServer:
    """One multilspy language server; the subset of :class:`LspServer` the pool uses."""

    def __init__(self, spec: ServerSpec, root: Path, ls: Any, context: Any) -> None:
        self.spec = spec
        self.root = root
        self._ls = ls
        self._context = context
        self._texts: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self._closed = False

    @classmethod
    async def start(cls, spec: ServerSpec, root: str | Path) -> MultilspyServer:
        try:
            from multilspy import LanguageServer  # type: ignore[import-untyped]
            from multilspy.multilspy_config import MultilspyConfig  # type: ignore[import-untyped]
            from multilspy.multilspy_logger import MultilspyLogger  # type: ignore[import-untyped]
        except ImportError as exc:
            raise ServerStartError(
                f"the multilspy backend is not installed ({exc}): pip install --no-deps multilspy psutil requests"
            ) from exc
        language = MULTILSPY_LANGUAGES.get(spec.language_id)
        if language is None:
            raise ServerStartError(f"multilspy backend: no multilspy language for {spec.language_id!r}")
        root = resolve_workspace(root)
        options: dict[str, Any] = {"code_language": language}
        if language == "python" and len(spec.command) == 1:
            options["server_binary"] = resolve_command(spec)[0]  # the venv's jedi-language-server
        try:
            ls = LanguageServer.create(MultilspyConfig.from_dict(options), MultilspyLogger(), str(root))
            context = ls.start_server()
            await asyncio.wait_for(context.__aenter__(), spec.start_timeout_s)
        except TimeoutError as exc:
            raise ServerStartError(f"multilspy {language} server did not start within {spec.start_timeout_s:g}s") \
                from exc
        except Exception as exc:  # multilspy raises its own and plain exceptions
            raise ServerStartError(f"multilspy {language} server failed to start: {exc}") from exc
        return cls(spec, root, ls, context)

    @property
    def _process(self) -> Any:
        return getattr(getattr(self._ls, "server", None), "process", None)

    @property
    def pid(self) -> int | None:
        proc = self._process
        return None if proc is None else proc.pid

    @property
    def returncode(self) -> int | None:
        proc = self._process
        return None if proc is None else proc.returncode

    @property
    def alive(self) -> bool:
        proc = self._process
        return not self._closed and proc is not None and proc.returncode is None

    async def complete(self, path: Path, text: str, offset: int, timeout: float | None = None,
                       *, resolve: int = 0) -> CompletionResult:
        """Completions at ``offset`` of ``text`` (the content of ``path``). ``resolve`` is
        accepted for the pool's interface; multilspy has no ``completionItem/resolve``, so
        the items stay plain (a monitor that wanted member types gets no preference)."""
        if not self.alive:
            raise ServerExited(f"multilspy server {self.spec.name!r} is not running")
        started = time.perf_counter()
        seconds = self.spec.request_timeout_s if timeout is None else timeout
        rel = str(path.relative_to(self.root))
        line = text.count("\n", 0, offset)
        column = offset - (text.rfind("\n", 0, offset) + 1)
        try:
            async with asyncio.timeout(seconds), self._lock:
                with self._ls.open_file(rel):
                    self._replace(rel, text)
                    items = await self._ls.request_completions(rel, line, column, allow_incomplete=True)
        except TimeoutError:
            raise LspTimeout(f"multilspy completion in {rel} timed out after {seconds:g}s") from None
        names = set()
        for item in items:
            kind = item.get("kind")
            if kind is not None and CompletionItemKind(kind) not in self.spec.identifier_kinds:
                continue
            match = IDENTIFIER.match(item.get("completionText", ""))
            if match is not None:
                names.add(match.group())
        return CompletionResult(frozenset(names), (), False, (time.perf_counter() - started) * 1000.0)

    def _replace(self, rel: str, text: str) -> None:
        """Make multilspy's buffer for ``rel`` hold ``text`` (delete all, insert)."""
        uri = (self.root / rel).as_uri()
        current = self._ls.open_file_buffers[uri].contents
        if current == text:
            return
        lines = current.split("\n")
        end = {"line": len(lines) - 1, "character": len(lines[-1])}
        self._ls.delete_text_between_positions(rel, {"line": 0, "character": 0}, end)
        self._ls.insert_text_at_position(rel, 0, 0, text)

    async def shutdown(self) -> None:
        """Stop multilspy's server within ``spec.shutdown_timeout_s``; then kill it."""
        if self._closed:
            return
        self._closed = True
        proc = self._process
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._context.__aexit__(None, None, None), self.spec.shutdown_timeout_s)
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), 5.0)


class MultilspyPool(ServerPool):
    """A :class:`ServerPool` whose servers run through multilspy."""

    async def _launch(self, spec: ServerSpec, root: Path) -> Any:  # type: ignore[override]
        return await MultilspyServer.start(spec, root)
