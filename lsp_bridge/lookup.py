"""Lookups through the LSP bridge, for synchronous engines.

:class:`BridgeLookup` maps a monitor's :class:`~monitors.base.CompletionNeed`
or :class:`~monitors.base.SignatureNeed` (offsets into the generated text) onto
the document an editor would hold, ``prefix + generated + suffix``, and asks the
language server on the background event loop. Errors become facts with
``ok=False``: decoding never sees an exception from a language server.

Requests are shared through a :class:`RequestCache` (one per session, or one per
lookup when none is given): identical requests, running or answered, are one
request. Two kinds of key (:func:`request_key`):

* ``(kind, server, workspace, file, document text, offset)`` for every request:
  the same question about the same document (several monitors at one place, the
  rows of a batch that wrote the same text, a later case with the same prompt);
* ``("import", server, workspace, file, statement)`` for a completion inside a
  one-line import statement (Python ``import a.``/``from a.``/``from a import``,
  Java ``import a.b.``): the names there (modules, a module's members) do not
  depend on the rest of the document, so a listing is asked once per statement
  (jedi takes up to a second to list a large package) however the text around it
  changes. Incomplete listings are not shared this way.

Answered entries live at most ``ttl_s`` (files on disk may change under a long
session); failed requests are never kept.

Sending: a request starts on the bridge's :class:`~lsp_bridge.loop.BackgroundLoop`,
through a :class:`~lsp_bridge.gate.LookupGate` when one is given (at most a few
requests per language server in flight; the rest wait where cancelling is free).
There is one cancel path: a caller that gives up cancels the future
:meth:`BridgeLookup.start` returned; when no caller waits for a request any more
and it has not answered, the cache forgets it and cancels it (a gated request
still queued is never sent; a sent one gets ``$/cancelRequest``).
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsp_bridge.brackets import closers
from lsp_bridge.gate import LookupGate
from lsp_bridge.loop import BackgroundLoop
from lsp_bridge.names import identifier_entries, identifier_names
from lsp_bridge.pool import ServerPool
from lsp_bridge.provisional import ReceiverMemory, document_members, receiver_at, scope_of
from lsp_bridge.servers import ServerSpec
from monitors.base import CompletionEntry, CompletionFacts, Facts, Need, SignatureFacts, SignatureNeed
from monitors.calls import signature_of
from monitors.errors import ConfigError, LspError

__all__ = ["RESOLVE_LIMIT", "BridgeLookup", "DocumentContext", "LookupStats", "RequestCache", "import_statement", "request_key"]

log = logging.getLogger(__name__)

#: One-line import statements up to the cursor, per language (see :func:`import_statement`).
_IMPORT_STATEMENTS: dict[str, re.Pattern[str]] = {
    "python": re.compile(
        r"^[ \t]*(?:import[ \t]+[\w.]*"
        r"|from[ \t]+[\w.]*"
        r"|from[ \t]+[\w.]+[ \t]+import[ \t]+(?:\w+(?:[ \t]+as[ \t]+\w+)?[ \t]*,[ \t]*)*\w*)$"
    ),
    "java": re.compile(r"^[ \t]*import[ \t]+(?:static[ \t]+)?[\w.]*$"),
}
#: The most items one completion resolves for their types (:attr:`CompletionNeed.types`).
RESOLVE_LIMIT = 48
#: The language of a file when its :class:`DocumentContext` does not say (built-in extensions).
_LANGUAGE_OF_SUFFIX = {".py": "python", ".pyi": "python", ".java": "java"}


@dataclass(frozen=True, slots=True)
class DocumentContext:
    """Where a sequence is generated: the file, the text around the hole, and the file's
    language (as the configuration in force routes it; None: by its extension)."""

    workspace: Path
    file: Path
    prefix: str
    suffix: str
    language: str | None = None


def import_statement(doc: DocumentContext, need: Need) -> str | None:
    """The import statement a completion ``need`` is asked in (its line up to the
    cursor), or None when the cursor is not in a one-line import statement."""
    language = doc.language or _LANGUAGE_OF_SUFFIX.get(doc.file.suffix, "")
    pattern = _IMPORT_STATEMENTS.get(language)
    if pattern is None or isinstance(need, SignatureNeed):
        return None
    before = need.generated[: need.offset]
    nl = before.rfind("\n")
    line = before[nl + 1 :] if nl >= 0 else doc.prefix[doc.prefix.rfind("\n") + 1 :] + before
    if len(line) > 400 or "import" not in line and "from" not in line:
        return None
    return line if pattern.match(line) else None


def request_key(spec: ServerSpec, doc: DocumentContext, need: Need) -> tuple[str, *tuple[Hashable, ...]]:
    """The cache key of ``need`` asked of ``spec`` in ``doc`` (see the module docstring);
    its first item is the key's kind (``"signature"``, ``"import"``, ``"completion"``)."""
    if isinstance(need, SignatureNeed):
        return ("signature", spec, doc.workspace, doc.file, doc.prefix, need.generated, doc.suffix, need.offset)
    statement = import_statement(doc, need)
    if statement is not None:
        return ("import", spec, doc.workspace, doc.file, statement)
    return ("completion", spec, doc.workspace, doc.file, doc.prefix, need.generated, doc.suffix, need.offset,
            need.types)


class LookupStats:
    """Counters of the requests a session sent (thread-safe; shared by its lookups).

    ``sent``: requests written to (or queued for) a server, per key kind;
    ``shared``: answers taken from another caller's request; ``cancelled``:
    requests cancelled because no caller waited any more; ``lsp_ms``: the sum of
    send-to-answer times of answered requests (queueing at a gate included);
    ``service_ms``: the most recent answered requests' times from leaving the
    gate to the answer (the server's own latency), oldest first.
    """

    def __init__(self, keep: int = 4096) -> None:
        self._lock = threading.Lock()
        self.sent: dict[str, int] = {}
        self.shared = 0
        self.cancelled = 0
        self.answered = 0
        self.lsp_ms = 0.0
        self.service_ms: deque[float] = deque(maxlen=keep)

    def count(self, field: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, field, getattr(self, field) + n)

    def count_sent(self, kind: str) -> None:
        with self._lock:
            self.sent[kind] = self.sent.get(kind, 0) + 1

    def answered_in(self, ms: float, service_ms: float | None = None) -> None:
        with self._lock:
            self.answered += 1
            self.lsp_ms += ms
            if service_ms is not None:
                self.service_ms.append(service_ms)

    def as_dict(self) -> dict[str, float | int]:
        with self._lock:
            return {"lookups": sum(self.sent.values()), "shared_lookups": self.shared,
                    "cancelled_lookups": self.cancelled, "answered_lookups": self.answered,
                    "lsp_ms": round(self.lsp_ms, 3)}


@dataclass(slots=True)
class _Entry:
    future: concurrent.futures.Future[Any]
    born: float
    waiters: int = 0


class RequestCache:
    """Requests (running or answered) by key, shared by the lookups of a session.

    A bounded LRU of ``max_entries``; an answered entry older than ``ttl_s`` is
    asked again. Thread-safe: lookups start on engine threads, answers arrive on
    the loop's thread. ``hits``/``misses`` count :meth:`acquire` calls.
    """

    def __init__(self, max_entries: int = 1024, ttl_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ConfigError("RequestCache.max_entries must be >= 1")
        if ttl_s < 0:
            raise ConfigError("RequestCache.ttl_s must be >= 0")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return self._live(key) is not None

    def acquire(
        self, key: Hashable, start: Callable[[], concurrent.futures.Future[Any]]
    ) -> tuple[concurrent.futures.Future[Any], bool]:
        """The request for ``key``, started with ``start()`` if there is none
        (or only an expired one); True if it was shared. The caller waits on it
        until :meth:`release`."""
        with self._lock:
            entry = self._live(key)
            shared = entry is not None
            if entry is None:
                entry = _Entry(start(), self._clock())
                self._entries[key] = entry
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)
                self.misses += 1
            else:
                self._entries.move_to_end(key)
                self.hits += 1
            entry.waiters += 1
            return entry.future, shared

    def release(self, key: Hashable, future: concurrent.futures.Future[Any], *, abandoned: bool) -> bool:
        """One caller of ``future`` is done; True if it was the last of an abandoned,
        unfinished request (then forgotten here: the caller cancels it)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.future is not future:
                return False  # answered and dropped, or evicted: others may still wait on it
            entry.waiters = max(entry.waiters - 1, 0)
            if entry.waiters or not abandoned or future.done():
                return False
            del self._entries[key]
            return True

    def forget(self, key: Hashable, future: concurrent.futures.Future[Any]) -> None:
        """Drop ``key`` if it still holds ``future`` (a failed or unshareable answer)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.future is future:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _live(self, key: Hashable) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None and entry.future.done() and self._clock() - entry.born > self.ttl_s:
            del self._entries[key]
            return None
        return entry


class BridgeLookup:
    """Starts LSP requests on the bridge's loop; identical requests are shared.

    A need is keyed by :func:`request_key`: several monitors asking the same
    thing at the same place (a completion filtered by different item kinds, one
    signature help for two call monitors) cause one request, whether it is still
    running or already answered. With a session's ``cache`` the sharing reaches
    across sequences and cases; without one the lookup keeps its own. A request
    every caller abandoned (the guide's wait ran out) is cancelled.
    ``requests``/``shared`` count this lookup's requests sent / answered by
    another's; ``sent`` counts the sent ones per key kind (``completion``,
    ``import``, ``signature``). ``gate``: sends through a :class:`LookupGate`;
    ``stats``: the session's :class:`LookupStats`, updated too.
    """

    def __init__(
        self,
        loop: BackgroundLoop,
        pool: ServerPool,
        spec: ServerSpec,
        doc: DocumentContext,
        *,
        timeout_s: float | None = None,
        cache_size: int = 256,
        cache: RequestCache | None = None,
        gate: LookupGate | None = None,
        stats: LookupStats | None = None,
        memory: ReceiverMemory | None = None,
    ) -> None:
        self._loop = loop
        self._pool = pool
        self._spec = spec
        self._doc = doc
        self._timeout = timeout_s  # None: the server spec decides (longer for a first request)
        self._cache = cache if cache is not None else RequestCache(cache_size, ttl_s=float("inf"))
        self._gate = gate
        self._stats = stats
        self._memory = memory
        self._raw: weakref.WeakKeyDictionary[concurrent.futures.Future[Any], concurrent.futures.Future[Any]] = \
            weakref.WeakKeyDictionary()  # what start() returned -> the (shared, gated) request
        self.requests = 0
        self.shared = 0
        self.sent: dict[str, int] = {}
        #: Gated requests waiting for their server to start (see :meth:`_after_start`).
        self._starting: weakref.WeakSet[concurrent.futures.Future[Any]] = weakref.WeakSet()

    def _send(self, need: Need) -> concurrent.futures.Future[Any]:
        """Start the request now, or queue it at the gate (the coroutine is made only
        when it is sent, so a request cancelled in the queue costs nothing)."""
        t0 = time.perf_counter()
        sent = [t0]  # when the request left the gate
        stats = self._stats

        def submit() -> concurrent.futures.Future[Any]:
            sent[0] = time.perf_counter()
            return self._loop.submit(self._ask(need))

        def answered(f: concurrent.futures.Future[Any]) -> None:
            if stats is not None and not f.cancelled():
                now = time.perf_counter()
                stats.answered_in((now - t0) * 1000.0, (now - sent[0]) * 1000.0)

        gate = self._gate
        if gate is None:
            fut = submit()
        elif self._pool.running(self._spec, self._doc.workspace):
            fut = gate.submit(submit)
        else:
            fut = self._after_start(lambda: gate.submit(submit))
        fut.add_done_callback(answered)
        return fut

    def _after_start(self, then: Callable[[], concurrent.futures.Future[Any]]) -> concurrent.futures.Future[Any]:
        """``then()``'s result, called once the server is up (or failed to start): a gated
        request never holds its gate while its server starts, and until it is sent its
        :meth:`eta_s` counts the start in. Cancelling the result before that sends nothing."""
        proxy: concurrent.futures.Future[Any] = concurrent.futures.Future()
        started = self._loop.submit(self._pool.get(self._spec, self._doc.workspace))
        self._starting.add(proxy)

        def go(_f: concurrent.futures.Future[Any]) -> None:
            self._starting.discard(proxy)
            if proxy.cancelled():
                return
            inner = then()

            def relay(f: concurrent.futures.Future[Any]) -> None:
                if f.cancelled():
                    proxy.cancel()
                    return
                exc = f.exception()
                try:
                    if exc is not None:
                        proxy.set_exception(exc)
                    else:
                        proxy.set_result(f.result())
                except concurrent.futures.InvalidStateError:
                    pass

            inner.add_done_callback(relay)
            proxy.add_done_callback(lambda p: p.cancelled() and inner.cancel())

        proxy.add_done_callback(lambda p: p.cancelled() and started.cancel())
        started.add_done_callback(go)
        return proxy

    def start(self, need: Need) -> concurrent.futures.Future[Facts]:
        """Send (or share) the request ``need`` asks for; the future is the guide's
        :class:`~monitors.guide.Pending` (mgd's waiter waits on it)."""
        key = request_key(self._spec, self._doc, need)
        raw, shared = self._cache.acquire(key, lambda: self._send(need))
        stats = self._stats
        if shared:
            self.shared += 1
            if stats is not None:
                stats.count("shared")
        else:
            self.requests += 1
            self.sent[key[0]] = self.sent.get(key[0], 0) + 1
            if stats is not None:
                stats.count_sent(key[0])
        out: concurrent.futures.Future[Facts] = concurrent.futures.Future()
        cache = self._cache

        def finished(o: concurrent.futures.Future[Facts]) -> None:
            # Every caller gave up (the guide's wait ran out, the sequence ended):
            # cancel the request itself, so the server and the document lock are
            # free for the next one (a queued one is never sent).
            if cache.release(key, raw, abandoned=o.cancelled()) and raw.cancel() and stats is not None:
                stats.count("cancelled")

        def done(f: concurrent.futures.Future[Any]) -> None:
            facts = self._facts(need, f)
            if not facts.ok or (key[0] == "import" and getattr(_result(f), "incomplete", False)):
                cache.forget(key, f)  # do not keep failures (nor share a partial listing)
            elif self._memory is not None and isinstance(facts, CompletionFacts) and not facts.incomplete \
                    and facts.names and not isinstance(need, SignatureNeed) and need.kinds is None:
                where = self._receiver_scope(need)
                if where is not None:
                    self._memory.put(where[1], facts.names)
            if out.set_running_or_notify_cancel():
                out.set_result(facts)

        raw.add_done_callback(done)
        out.add_done_callback(finished)
        self._raw[out] = raw
        return out

    def eta_s(self, future: concurrent.futures.Future[Any]) -> float | None:
        """Estimated seconds until the request behind ``future`` (from :meth:`start`)
        is answered, from its gate (None: unknown, or no gate)."""
        raw = self._raw.get(future)
        if raw is None or self._gate is None:
            return None
        if raw.done():
            return 0.0
        if raw in self._starting:  # its server is still starting: that, then the lookup itself
            start = self._pool.start_eta_s(self._spec, self._doc.workspace)
            return None if start is None else start + (self._gate.service_s or 0.0)
        return self._gate.eta_s(raw)

    def _receiver_scope(self, need: Need) -> tuple[tuple[int, int, str], Hashable] | None:
        """The scope of the need's receiver and its memory key (None: no plain receiver)."""
        if isinstance(need, SignatureNeed):
            return None
        doc = self._doc
        before = doc.prefix + need.generated[: need.offset]
        receiver = receiver_at(before)
        if receiver is None:
            return None
        text = before + doc.suffix
        language = doc.language or _LANGUAGE_OF_SUFFIX.get(doc.file.suffix)
        scope = scope_of(text, len(before), receiver, language)
        return scope, (self._spec.name, doc.workspace, doc.file, receiver, scope[2])

    def provisional(self, need: Need) -> Facts | None:
        """Names to constrain ``need`` with until the server answers (see
        :mod:`lsp_bridge.provisional`), or None. Never asks the server."""
        if isinstance(need, SignatureNeed) or need.kinds is not None or need.entries:
            return None  # monitors that filter by kind or type need the server's items
        where = self._receiver_scope(need)
        if where is None:
            return None
        (start, end, _key), key = where
        names = self._memory.get(key) if self._memory is not None else None
        if names is None:
            doc = self._doc
            before = doc.prefix + need.generated[: need.offset]
            names = document_members(before + doc.suffix, receiver_at(before) or "", start, end)
        return CompletionFacts(need.serial, names) if names else None

    async def _ask(self, need: Need) -> Any:
        doc = self._doc
        text = doc.prefix + need.generated + doc.suffix
        offset = len(doc.prefix) + need.offset
        if isinstance(need, SignatureNeed):
            server, path = await self._pool.server_for(self._spec, doc.workspace, doc.file)
            res = await server.signature_help(path, text, offset, timeout=self._timeout)
            log.debug("signature help %s@%d: %d overloads in %.1f ms", doc.file.name, offset,
                      len(res.signatures), res.elapsed_ms)
            return res
        close = closers(doc.language or _LANGUAGE_OF_SUFFIX.get(doc.file.suffix, ""), text[:offset])
        if close:  # Python: the suffix must not continue the brackets open at the cursor
            text = text[:offset] + close + text[offset:]
        res = await self._pool.complete(self._spec, doc.workspace, doc.file, text, offset, timeout=self._timeout,
                                        resolve=RESOLVE_LIMIT if need.types else 0)
        log.debug("lookup %s@%d: %d names%s in %.1f ms", doc.file.name, offset, len(res.names),
                  " (incomplete)" if res.incomplete else "", res.elapsed_ms)
        return res

    def _facts(self, need: Need, f: concurrent.futures.Future[Any]) -> Facts:
        """The answer to ``need`` from a finished request (errors: ``ok=False``)."""
        try:
            res = f.result()
        except (TimeoutError, LspError, OSError, concurrent.futures.CancelledError) as exc:
            log.debug("lookup failed (%s): %s", type(exc).__name__, exc)
            res = None
        except Exception as exc:  # noqa: BLE001 - a server's bad answer must not reach decoding
            log.warning("lookup failed unexpectedly (%s): %s", type(exc).__name__, exc)
            res = None
        if isinstance(need, SignatureNeed):
            if res is None:
                return SignatureFacts(need.serial, ok=False)
            sigs = tuple(signature_of(s.label, _param_labels(s)) for s in res.signatures)
            return SignatureFacts(need.serial, sigs, res.active, ok=True)
        if res is None:
            return CompletionFacts(need.serial, frozenset(), ok=False)
        names = res.names if need.kinds is None else identifier_names(res.items, need.kinds)
        entries = ()
        if need.entries:  # monitors that filter by type/insert text (enum cases, Java new)
            kinds = self._spec.identifier_kinds if need.kinds is None else need.kinds
            entries = tuple(CompletionEntry(*e) for e in identifier_entries(res.items, kinds))
        return CompletionFacts(need.serial, names, res.incomplete, ok=True, entries=entries)


def _result(f: concurrent.futures.Future[Any]) -> Any:
    """The result of a finished future, None if it failed."""
    try:
        return f.result(timeout=0)
    except BaseException:  # noqa: BLE001 - only asked after _facts said ok
        return None


def _param_labels(sig: Any) -> tuple[str, ...]:
    """Each parameter's label text (a string, or an offset pair into the signature label)."""
    out: list[str] = []
    for p in sig.parameters or ():
        label = p.label
        if isinstance(label, str):
            out.append(label)
        else:
            start, end = label  # UTF-16 offsets; exact for the BMP labels servers send
            out.append(sig.label[start:end])
    return tuple(out)
