"""Lookups through the LSP bridge, for synchronous engines.

:class:`BridgeLookup` maps a monitor's :class:`~monitors.base.CompletionNeed`
(offsets into the generated text) onto the document an editor would hold,
``prefix + generated + suffix``, and asks the language server on the
background event loop. Errors become ``CompletionFacts(ok=False)``: decoding
never sees an exception from a language server.
"""

from __future__ import annotations

import concurrent.futures
import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from lsp_bridge import BackgroundLoop, ServerPool, ServerSpec
from monitors.base import CompletionFacts, CompletionNeed
from monitors.errors import LspError

__all__ = ["BridgeLookup", "DocumentContext"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DocumentContext:
    """Where a sequence is generated: the file and the text around the hole."""

    workspace: Path
    file: Path
    prefix: str
    suffix: str


class BridgeLookup:
    """Starts completion requests on the bridge's loop; results are cached."""

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
        self._cache: OrderedDict[tuple[str, int], CompletionFacts] = OrderedDict()
        self._cache_size = cache_size

    def start(self, need: CompletionNeed) -> concurrent.futures.Future[CompletionFacts]:
        key = (need.generated, need.offset)
        hit = self._cache.get(key)
        if hit is not None:
            fut: concurrent.futures.Future[CompletionFacts] = concurrent.futures.Future()
            fut.set_result(CompletionFacts(need.serial, hit.names, hit.incomplete, hit.ok))
            return fut
        return self._loop.submit(self._ask(need, key))

    async def _ask(self, need: CompletionNeed, key: tuple[str, int]) -> CompletionFacts:
        doc = self._doc
        text = doc.prefix + need.generated + doc.suffix
        offset = len(doc.prefix) + need.offset
        try:
            res = await self._pool.complete(
                self._spec, doc.workspace, doc.file, text, offset, timeout=self._timeout
            )
        except (TimeoutError, LspError, OSError) as exc:
            log.debug("lookup failed (%s): %s", type(exc).__name__, exc)
            return CompletionFacts(need.serial, frozenset(), ok=False)
        facts = CompletionFacts(need.serial, res.names, res.incomplete, ok=True)
        log.debug("lookup %s@%d: %d names%s in %.1f ms", doc.file.name, offset, len(res.names),
                  " (incomplete)" if res.incomplete else "", res.elapsed_ms)
        self._remember(key, facts)
        return facts

    def _remember(self, key: tuple[str, int], facts: CompletionFacts) -> None:
        # Runs on the loop thread; OrderedDict ops are atomic enough under the GIL
        # for this best-effort cache (a lost entry only costs a repeated request).
        self._cache[key] = facts
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
