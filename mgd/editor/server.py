"""``mgd lsp``: an editor-facing language server that completes code with a model.

It speaks LSP over stdio (pygls) and offers ``textDocument/inlineCompletion``
(LSP 3.18, advertised with :class:`lsprotocol.types.InlineCompletionOptions`) and
classic ``textDocument/completion``. Documents are synced incrementally; the
completion sees the *editor buffer* (prefix + suffix around the cursor), never the
file on disk. Behind it, the workspace's real language server (jedi, pyright...)
feeds the mgd monitors through the bridge.

Scheduling: a request starts at once — the language server's lookup and the
prompt's prefill run during the ``debounce_ms`` window — and picks its first
token when the window has passed; a newer request for the same document (or a
``didChange``) supersedes it, and ``$/cancelRequest`` cancels it — both set the
job's cancel flag, which the engine checks between prefill chunks and before
every decoding step. Generation runs in one worker thread: the LSP loop never
blocks. A request that arrives while the model loads waits for it (at most
``startup_timeout_ms``) and its latency budget starts when the model is ready.
Every job is recorded (steps, why it stopped, how soon after cancellation it
stopped) and ``workspace/executeCommand mgd.stats`` returns the records.

Positions are in the encoding negotiated with the client (UTF-8, UTF-16 or
UTF-32, through :mod:`lsp_bridge.positions`). An inline request's
``context.selectedCompletionInfo`` (the completion item the user is choosing)
is honoured: the completion continues the document as if that item were
accepted, and the answer starts with the item's text over the item's range.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInternalError, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.uris import to_fs_path

from lsp_bridge.positions import Encoding, offset_to_position, position_to_offset, unit_len
from mgd import __version__
from mgd.config import CONFIG_FILE, EditorOptions, MgdConfig, load_config
from mgd.editor.completion_shape import decide_shape
from mgd.editor.protocol import CompletionEngine, EngineRequest, EngineResult
from monitors.errors import ConfigError, MgdError
from monitors.identifiers import trailing_ident_length
from monitors.languages import LanguageSpec

__all__ = ["STATS_COMMAND", "EditorServer", "JobRecord", "build_server", "make_engine"]

log = logging.getLogger(__name__)

#: ``workspace/executeCommand`` name that returns the server's job records.
STATS_COMMAND = "mgd.stats"


def make_engine(options: EditorOptions, config: MgdConfig | None = None) -> CompletionEngine:
    """The engine ``options`` ask for; ``config``: the workspace's mgd.toml (languages
    and servers behind the monitors). Imported here, so ``mgd lsp --remote`` runs
    without torch. The local engine comes without its model: the caller loads it
    (``load_model()``) once the language servers can start."""
    if options.engine == "remote":
        from mgd.editor.remote_engine import RemoteEngine

        return RemoteEngine(options, config)
    from mgd.editor.local_engine import LocalEngine

    return LocalEngine(options, config, defer_model=True)


@dataclass(slots=True)
class JobRecord:
    """One completion request, from arrival to its end (times: server clock, seconds)."""

    id: int
    uri: str
    kind: str  # "inline" or "completion"
    arrived: float
    started: float | None = None  # generation began (after debounce)
    ended: float | None = None
    cancelled_at: float | None = None
    cancel_reason: str | None = None  # "cancelRequest", "superseded", "didChange", "shutdown"
    stopped: str | None = None  # the engine's reason, or "cancelled" before generating
    steps: int = 0
    multiline: bool = False
    shape_reason: str = ""
    text: str = ""
    engine_ms: float = 0.0
    total_ms: float = 0.0
    waited_for_model_ms: float = 0.0  # the model was still loading when the request came
    stats: dict[str, Any] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    def stop(self, reason: str) -> None:
        if not self.cancel.is_set():
            self.cancelled_at = time.perf_counter()
            self.cancel_reason = reason
            self.cancel.set()

    def as_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "cancel"}
        d["stop_after_cancel_ms"] = (
            round((self.ended - self.cancelled_at) * 1000.0, 2)
            if self.ended is not None and self.cancelled_at is not None
            else None
        )
        return d


class _Protocol(LanguageServerProtocol):
    """pygls's protocol, but a request whose params do not parse gets an error reply.

    (pygls logs such a message and never answers it, so the client would wait forever.)
    """

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if isinstance(data, dict) and "id" in data and "method" in data:
                exc.message = exc.message or f"invalid params for {data['method']}"
                self._send_response(data["id"], error=exc.to_response_error())
                return _Dropped()
            raise


class _Dropped:
    """A message already answered; pygls ignores it (its version is not "2.0")."""

    jsonrpc = "dropped"


class EditorServer(LanguageServer):
    """The pygls server plus mgd's state: options, engine, jobs."""

    def __init__(
        self,
        flags: Mapping[str, Any] | None = None,
        *,
        config_path: Path | None = None,
        engine_factory: Callable[[EditorOptions, MgdConfig], CompletionEngine] = make_engine,
    ) -> None:
        super().__init__(
            "mgd", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental, protocol_cls=_Protocol
        )
        #: Settings given on the command line (they beat ``[editor]`` in mgd.toml).
        self.flags = dict(flags or {})
        self.options = EditorOptions().merged(self.flags, "command line")
        self.config_path = config_path
        #: The workspace's ``mgd.toml`` (or ``--config``): languages, servers, ``[editor]``.
        self.config = MgdConfig()
        self.engine_factory = engine_factory
        self.roots: list[Path] = []
        self.worker = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="mgd-generate")
        self.engine_future: concurrent.futures.Future[CompletionEngine] | None = None
        #: Set when the engine exists (language servers may start) — before its model has loaded.
        self.prepared: concurrent.futures.Future[CompletionEngine] = concurrent.futures.Future()
        self.active: dict[str, JobRecord] = {}
        self.history: deque[JobRecord] = deque(maxlen=256)
        self._ids = itertools.count(1)
        self._warmed: set[str] = set()

    # -- setup ---------------------------------------------------------------------
    def configure(self, params: types.InitializeParams) -> None:
        """Roots from the client, then settings: TOML < (CLI, already in options) < initializationOptions."""
        roots: list[Path] = []
        for folder in params.workspace_folders or []:
            path = to_fs_path(folder.uri)
            if path:
                roots.append(Path(path).resolve())
        if not roots and params.root_uri:
            path = to_fs_path(params.root_uri)
            if path:
                roots.append(Path(path).resolve())
        if not roots and params.root_path:
            roots.append(Path(params.root_path).resolve())
        self.roots = roots
        toml = self.config_path or next((r / CONFIG_FILE for r in roots if (r / CONFIG_FILE).is_file()), None)
        self.config = load_config(toml)
        where = str(self.config.source) if self.config.source else "mgd.toml"
        options = EditorOptions().merged(self.config.editor, f"{where}: editor").merged(self.flags, "command line")
        init = params.initialization_options
        if isinstance(init, dict) and "mgd" in init and isinstance(init["mgd"], dict):
            init = init["mgd"]
        self.options = options.merged(init, "initializationOptions")

    @property
    def encoding(self) -> Encoding:
        """The position encoding negotiated with the client (UTF-16 unless it chose another)."""
        try:
            kind = self.workspace.position_encoding
        except RuntimeError:  # not initialized yet
            kind = None
        value = str(getattr(kind, "value", kind) or "utf-16")
        return value if value in ("utf-8", "utf-16", "utf-32") else "utf-16"  # type: ignore[return-value]

    def language_of(self, path: Path) -> LanguageSpec | None:
        """The language of ``path`` under the workspace configuration (None: not one mgd knows)."""
        try:
            return self.config.language_for_path(path)
        except ConfigError:
            return None

    def start_engine(self) -> None:
        """Load the model in the worker thread (requests wait for it)."""
        if self.engine_future is None:
            self.engine_future = self.worker.submit(self._load_engine)

    def _load_engine(self) -> CompletionEngine:
        try:
            engine = self.engine_factory(self.options, self.config)
        except BaseException as exc:
            self.prepared.set_exception(exc)
            raise
        self.prepared.set_result(engine)  # files opened so far start their language server now
        for step in ("load_model", "warm_model"):
            call = getattr(engine, step, None)
            if call is not None:
                call()
        log.info("mgd lsp: engine ready: %s", _describe(engine))
        return engine

    def engine_ready(self) -> bool:
        return bool(self.engine_future and self.engine_future.done() and not self.engine_future.exception())

    async def engine(self, timeout: float | None = None) -> CompletionEngine | None:
        """The engine once it is ready; None if it is not ready within ``timeout`` seconds."""
        self.start_engine()
        assert self.engine_future is not None
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(self.engine_future)), timeout)
        except TimeoutError:
            return None
        except MgdError as exc:
            raise JsonRpcInternalError(f"mgd: the completion engine could not start: {exc}") from exc

    # -- documents -----------------------------------------------------------------
    def workspace_for(self, path: Path) -> Path:
        inside = [r for r in self.roots if path.is_relative_to(r)]
        return max(inside, key=lambda r: len(r.parts)) if inside else path.parent

    def document(self, uri: str) -> tuple[Any, Path]:
        """The open document and its path; InvalidParams if it is not open or not a file."""
        doc = self.workspace.text_documents.get(uri)
        if doc is None:
            raise JsonRpcInvalidParams(f"document {uri} is not open (send textDocument/didOpen first)")
        path = to_fs_path(uri)
        if not path or not uri.startswith("file:"):
            raise JsonRpcInvalidParams(f"only file: documents can be completed, not {uri}")
        return doc, Path(path).resolve()

    def warm(self, uri: str) -> None:
        """Let the language server analyse a newly opened file (background)."""
        if not self.options.warm_server or not self.options.monitors or uri in self._warmed:
            return
        self._warmed.add(uri)
        try:
            doc, path = self.document(uri)
        except JsonRpcInvalidParams:
            return
        text = doc.source

        def go(fut: concurrent.futures.Future[CompletionEngine]) -> None:
            if fut.exception() is None:
                fut.result().warm(self.workspace_for(path), path, text)

        self.start_engine()
        self.prepared.add_done_callback(go)  # does not wait for the model

    def check_position(self, source: str, position: types.Position, uri: str) -> None:
        """InvalidParams unless ``position`` lies in ``source`` (in the negotiated encoding)."""
        lines = source.splitlines(keepends=True) or [""]
        if source.endswith(("\n", "\r")):
            lines.append("")
        if position.line < 0 or position.character < 0 or position.line >= len(lines):
            raise JsonRpcInvalidParams(f"position {position.line}:{position.character} is outside {uri}")
        line = lines[position.line].rstrip("\r\n")
        if position.character > unit_len(line, self.encoding):
            raise JsonRpcInvalidParams(f"position {position.line}:{position.character} is past the end of its line")

    def cancel_document(self, uri: str, reason: str) -> None:
        job = self.active.get(uri)
        if job is not None:
            job.stop(reason)

    # -- completion ----------------------------------------------------------------
    async def run_job(
        self, uri: str, position: types.Position, kind: str, selected: types.SelectedCompletionInfo | None = None
    ) -> tuple[EngineResult | None, JobRecord, int, str]:
        """Supersede, wait for the model if it is loading, generate in the worker: the
        result (None if cancelled), the job, and the cursor offset in the buffer text
        the completion was made for (with ``selected``: that item's text applied)."""
        doc, path = self.document(uri)
        self.check_position(doc.source, position, uri)
        job = JobRecord(next(self._ids), uri, kind, time.perf_counter())
        old = self.active.get(uri)
        if old is not None:
            old.stop("superseded")
        self.active[uri] = job
        self.history.append(job)
        try:
            ready = self.engine_ready()
            engine = await self.engine(None if ready else self.options.startup_timeout_ms / 1000.0)
            if engine is None:
                job.stopped, job.ended = "startup_timeout", time.perf_counter()
                log.warning("mgd lsp: the model was not ready within startup_timeout_ms = %d",
                            self.options.startup_timeout_ms)
                return None, job, 0, ""
            if not ready:  # the budget starts now, not while the model loaded
                job.waited_for_model_ms = (time.perf_counter() - job.arrived) * 1000.0
            if job.cancel.is_set():
                job.stopped, job.ended = "cancelled", time.perf_counter()
                return None, job, 0, ""
            # The buffer as it is now (a didChange since the request cancelled this job).
            source = doc.source
            self.check_position(source, position, uri)
            offset = position_to_offset(source, position, self.encoding)
            if selected is not None:
                source, offset = self.apply_selected(source, offset, selected, uri)
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self.worker, self._generate, engine, path, source, offset, job)
            return result, job, offset, source
        except asyncio.CancelledError:
            job.stop("cancelRequest")
            raise
        finally:
            if self.active.get(uri) is job:
                del self.active[uri]
            job.total_ms = (time.perf_counter() - job.arrived) * 1000.0

    def apply_selected(
        self, source: str, offset: int, selected: types.SelectedCompletionInfo, uri: str
    ) -> tuple[str, int]:
        """The buffer with the completion item the user is choosing accepted, and the
        cursor after it (InvalidParams if its range is not a range of the buffer
        ending at or before the cursor)."""
        rng = selected.range
        for pos in (rng.start, rng.end):
            self.check_position(source, pos, uri)
        start = position_to_offset(source, rng.start, self.encoding)
        end = position_to_offset(source, rng.end, self.encoding)
        if not start <= end <= offset:
            raise JsonRpcInvalidParams("selectedCompletionInfo.range must end at or before the cursor")
        return source[:start] + selected.text + source[end:], start + len(selected.text) + (offset - end)

    def _generate(self, engine: CompletionEngine, path: Path, source: str, offset: int, job: JobRecord) -> EngineResult | None:
        """Worker thread: shape, request, engine; records the job."""
        job.started = time.perf_counter()
        try:
            if job.cancel.is_set():
                job.stopped = "cancelled"
                return None
            prefix, suffix = source[:offset], source[offset:]
            language = self.language_of(path)
            shape = decide_shape(language, prefix, suffix)
            job.multiline, job.shape_reason = shape.multiline, shape.reason
            o = self.options
            base = job.arrived + job.waited_for_model_ms / 1000.0
            request = EngineRequest(
                workspace=self.workspace_for(path),
                file=path,
                prefix=prefix,
                suffix=suffix,
                shape=shape,
                max_new_tokens=o.max_tokens_multi if shape.multiline else o.max_tokens_single,
                deadline=base + o.latency_budget_ms / 1000.0,
                monitors=o.monitors and language is not None,
                decode_after=base + o.debounce_ms / 1000.0,
            )
            result = engine.complete(request, job.cancel)
            job.stopped, job.steps, job.text = result.stopped, result.tokens, result.text
            job.engine_ms, job.stats = result.elapsed_ms, result.stats
            return None if result.stopped == "cancelled" else result
        except MgdError as exc:
            job.stopped = f"error: {exc}"
            raise
        finally:
            job.ended = time.perf_counter()

    def stats(self) -> dict[str, Any]:
        return {
            "options": self.options.as_dict(),
            "engine_ready": self.engine_ready(),
            "engine": _describe(self.engine_future.result()) if self.engine_future and self.engine_ready() else None,
            "encoding": self.encoding,
            "active": len(self.active),
            "jobs": [j.as_dict() for j in self.history],
        }

    def close(self) -> None:
        for job in list(self.active.values()):
            job.stop("shutdown")
        fut = self.engine_future
        if fut is not None:
            try:
                fut.result(timeout=60)
                fut.result().close()
            except BaseException as exc:  # noqa: BLE001 - closing: report, do not raise
                log.debug("engine close: %s", exc)
        self.worker.shutdown(wait=False, cancel_futures=True)


def _describe(engine: Any) -> dict[str, Any]:
    describe = getattr(engine, "describe", None)
    return describe() if describe is not None else {"engine": getattr(engine, "name", type(engine).__name__)}


def build_server(
    flags: Mapping[str, Any] | None = None,
    *,
    config_path: Path | None = None,
    engine_factory: Callable[[EditorOptions, MgdConfig], CompletionEngine] = make_engine,
) -> EditorServer:
    """The server with every feature registered (start it with ``start_io()``).

    ``flags``: the settings given on the command line (validated now; they beat the
    ``[editor]`` table of mgd.toml and lose to the client's initializationOptions)."""
    server = EditorServer(flags, config_path=config_path, engine_factory=engine_factory)

    @server.feature(types.INITIALIZE)
    def initialize(params: types.InitializeParams) -> None:
        server.configure(params)

    @server.feature(types.INITIALIZED)
    def initialized(params: types.InitializedParams) -> None:
        server.start_engine()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: types.DidOpenTextDocumentParams) -> None:
        server.warm(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: types.DidChangeTextDocumentParams) -> None:
        server.cancel_document(params.text_document.uri, "didChange")

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        server.cancel_document(params.text_document.uri, "didClose")
        server._warmed.discard(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(params: types.InlineCompletionParams) -> types.InlineCompletionList:
        selected = params.context.selected_completion_info if params.context else None
        result, _job, _offset, _source = await server.run_job(
            params.text_document.uri, params.position, "inline", selected)
        if result is None or not (result.text or selected):
            return types.InlineCompletionList(items=[])
        if selected is not None:  # the item the user is choosing, then the model's continuation
            item = types.InlineCompletionItem(insert_text=selected.text + result.text, range=selected.range)
        else:
            item = types.InlineCompletionItem(insert_text=result.text, range=types.Range(params.position, params.position))
        return types.InlineCompletionList(items=[item])

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=["."]))
    async def completion(params: types.CompletionParams) -> types.CompletionList:
        result, _job, offset, source = await server.run_job(params.text_document.uri, params.position, "completion")
        if result is None or not result.text:
            return types.CompletionList(is_incomplete=True, items=[])
        # Replace the word being typed so the client's filter keeps the item.
        word = trailing_ident_length(source[:offset])
        new_text = source[offset - word : offset] + result.text
        start = offset_to_position(source, offset - word, server.encoding)
        item = types.CompletionItem(
            label=new_text.splitlines()[0] if new_text.strip() else new_text,
            kind=types.CompletionItemKind.Text,
            detail="mgd",
            documentation=new_text if "\n" in new_text else None,
            filter_text=new_text,
            sort_text="0",
            text_edit=types.TextEdit(types.Range(start, params.position), new_text),
        )
        return types.CompletionList(is_incomplete=True, items=[item])

    @server.feature(types.SHUTDOWN)
    def shutdown(params: Any) -> None:
        server.close()

    @server.command(STATS_COMMAND)
    def stats(*args: Any) -> dict[str, Any]:
        return server.stats()

    return server
