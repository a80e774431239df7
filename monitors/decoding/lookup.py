"""Lookups through the LSP bridge, for synchronous engines.

:class:`BridgeLookup` maps a monitor's :class:`~monitors.base.CompletionNeed`
or :class:`~monitors.base.SignatureNeed` (offsets into the generated text) onto
the document an editor would hold, ``prefix + generated + suffix``, and asks the
language server on the background event loop. Errors become facts with
``ok=False``: decoding never sees an exception from a language server.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsp_bridge import BackgroundLoop, ServerPool, ServerSpec, identifier_names
from monitors.base import CompletionFacts, Facts, Need, SignatureFacts, SignatureNeed
from monitors.calls import signature_of
from monitors.errors import LspError

__all__ = ["BridgeLookup", "DocumentContext"]

log = logging.getLogger(__name__)

_Key = tuple[str, str, int]


@dataclass(frozen=True, slots=True)
class DocumentContext:
    """Where a sequence is generated: the file and the text around the hole."""

    workspace: Path
    file: Path
    prefix: str
    suffix: str


class BridgeLookup:
    """Starts LSP requests on the bridge's loop; identical requests are shared.

    A need is keyed by (request kind, document text, offset): several monitors
    asking the same thing at the same place (a completion filtered by different
    item kinds, one signature help for two call monitors) cause one request,
    whether it is still running or already answered (an LRU of ``cache_size``
    answers). Failed requests are not kept; a request every caller abandoned (the
    guide's wait ran out) is cancelled. ``requests``/``shared`` count them.
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
    ) -> None:
        self._loop = loop
        self._pool = pool
        self._spec = spec
        self._doc = doc
        self._timeout = timeout_s  # None: the server spec decides (longer for a first request)
        self._cache: OrderedDict[_Key, concurrent.futures.Future[Any]] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()  # start() runs on the engine thread, callbacks on the loop's
        self._waiters: dict[concurrent.futures.Future[Any], int] = {}  # callers still waiting per request
        self.requests = 0
        self.shared = 0

    def start(self, need: Need) -> concurrent.futures.Future[Facts]:
        kind = "signature" if isinstance(need, SignatureNeed) else "completion"
        key = (kind, need.generated, need.offset)
        with self._lock:
            raw = self._cache.get(key)
            if raw is None:
                raw = self._loop.submit(self._ask(kind, need))
                self._cache[key] = raw
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
                self.requests += 1
            else:
                self._cache.move_to_end(key)
                self.shared += 1
            self._waiters[raw] = self._waiters.get(raw, 0) + 1
        out: concurrent.futures.Future[Facts] = concurrent.futures.Future()

        def abandoned(o: concurrent.futures.Future[Facts]) -> None:
            # Every caller gave up (the guide's wait ran out): cancel the request
            # itself, so the server and the document lock are free for the next one.
            with self._lock:
                left = self._waiters.get(raw, 1) - 1
                if left > 0:
                    self._waiters[raw] = left
                    return
                self._waiters.pop(raw, None)
                if not o.cancelled() or raw.done():
                    return
                if self._cache.get(key) is raw:
                    del self._cache[key]
            raw.cancel()

        def done(f: concurrent.futures.Future[Any]) -> None:
            facts = self._facts(need, f)
            if not facts.ok:
                with self._lock:
                    if self._cache.get(key) is f:
                        del self._cache[key]  # do not keep failures
            if out.set_running_or_notify_cancel():
                out.set_result(facts)

        raw.add_done_callback(done)
        out.add_done_callback(abandoned)
        return out

    async def _ask(self, kind: str, need: Need) -> Any:
        doc = self._doc
        text = doc.prefix + need.generated + doc.suffix
        offset = len(doc.prefix) + need.offset
        if kind == "signature":
            res = await self._pool.signature_help(
                self._spec, doc.workspace, doc.file, text, offset, timeout=self._timeout
            )
            log.debug("signature help %s@%d: %d overloads in %.1f ms", doc.file.name, offset,
                      len(res.signatures), res.elapsed_ms)
            return res
        res = await self._pool.complete(self._spec, doc.workspace, doc.file, text, offset, timeout=self._timeout)
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
        return CompletionFacts(need.serial, names, res.incomplete, ok=True)


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
