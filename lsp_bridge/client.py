"""One running language server for one workspace, with deadlines on every request.

pygls supplies the framing, the JSON-RPC bookkeeping and the typed lsprotocol
messages. This module owns what pygls leaves out:

* deadlines: each request races its reply, the server's exit and a timeout; a
  request that times out (or whose caller is cancelled) is cancelled with
  ``$/cancelRequest`` and its late reply is dropped quietly;
* process death: every pending request fails at once with :class:`ServerExited`;
* answers to the server's own requests (``workspace/configuration``, ...);
* document sync: one :class:`DocumentState` per URI, minimal incremental edits,
  and a per-URI lock so a sync and the request that depends on it never
  interleave with another caller's text for the same file.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import attrs
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException
from pygls.lsp.client import LanguageClient
from pygls.protocol import LanguageServerProtocol

from monitors.errors import ConfigError, LspError, LspResponseError, LspTimeout, ServerExited, ServerStartError

from .cpus import pin_process
from .documents import DocumentState
from .names import identifier_names
from .positions import ENCODINGS, Encoding, offset_to_position, position_to_offset
from .servers import ServerSpec, plain_data, resolve_command, server_env
from .workspace import path_to_uri, resolve_workspace, uri_to_path

__all__ = ["CLIENT_CAPABILITIES", "CompletionResult", "LspServer", "SignatureResult", "client_capabilities",
           "resolved_detail"]

logger = logging.getLogger(__name__)

#: How long a terminated server gets before it is killed.
_TERMINATE_GRACE_S = 1.0
#: How many abandoned request ids are remembered (to drop their late replies).
_ABANDONED_MAX = 4096
#: Pause between re-asks of an empty list while the server loads (spec.empty_retry_s).
_EMPTY_RETRY_PAUSE_S = 0.5
#: Non-standard notifications some servers send; dropped quietly.
_IGNORED_NOTIFICATIONS = (
    "language/status",
    "language/progressReport",
    "language/eventNotification",
    "language/actionableNotification",
    "$/typescriptVersion",
    "experimental/serverStatus",
)
#: How much of the server's stderr is kept for error messages.
_STDERR_TAIL = 4096

#: What the client advertises (``general.positionEncodings`` comes from the spec).
CLIENT_CAPABILITIES = lsp.ClientCapabilities(
    workspace=lsp.WorkspaceClientCapabilities(configuration=True, workspace_folders=True),
    text_document=lsp.TextDocumentClientCapabilities(
        synchronization=lsp.TextDocumentSyncClientCapabilities(did_save=False),
        completion=lsp.CompletionClientCapabilities(
            completion_item=lsp.ClientCompletionItemOptions(
                snippet_support=False,
                insert_replace_support=False,
                label_details_support=True,
                deprecated_support=True,
            ),
            completion_item_kind=lsp.ClientCompletionItemOptionsKind(value_set=list(lsp.CompletionItemKind)),
            context_support=True,
        ),
        signature_help=lsp.SignatureHelpClientCapabilities(
            signature_information=lsp.ClientSignatureInformationOptions(
                parameter_information=lsp.ClientSignatureParameterInformationOptions(label_offset_support=True),
                active_parameter_support=True,
            ),
            context_support=True,
        ),
    ),
    window=lsp.WindowClientCapabilities(work_done_progress=True),
    general=lsp.GeneralClientCapabilities(position_encodings=[lsp.PositionEncodingKind.Utf16]),
)


def client_capabilities(spec: ServerSpec) -> lsp.ClientCapabilities:
    """:data:`CLIENT_CAPABILITIES` offering ``spec.position_encodings``."""
    general = lsp.GeneralClientCapabilities(position_encodings=list(spec.position_encodings))
    return attrs.evolve(CLIENT_CAPABILITIES, general=general)


@dataclass(frozen=True)
class CompletionResult:
    """A completion answer: identifier ``names``, the raw ``items``, ``isIncomplete``,
    and the wall time of the whole call in milliseconds."""

    names: frozenset[str]
    items: tuple[lsp.CompletionItem, ...]
    incomplete: bool
    elapsed_ms: float


@dataclass(frozen=True)
class SignatureResult:
    """A signature-help answer: the overloads (``SignatureInformation``), the active
    one's index, and the wall time of the whole call in milliseconds."""

    signatures: tuple[lsp.SignatureInformation, ...]
    active: int
    elapsed_ms: float


class _Protocol(LanguageServerProtocol):
    """pygls' protocol that quietly drops replies to requests we abandoned."""

    def __init__(self, server: Any, converter: Any) -> None:
        super().__init__(server, converter)
        self._abandoned: dict[Any, None] = {}

    def abandon(self, msg_id: str) -> None:
        """Forget request ``msg_id``: its reply, if one ever comes, is dropped."""
        self._request_futures.pop(msg_id, None)
        self._result_types.pop(msg_id, None)
        self._abandoned[msg_id] = None
        while len(self._abandoned) > _ABANDONED_MAX:
            del self._abandoned[next(iter(self._abandoned))]

    def _handle_response(self, msg_id: Any, result: Any = None, error: Any = None) -> None:
        if msg_id in self._abandoned:
            del self._abandoned[msg_id]
            return
        super()._handle_response(msg_id, result, error)


class _Client(LanguageClient):
    #: Called with the error when the server's output cannot be decoded (set by LspServer).
    on_malformed: Callable[[Exception], None] | None = None

    def report_server_error(self, error: Exception, source: Any) -> None:
        if (
            source is JsonRpcException
            and isinstance(error, (json.JSONDecodeError, UnicodeDecodeError))
            and self.on_malformed is not None
        ):
            self.on_malformed(error)
            return
        logger.debug("language server protocol error (%s): %s", source.__name__, error)


class LspServer:
    """A running language server process for one ``(spec, root)``.

    Create with :meth:`start`; stop with :meth:`shutdown` (or ``async with``).
    Requests fail with :class:`LspTimeout`, :class:`ServerExited` or
    :class:`LspResponseError`; they never wait past their deadline. Bound to the
    event loop it was started on (from other threads, use :class:`BackgroundLoop`).
    """

    def __init__(self, spec: ServerSpec, root: Path) -> None:
        """Internal: use :meth:`start`."""
        self.spec = spec
        self.root = root
        self.capabilities: lsp.ServerCapabilities | None = None
        #: The negotiated position encoding (UTF-16 unless the server chose another).
        self.position_encoding: Encoding = "utf-16"
        self._client = _Client("mgd", "0.1.0", protocol_cls=_Protocol)
        self._client.on_malformed = self._malformed
        self._broken = ""  # why the server was stopped by us (malformed output)
        self._proc: asyncio.subprocess.Process | None = None
        self._exited: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._ids = itertools.count(1)
        self._documents: dict[str, DocumentState] = {}
        self._answered: set[str] = set()  # URIs that have had a completion answered
        self._locks: dict[str, asyncio.Lock] = {}
        self._progress: set[str | int] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._stderr = bytearray()
        self._watcher: asyncio.Task[None] | None = None
        self._stderr_reader: asyncio.Task[None] | None = None
        self._shutdown_task: asyncio.Task[None] | None = None
        self._started_at = asyncio.get_running_loop().time()
        self._warm = False  # set once any completion list was non-empty
        self._register_handlers()

    # ----------------------------------------------------------------- start

    @classmethod
    async def start(cls, spec: ServerSpec, root: str | Path) -> LspServer:
        """Spawn the server in ``root`` and complete the ``initialize`` handshake.

        Bounded by ``spec.start_timeout_s``; on any failure the process is killed
        and :class:`ServerStartError` is raised.
        """
        root = resolve_workspace(root)
        argv = resolve_command(spec)
        server = cls(spec, root)
        deadline = asyncio.get_running_loop().time() + spec.start_timeout_s
        try:
            async with asyncio.timeout_at(deadline):
                await server._spawn(argv)
                await server._initialize(deadline)
        except BaseException as exc:
            await server._terminate()
            if isinstance(exc, (TimeoutError, LspError, OSError)):
                reason = (
                    f"did not initialize within {spec.start_timeout_s:g}s"
                    if isinstance(exc, TimeoutError)
                    else str(exc)
                )
                raise ServerStartError(
                    f"language server {spec.name!r} failed to start: {reason}{server._stderr_note()}"
                ) from exc
            raise
        return server

    async def _spawn(self, argv: list[str]) -> None:
        await self._client.start_io(*argv, cwd=str(self.root), env=server_env(self.spec), start_new_session=True)
        proc = self._client._server  # pygls keeps the process private
        assert proc is not None
        self._proc = proc
        if self.spec.cpus is not None:
            try:  # right away: the server starts its own children (inheriting the set) later
                pin_process(proc.pid, self.spec.cpus)
            except ConfigError as exc:
                raise ServerStartError(str(exc)) from exc
        self._watcher = asyncio.create_task(self._watch_exit(proc))
        self._stderr_reader = asyncio.create_task(self._drain_stderr(proc))

    async def _initialize(self, deadline: float) -> None:
        folder = lsp.WorkspaceFolder(uri=path_to_uri(self.root), name=self.root.name)
        params = lsp.InitializeParams(
            capabilities=client_capabilities(self.spec),
            process_id=os.getpid(),
            client_info=lsp.ClientInfo(name="mgd", version="0.1.0"),
            root_path=str(self.root),
            root_uri=folder.uri,
            workspace_folders=[folder],
            initialization_options=plain_data(self.spec.initialization_options),
        )
        result = await self._request(lsp.INITIALIZE, params, deadline)
        self.capabilities = getattr(result, "capabilities", None)
        encoding = str(getattr(self.capabilities, "position_encoding", None) or "utf-16")
        if encoding not in ENCODINGS:
            raise ServerStartError(f"server chose unsupported position encoding {encoding!r}")
        self.position_encoding = cast(Encoding, encoding)
        self._notify(lsp.INITIALIZED, lsp.InitializedParams())

    # ------------------------------------------------------------ properties

    @property
    def pid(self) -> int | None:
        """The server's process id (None before it was spawned)."""
        return None if self._proc is None else self._proc.pid

    @property
    def alive(self) -> bool:
        """True while the process runs and the server has not been shut down."""
        return (
            self._proc is not None
            and self._proc.returncode is None
            and not self._exited.done()
            and self._shutdown_task is None
        )

    @property
    def returncode(self) -> int | None:
        """The exit status once the process has exited."""
        return None if self._proc is None else self._proc.returncode

    @property
    def busy(self) -> bool:
        """True while the server reports work-done progress."""
        return bool(self._progress)

    def document_version(self, path: str | Path) -> int | None:
        """The version the server holds of ``path`` (None if not open)."""
        state = self._documents.get(path_to_uri(path))
        return None if state is None else state.version

    # -------------------------------------------------------------- requests

    async def request(self, method: str, params: Any, timeout: float | None = None) -> Any:
        """Send any request; its typed result, within ``timeout`` seconds
        (default ``spec.request_timeout_s``)."""
        return await self._request(method, params, self._deadline(timeout))

    async def complete(self, path: Path, text: str, offset: int, timeout: float | None = None,
                       *, resolve: int = 0) -> CompletionResult:
        """Completions at Python string index ``offset`` of ``text``, the content of ``path``.

        The document is synced to ``text`` first; sync and request are atomic
        per URI. ``timeout`` bounds the whole call (default
        ``spec.request_timeout_s``). ``resolve``: up to that many identifier items
        without a ``detail`` are sent to ``completionItem/resolve`` (when the server
        offers it) and get the detail it reports (:func:`resolved_detail`); an item
        whose resolve fails or is late keeps its plain form.
        """
        started = time.perf_counter()
        if self.capabilities is not None and self.capabilities.completion_provider is None:
            # Nothing to wait for: the server said it does not complete.
            raise LspError(f"language server {self.spec.name!r} does not offer completion (no completionProvider)")
        uri = path_to_uri(path)
        deadline = self._document_deadline(uri, timeout)
        position = offset_to_position(text, offset, self.position_encoding)
        before = text[offset - 1] if offset > 0 else ""
        if before and before in self._completion_triggers():
            context = lsp.CompletionContext(
                trigger_kind=lsp.CompletionTriggerKind.TriggerCharacter, trigger_character=before
            )
        else:
            context = lsp.CompletionContext(trigger_kind=lsp.CompletionTriggerKind.Invoked)
        async with self._locked(uri, deadline):
            self._sync_locked(uri, text)
            params = lsp.CompletionParams(
                text_document=lsp.TextDocumentIdentifier(uri=uri), position=position, context=context
            )
            result = await self._first_completion(params, deadline)
            items, incomplete = _completion_items(result)
            if not items and self.busy:
                # Servers answer empty lists while they load the project: wait for
                # their work-done progress to end (within the deadline), ask again.
                remaining = deadline - asyncio.get_running_loop().time()
                if remaining > 0 and await self.wait_idle(remaining):
                    result = await self._request(lsp.TEXT_DOCUMENT_COMPLETION, params, deadline)
                    items, incomplete = _completion_items(result)
            while not items and self._loading(deadline):
                # ... or answer nothing at all until the project is loaded.
                await asyncio.sleep(_EMPTY_RETRY_PAUSE_S)
                result = await self._request(lsp.TEXT_DOCUMENT_COMPLETION, params, deadline)
                items, incomplete = _completion_items(result)
            if items:
                self._warm = True
                items = _trim_edits(items, text, offset, self.position_encoding)
                if resolve > 0:
                    items = await self._resolve_items(items, resolve, deadline)
        self._answered.add(uri)
        return CompletionResult(
            names=identifier_names(items, self.spec.identifier_kinds),
            items=items,
            incomplete=incomplete,
            elapsed_ms=(time.perf_counter() - started) * 1000.0,
        )

    async def _resolve_items(
        self, items: tuple[lsp.CompletionItem, ...], limit: int, deadline: float
    ) -> tuple[lsp.CompletionItem, ...]:
        """``items`` with up to ``limit`` identifier items (dunders last) resolved for
        their detail, all requests in flight at once, within half the time left; a failed
        or late one stays as it was."""
        provider = self.capabilities.completion_provider if self.capabilities is not None else None
        if provider is None or not provider.resolve_provider:
            return items
        kinds = self.spec.identifier_kinds
        wanted = [k for k, it in enumerate(items) if not it.detail and (it.kind is None or it.kind in kinds)]
        wanted.sort(key=lambda k: items[k].label.startswith("__"))
        wanted = wanted[:limit]
        if not wanted:
            return items
        now = asyncio.get_running_loop().time()
        until = min(deadline, now + max((deadline - now) / 2, 0.0))  # a late resolve leaves the list in time
        answers = await asyncio.gather(
            *(self._request(lsp.COMPLETION_ITEM_RESOLVE, items[k], until) for k in wanted), return_exceptions=True
        )
        out = list(items)
        for k, got in zip(wanted, answers, strict=True):
            if isinstance(got, lsp.CompletionItem):
                detail = resolved_detail(got)
                if detail:
                    out[k] = attrs.evolve(items[k], detail=detail)
            elif isinstance(got, BaseException) and not isinstance(got, Exception):
                raise got
        return tuple(out)

    async def signature_help(
        self, path: Path, text: str, offset: int, timeout: float | None = None
    ) -> SignatureResult:
        """``textDocument/signatureHelp`` at Python string index ``offset`` of ``text``.

        Same document sync, per-URI lock and deadlines as :meth:`complete`; while
        the server still loads the project an empty answer is asked again.
        """
        started = time.perf_counter()
        uri = path_to_uri(path)
        deadline = self._document_deadline(uri, timeout)
        position = offset_to_position(text, offset, self.position_encoding)
        before = text[offset - 1] if offset > 0 else ""
        if before in ("(", ","):
            context = lsp.SignatureHelpContext(
                trigger_kind=lsp.SignatureHelpTriggerKind.TriggerCharacter, trigger_character=before,
                is_retrigger=False,
            )
        else:
            context = lsp.SignatureHelpContext(trigger_kind=lsp.SignatureHelpTriggerKind.Invoked, is_retrigger=False)
        params = lsp.SignatureHelpParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri), position=position, context=context
        )
        async with self._locked(uri, deadline):
            self._sync_locked(uri, text)
            result = await self._request(lsp.TEXT_DOCUMENT_SIGNATURE_HELP, params, deadline)
            while (result is None or not result.signatures) and self._loading(deadline):
                await asyncio.sleep(_EMPTY_RETRY_PAUSE_S)
                result = await self._request(lsp.TEXT_DOCUMENT_SIGNATURE_HELP, params, deadline)
        signatures: tuple[lsp.SignatureInformation, ...] = ()
        active = 0
        if isinstance(result, lsp.SignatureHelp) and result.signatures:
            signatures = tuple(result.signatures)
            active = result.active_signature or 0
            self._warm = True
        self._answered.add(uri)
        return SignatureResult(signatures, active, (time.perf_counter() - started) * 1000.0)

    async def _first_completion(self, params: lsp.CompletionParams, deadline: float) -> Any:
        """The completion request; while the server loads (``spec.empty_retry_s``) an
        error reply ("waiting for cargo metadata") is asked again like an empty list."""
        while True:
            try:
                return await self._request(lsp.TEXT_DOCUMENT_COMPLETION, params, deadline)
            except LspResponseError:
                if not self._loading(deadline):
                    raise
            await asyncio.sleep(_EMPTY_RETRY_PAUSE_S)

    def _loading(self, deadline: float) -> bool:
        """True while an empty list may mean "still loading" (see ``spec.empty_retry_s``)."""
        now = asyncio.get_running_loop().time()
        return (
            not self._warm
            and now - self._started_at < self.spec.empty_retry_s
            and deadline - now > _EMPTY_RETRY_PAUSE_S
        )

    async def sync(self, path: Path, text: str, timeout: float | None = None) -> None:
        """Make the server hold ``text`` for ``path`` (didOpen first, then didChange)."""
        uri = path_to_uri(path)
        async with self._locked(uri, self._deadline(timeout)):
            self._sync_locked(uri, text)

    async def close_document(self, path: Path, timeout: float | None = None) -> None:
        """Tell the server ``path`` is closed (no-op if it is not open)."""
        uri = path_to_uri(path)
        async with self._locked(uri, self._deadline(timeout)):
            if self._documents.pop(uri, None) is not None:
                self._notify(
                    lsp.TEXT_DOCUMENT_DID_CLOSE,
                    lsp.DidCloseTextDocumentParams(text_document=lsp.TextDocumentIdentifier(uri=uri)),
                )

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no work-done progress is active; False if ``timeout`` passed first."""
        if self._idle.is_set():
            return True
        idle = asyncio.ensure_future(self._idle.wait())
        await asyncio.wait((idle, self._exited), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        idle.cancel()
        return self._idle.is_set()

    # -------------------------------------------------------------- shutdown

    async def shutdown(self) -> None:
        """``shutdown`` + ``exit`` within ``spec.shutdown_timeout_s``, then terminate,
        then kill. Never leaves the process behind; safe to call more than once."""
        if self._shutdown_task is None:
            graceful = self.alive
            self._shutdown_task = asyncio.ensure_future(self._shutdown(graceful))
        await asyncio.shield(self._shutdown_task)

    async def __aenter__(self) -> LspServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.shutdown()

    async def _shutdown(self, graceful: bool) -> None:
        proc = self._proc
        if graceful and proc is not None:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.spec.shutdown_timeout_s
            with contextlib.suppress(LspError, TimeoutError):
                await self._request(lsp.SHUTDOWN, None, deadline, shutting_down=True)
                self._notify(lsp.EXIT, None, shutting_down=True)
                async with asyncio.timeout_at(deadline):
                    await proc.wait()
        await self._terminate()

    async def _terminate(self) -> None:
        """Terminate, then kill, the process (and its process group); close its
        pipes; end our tasks."""
        proc = self._proc
        if proc is not None:
            if proc.returncode is None:
                _signal_group(proc, signal.SIGTERM)
                try:
                    async with asyncio.timeout(_TERMINATE_GRACE_S):
                        await proc.wait()
                except TimeoutError:
                    _signal_group(proc, signal.SIGKILL)
                    await proc.wait()
            await self._release(proc)
        if not self._exited.done():
            self._exited.set_result(None)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(_TERMINATE_GRACE_S):
                await self._client.stop()
        tasks = [t for t in (self._watcher, self._stderr_reader) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _release(self, proc: asyncio.subprocess.Process) -> None:
        """After the process exited: kill what it left in its session, read the
        rest of stderr, and close the pipes."""
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        if self._stderr_reader is not None:  # let it read stderr to EOF
            await asyncio.wait((self._stderr_reader,), timeout=_TERMINATE_GRACE_S)
        if proc.stdin is not None:
            proc.stdin.close()
        # asyncio keeps the pipes open until the transport is closed (ResourceWarning).
        transport = getattr(proc, "_transport", None)
        if transport is not None:
            transport.close()

    # ------------------------------------------------------------- internals

    def _document_deadline(self, uri: str, timeout: float | None) -> float:
        """The deadline of a request in ``uri``. The first one in a document waits
        for the server to analyse it (seconds for pyright on a large file): unless
        the caller set a timeout, it gets ``spec.first_request_timeout_s``."""
        if timeout is None and uri not in self._answered:
            timeout = max(self.spec.request_timeout_s, self.spec.first_request_timeout_s)
        return self._deadline(timeout)

    def _completion_triggers(self) -> frozenset[str]:
        """The server's completion trigger characters (``.`` when it names none)."""
        provider = getattr(self.capabilities, "completion_provider", None)
        chars = getattr(provider, "trigger_characters", None) or (".",)
        return frozenset(chars)

    def _deadline(self, timeout: float | None) -> float:
        seconds = self.spec.request_timeout_s if timeout is None else timeout
        return asyncio.get_running_loop().time() + seconds

    def _check_alive(self, shutting_down: bool = False) -> None:
        if self._shutdown_task is not None and not shutting_down:
            raise ServerExited(f"language server {self.spec.name!r} was shut down")
        if self._proc is None or self._proc.returncode is not None or self._exited.done():
            raise ServerExited(self._exit_message())

    def _exit_message(self) -> str:
        code = self.returncode
        status = "" if code is None else f" with status {code}"
        why = f" ({self._broken})" if self._broken else ""
        return f"language server {self.spec.name!r} (pid {self.pid}) exited{status}{why}"

    def _malformed(self, error: Exception) -> None:
        """The server wrote output that is not JSON-RPC: the stream cannot be trusted
        (a wrong Content-Length desynchronizes every later message), so kill it; its
        pending requests fail with :class:`ServerExited` and a pool restarts it."""
        proc = self._proc
        if proc is None or proc.returncode is not None or self._broken:
            return
        self._broken = f"killed after malformed JSON-RPC: {type(error).__name__}: {error}"[:300]
        logger.warning("language server %r (pid %s) sent malformed JSON-RPC (%s); killing it",
                       self.spec.name, proc.pid, error)
        _signal_group(proc, signal.SIGKILL)

    def _stderr_note(self) -> str:
        tail = self._stderr.decode("utf-8", "replace").strip()
        return f"\nstderr (tail):\n{tail[-1000:]}" if tail else ""

    def _notify(self, method: str, params: Any, shutting_down: bool = False) -> None:
        self._check_alive(shutting_down)
        try:
            self._client.protocol.notify(method, params)
        except (OSError, RuntimeError) as exc:
            raise ServerExited(self._exit_message()) from exc

    async def _request(self, method: str, params: Any, deadline: float, shutting_down: bool = False) -> Any:
        self._check_alive(shutting_down)
        protocol: _Protocol = self._client.protocol  # type: ignore[assignment]
        msg_id = f"mgd-{next(self._ids)}"  # strings: pygls shares one id table both ways
        try:
            reply = asyncio.wrap_future(protocol.send_request(method, params, msg_id=msg_id))
        except (OSError, RuntimeError) as exc:
            protocol.abandon(msg_id)
            raise ServerExited(self._exit_message()) from exc
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait(
                (reply, self._exited),
                timeout=max(0.0, deadline - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
        except asyncio.CancelledError:
            self._abandon(msg_id, reply)
            raise
        if reply.done():
            return self._outcome(method, reply)
        self._abandon(msg_id, reply)
        if self._exited.done():
            raise ServerExited(self._exit_message())
        raise LspTimeout(f"{method} to {self.spec.name!r} timed out (cancelled)")

    def _outcome(self, method: str, reply: asyncio.Future[Any]) -> Any:
        """The result of a finished request, or the error it maps to."""
        if reply.cancelled():
            raise LspError(f"{method} was cancelled by pygls")
        exc = reply.exception()
        if exc is None:
            return reply.result()
        if isinstance(exc, JsonRpcException):
            raise LspResponseError(f"{method}: {exc.message}", code=exc.code) from exc
        if self._exited.done() or not self.alive:
            # pygls fails pending requests with RuntimeError when the process exits
            raise ServerExited(self._exit_message()) from exc
        raise LspError(f"{method}: {exc}") from exc

    def _abandon(self, msg_id: str, reply: asyncio.Future[Any]) -> None:
        """Give up on a request: forget it, cancel it at the server, drop its reply."""
        self._client.protocol.abandon(msg_id)  # type: ignore[attr-defined]
        reply.cancel()
        if self._proc is not None and self._proc.returncode is None and not self._exited.done():
            with contextlib.suppress(OSError, RuntimeError):
                self._client.protocol.notify(lsp.CANCEL_REQUEST, lsp.CancelParams(id=msg_id))

    @contextlib.asynccontextmanager
    async def _locked(self, uri: str, deadline: float):  # type: ignore[no-untyped-def]
        lock = self._locks.setdefault(uri, asyncio.Lock())
        try:
            async with asyncio.timeout_at(deadline):
                await lock.acquire()
        except TimeoutError:
            raise LspTimeout(f"document {uri} stayed busy past the deadline") from None
        try:
            yield
        finally:
            lock.release()

    def _sync_locked(self, uri: str, text: str) -> None:
        state = self._documents.get(uri)
        if state is None:
            state = DocumentState(
                uri=uri, language_id=self.spec.language_id_for(uri_to_path(uri)), text=text,
                encoding=self.position_encoding,
            )
            self._notify(lsp.TEXT_DOCUMENT_DID_OPEN, lsp.DidOpenTextDocumentParams(text_document=state.item()))
            self._documents[uri] = state
            return
        changes = state.change_to(text)
        if changes:
            try:
                self._notify(
                    lsp.TEXT_DOCUMENT_DID_CHANGE,
                    lsp.DidChangeTextDocumentParams(text_document=state.identifier(), content_changes=changes),
                )
            except ServerExited:
                del self._documents[uri]
                raise

    async def _watch_exit(self, proc: asyncio.subprocess.Process) -> None:
        """Fail everything pending the moment the process exits, then tidy up."""
        await proc.wait()
        if not self._exited.done():
            self._exited.set_result(None)
        self._idle.set()
        await self._release(proc)

    async def _drain_stderr(self, proc: asyncio.subprocess.Process) -> None:
        """Read stderr continually (pygls pipes it but never reads it: a chatty
        server would block on a full pipe); keep the tail for error messages."""
        assert proc.stderr is not None
        while chunk := await proc.stderr.read(65536):
            self._stderr += chunk
            del self._stderr[:-_STDERR_TAIL]

    # ------------------------------------------- server-to-client handlers

    def _register_handlers(self) -> None:
        # pygls sets attributes on handlers, so they must be plain functions.
        spec, root = self.spec, self.root
        progress, idle = self._progress, self._idle

        def configuration(params: lsp.ConfigurationParams) -> list[Any]:
            return [spec.setting(item.section) for item in params.items]

        def workspace_folders(params: None) -> list[lsp.WorkspaceFolder]:
            return [lsp.WorkspaceFolder(uri=path_to_uri(root), name=root.name)]

        def on_progress(params: lsp.ProgressParams) -> None:
            value = params.value
            kind = value.get("kind") if isinstance(value, dict) else getattr(value, "kind", None)
            if kind == "begin":
                progress.add(params.token)
                idle.clear()
            elif kind == "end":
                progress.discard(params.token)
                if not progress:
                    idle.set()

        handlers: dict[str, Any] = {
            lsp.WORKSPACE_CONFIGURATION: configuration,
            lsp.WORKSPACE_WORKSPACE_FOLDERS: workspace_folders,
            lsp.PROGRESS: on_progress,
        }
        # Requests answered with null, and notifications we do not use.
        for method in (
            lsp.CLIENT_REGISTER_CAPABILITY,
            lsp.CLIENT_UNREGISTER_CAPABILITY,
            lsp.WINDOW_WORK_DONE_PROGRESS_CREATE,
            lsp.WINDOW_SHOW_MESSAGE_REQUEST,
            lsp.WINDOW_LOG_MESSAGE,
            lsp.WINDOW_SHOW_MESSAGE,
            lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS,
            lsp.TELEMETRY_EVENT,
            lsp.LOG_TRACE,
        ):
            handlers[method] = _null_handler()
        # Server-specific notifications (JDT LS status, tsserver version, rust-analyzer).
        for method in _IGNORED_NOTIFICATIONS:
            handlers[method] = _null_handler()
        for method, handler in handlers.items():
            self._client.feature(method)(handler)


def _signal_group(proc: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    """Send ``sig`` to the server's process group (it leads its own session)."""
    try:
        os.killpg(proc.pid, sig)
    except OSError:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)


def _null_handler() -> Any:
    def handler(params: Any) -> None:
        return None

    return handler


def resolved_detail(item: lsp.CompletionItem) -> str | None:
    """What a resolved item says of its type: its ``detail``, else the first paragraph
    of its ``documentation``, the code block's when there is one, lines joined
    (pyright: ``title: str``, ``def copy() -> Book``)."""
    if item.detail:
        return item.detail
    doc = item.documentation
    value = doc.value if isinstance(doc, lsp.MarkupContent) else doc
    if not value or not value.strip():
        return None
    parts = value.split("```")
    text = parts[1] if len(parts) > 2 else value  # a fenced block: its code
    paragraph = text.strip().split("\n\n", 1)[0]
    lines = [ln.strip() for ln in paragraph.splitlines()]
    if lines and lines[0] in ("python", "py", "java", "go", "typescript", "rust"):
        lines = lines[1:]
    joined = " ".join(ln for ln in lines if ln)
    return joined or None


def _completion_items(result: Any) -> tuple[tuple[lsp.CompletionItem, ...], bool]:
    """Items and ``isIncomplete`` of a completion reply (list, CompletionList or null),
    with ``itemDefaults.insertTextFormat`` applied."""
    if result is None:
        return (), False
    if isinstance(result, lsp.CompletionList):
        items: Iterable[lsp.CompletionItem] = result.items
        defaults = result.item_defaults
        if defaults is not None and defaults.insert_text_format is not None:
            fmt = defaults.insert_text_format
            items = (attrs.evolve(i, insert_text_format=fmt) if i.insert_text_format is None else i for i in items)
        return tuple(items), bool(result.is_incomplete)
    return tuple(result), False


def _trim_edits(
    items: tuple[lsp.CompletionItem, ...], text: str, offset: int, encoding: Encoding
) -> tuple[lsp.CompletionItem, ...]:
    """Items whose edit also replaces text before the cursor (typescript-language-server
    replaces the dot: ``.name``) with that already-typed part cut off ``newText``."""
    out: list[lsp.CompletionItem] = []
    for item in items:
        edit = item.text_edit
        start = getattr(edit, "range", None) or getattr(edit, "insert", None)
        if edit is not None and start is not None:
            begin = position_to_offset(text, start.start, encoding)
            typed = text[begin:offset] if begin < offset else ""
            if typed and not typed[0].isalnum() and typed[0] not in "_$" and edit.new_text.startswith(typed):
                word = len(typed) - len(typed.lstrip(".?:-> "))
                item = attrs.evolve(item, text_edit=attrs.evolve(edit, new_text=edit.new_text[word:]))
        out.append(item)
    return tuple(out)
