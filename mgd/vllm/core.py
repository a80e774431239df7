"""The monitor core shared by the vLLM processors of both model runners.

One :class:`MonitorCore` per processor instance (no module globals) owns an
:class:`~mgd.session.MgdSession` (one background event loop, one
language-server pool, one :class:`~monitors.vocab.VocabIndex` of the model's
tokenizer), created lazily on the first request with ``mgd`` settings, so a vLLM
that never sees one pays nothing. Each such request gets a
:class:`RequestMonitor`: a non-blocking :class:`~monitors.guide.SequenceGuide`
whose lookups start the moment the trigger text exists (while the model computes
the next logits). ``apply()`` waits at most the request's ``wait_ms`` (measured from
the start of the step, so a batch never waits longer than its largest budget);
a lookup that is not ready leaves that step unconstrained and keeps running.

Latency accounting (:class:`CoreStats`): ``lsp_ms`` is the total time lookups took
(start to answer), ``waited_ms`` the time the engine step actually waited for
them; ``hidden_share = 1 - waited_ms / lsp_ms`` is the part of language-server
latency hidden behind model compute.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import dataclasses
import hashlib
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from monitors.base import Monitor
from monitors.guide import SequenceGuide, StepResult
from lsp_bridge.lookup import BridgeLookup, DocumentContext
from mgd.session import MgdSession, SessionConfig
from monitors.languages import get_language
from monitors.registry import build_monitors
from lsp_bridge.gate import LookupGate
from mgd.vllm.healing import removed_bytes, wrap_healing
from mgd.vllm.settings import MgdSettings, allowed_roots_from_env

__all__ = ["TAG_KEY", "CoreStats", "MonitorCore", "RequestMonitor", "SharedLookups", "mask_row", "mask_rows"]

#: ``extra_args`` key of an optional request tag (per-request counters for the offline engine).
TAG_KEY = "mgd_tag"
_MAX_TAGGED = 4096
_MAX_BUILT = 32  # prompts whose freshly built monitors are kept for forking


def mask_row(row: Any, ids: np.ndarray) -> None:
    """Keep only ``ids`` in one logits row (a torch tensor, in place)."""
    import torch

    ids = ids[ids < row.shape[-1]]
    if ids.size == 0:
        return
    idx = torch.from_numpy(ids.astype(np.int64)).to(row.device, non_blocking=True)
    keep = row.index_select(0, idx)
    row.fill_(float("-inf"))
    row.index_copy_(0, idx, keep)


def mask_rows(logits: Any, rows: Sequence[int], ids: Sequence[np.ndarray]) -> None:
    """Keep only ``ids[k]`` in row ``rows[k]`` of ``logits`` (in place), for all rows at once.

    One gather, one fill and one scatter for the whole batch instead of three
    tensor operations per row. Rows whose ids are all out of range are left alone.
    """
    import torch

    if len(rows) == 1:
        mask_row(logits[rows[0]], ids[0])
        return
    width = logits.shape[-1]
    keep_rows: list[int] = []
    parts: list[np.ndarray] = []
    counts: list[int] = []
    for r, a in zip(rows, ids, strict=True):
        a = a[a < width]
        if a.size:
            keep_rows.append(r)
            parts.append(a)
            counts.append(a.size)
    if not keep_rows:
        return
    dev = logits.device
    row_idx = torch.tensor(keep_rows, dtype=torch.int64).to(dev, non_blocking=True)
    cols = torch.from_numpy(np.concatenate(parts).astype(np.int64)).to(dev, non_blocking=True)
    local = torch.repeat_interleave(torch.arange(len(keep_rows)), torch.tensor(counts)).to(dev, non_blocking=True)
    sub = logits.index_select(0, row_idx)
    masked = torch.full_like(sub, float("-inf"))
    masked[local, cols] = sub[local, cols]
    logits.index_copy_(0, row_idx, masked)


class SharedLookups:
    """Language-server answers shared by all requests of one processor.

    Requests whose documents are identical when a monitor asks (the same prompt
    sent several times, ``n > 1`` samples, retries) send one request: the key is
    (server, workspace, file, digests of prefix and suffix, the need without its
    serial), the value the running or finished request. Answers live ``ttl_s``
    seconds (other files of the workspace may change) in an LRU of ``size``;
    failures are dropped as soon as they are known.

    Requests hold the lookups they use (:meth:`hold`) and let go when they end
    (:meth:`release`): a lookup nobody holds any more that has not answered yet
    is cancelled, so the server never computes an answer no request will read
    (one still queued behind the document's lock is never sent).
    """

    def __init__(self, ttl_s: float = 10.0, size: int = 4096) -> None:
        self.ttl_s = ttl_s
        self.size = size
        self._lock = threading.Lock()
        self._entries: OrderedDict[tuple[Any, ...], tuple[float, concurrent.futures.Future[Any]]] = OrderedDict()
        self._holders: dict[concurrent.futures.Future[Any], int] = {}
        self.hits = 0
        self.cancelled = 0

    def get(self, key: tuple[Any, ...]) -> concurrent.futures.Future[Any] | None:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            born, fut = entry
            if now - born > self.ttl_s:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return fut

    def put(self, key: tuple[Any, ...], fut: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._entries[key] = (time.monotonic(), fut)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

        def drop_failure(f: concurrent.futures.Future[Any]) -> None:
            ok = not f.cancelled() and f.exception() is None and getattr(f.result(), "ok", False)
            if not ok:
                with self._lock:
                    entry = self._entries.get(key)
                    if entry is not None and entry[1] is f:
                        del self._entries[key]

        fut.add_done_callback(drop_failure)

    def hold(self, fut: concurrent.futures.Future[Any]) -> None:
        """One more request reads ``fut``."""
        with self._lock:
            self._holders[fut] = self._holders.get(fut, 0) + 1

    def release(self, fut: concurrent.futures.Future[Any]) -> bool:
        """One request less reads ``fut``; cancel it if it was the last and ``fut``
        has not answered (True if cancelled)."""
        with self._lock:
            left = self._holders.get(fut, 0) - 1
            if left > 0:
                self._holders[fut] = left
                return False
            self._holders.pop(fut, None)
            if fut.done():
                return False
        if fut.cancel():  # outside the lock: callbacks (drop_failure) take it
            with self._lock:
                self.cancelled += 1
            return True
        return False

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _reserial(need: Any, shared: concurrent.futures.Future[Any]) -> concurrent.futures.Future[Any]:
    """A future with ``shared``'s facts re-addressed to ``need`` (its own serial)."""
    out: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def done(f: concurrent.futures.Future[Any]) -> None:
        if not out.set_running_or_notify_cancel():
            return
        try:
            out.set_result(dataclasses.replace(f.result(), serial=need.serial))
        except BaseException as exc:  # noqa: BLE001 - handed to the guide, which fails open
            out.set_exception(exc)

    shared.add_done_callback(done)
    return out


@dataclass(slots=True)
class CoreStats:
    """Process-wide counters of one processor (all requests)."""

    requests: int = 0
    steps: int = 0
    constrained_steps: int = 0
    open_steps: int = 0  # a lookup was not ready within the wait budget: step ran free
    fallbacks: int = 0
    lookups: int = 0
    lsp_ms: float = 0.0
    waited_ms: float = 0.0
    draft_rows: int = 0
    shared_lookups: int = 0  # answered by another request's identical lookup
    cancelled_lookups: int = 0  # not answered when the last request reading them ended: cancelled
    forked_monitors: int = 0  # requests whose monitors were forked from an identical prompt's
    apply_ms: float = 0.0  # processor time inside apply() (engine-thread wall time)
    apply_calls: int = 0

    def as_dict(self) -> dict[str, float | int]:
        gated = self.constrained_steps + self.open_steps
        return {
            "requests": self.requests,
            "steps": self.steps,
            "constrained_steps": self.constrained_steps,
            "open_steps": self.open_steps,
            "fallbacks": self.fallbacks,
            "lookups": self.lookups,
            "lsp_ms": round(self.lsp_ms, 3),
            "waited_ms": round(self.waited_ms, 3),
            "hidden_share": round(1.0 - self.waited_ms / self.lsp_ms, 4) if self.lsp_ms > 0 else 1.0,
            "fail_open_rate": round(self.open_steps / gated, 4) if gated else 0.0,
            "draft_rows": self.draft_rows,
            "shared_lookups": self.shared_lookups,
            "cancelled_lookups": self.cancelled_lookups,
            "forked_monitors": self.forked_monitors,
            "apply_ms": round(self.apply_ms, 3),
            "apply_calls": self.apply_calls,
        }


class _TimedLookup:
    """A lookup shared across requests (:class:`SharedLookups`) that records how long requests took.

    One per request: ``held`` lists the lookups this request reads, released by
    :meth:`release` when the request ends.
    """

    def __init__(self, inner: BridgeLookup, core: MonitorCore, spec_name: str, doc: DocumentContext) -> None:
        self._inner = inner
        self._core = core
        self._base = (spec_name, str(doc.workspace), str(doc.file), _digest(doc.prefix), _digest(doc.suffix))
        self.held: list[concurrent.futures.Future[Any]] = []

    def start(self, need: Any) -> concurrent.futures.Future[Any]:
        shared = self._core.shared
        try:
            key: tuple[Any, ...] | None = (*self._base, type(need).__name__, dataclasses.replace(need, serial=0))
            hash(key)
        except TypeError:  # a need that is not a hashable dataclass: not shared
            key = None
        hit = shared.get(key) if key is not None else None
        if hit is not None:
            self._core._lookup_shared()
            shared.hold(hit)
            self.held.append(hit)
            return _reserial(need, hit)
        t0 = time.perf_counter()
        fut = self._core.gate(self._base[0], self._base[1]).submit(lambda: self._inner.start(need))
        self._core._lookup_started()
        fut.add_done_callback(lambda f: f.cancelled() or self._core._lookup_done((time.perf_counter() - t0) * 1000.0))
        shared.hold(fut)
        self.held.append(fut)
        if key is not None:
            shared.put(key, fut)
        return _reserial(need, fut)

    def release(self) -> int:
        """The request ended: let go of its lookups; how many were cancelled."""
        held, self.held = self.held, []
        return sum(self._core.shared.release(f) for f in held)


class RequestMonitor:
    """One request's guide and its committed output tokens."""

    def __init__(self, core: MonitorCore, settings: MgdSettings, guide: SequenceGuide,
                 lookup: _TimedLookup | None = None) -> None:
        self.core = core
        self.settings = settings
        self.guide = guide
        self._lookup = lookup
        self.wait_s = settings.wait_ms / 1000.0
        self._fed = 0
        self._last = -1

    def sync(self, output_ids: Sequence[int]) -> None:
        """Bring the guide to exactly the committed ``output_ids`` (append-only fast path)."""
        n = self._fed
        if len(output_ids) >= n and (n == 0 or output_ids[n - 1] == self._last):
            if len(output_ids) > n:
                self.guide.advance(output_ids[n:])
        else:  # the engine rewrote the history (preemption, rollback): replay
            self.guide.sync(list(output_ids))
        self._fed = len(output_ids)
        self._last = output_ids[-1] if output_ids else -1

    def step(self, deadline: float, draft: Sequence[int] = ()) -> StepResult:
        """Allowed ids for the next token; ``draft`` tokens are fed to a tentative fork."""
        guide = self.guide.fork() if draft else self.guide
        if draft:
            guide.advance(list(draft))
        before_wait = guide.stats.lsp_ms
        before_open = guide.stats.extra.get("open_steps", 0)
        res = guide.allowed(max(0.0, min(self.wait_s, deadline - time.perf_counter())))
        self.core._count(res, guide.stats.lsp_ms - before_wait,
                         guide.stats.extra.get("open_steps", 0) - before_open, bool(draft))
        return res

    def report(self) -> dict[str, float | int]:
        return self.guide.report()

    def close(self) -> None:
        """The request left the batch (finished, aborted or preempted): cancel the
        lookups only it was waiting for (idempotent)."""
        if self._lookup is not None:
            n = self._lookup.release()
            if n:
                self.core._lookups_cancelled(n)


class MonitorCore:
    """Session, stats and request monitors of one processor instance.

    ``tokenizer``: a path/name for ``AutoTokenizer.from_pretrained`` or a tokenizer
    object. ``allowed_roots``: the operator's allow-list (default: from the
    environment). ``server``: language-server preset (None: the language's default).
    ``max_inflight``: lookups per language server sent at a time (:class:`LookupGate`;
    the others wait in mgd, where a request that ends cancels them for free).
    """

    def __init__(
        self,
        tokenizer: Any,
        *,
        allowed_roots: tuple[Path, ...] | None = None,
        server: str | None = None,
        request_timeout_s: float | None = None,
        max_inflight: int = 1,
    ) -> None:
        self._tokenizer = tokenizer
        self.max_inflight = max_inflight
        self._gates: dict[tuple[str, str], LookupGate] = {}
        self.allowed_roots = allowed_roots if allowed_roots is not None else allowed_roots_from_env()
        self._config = SessionConfig(server=server, request_timeout_s=request_timeout_s,
                                     allowed_roots=self.allowed_roots)
        self._session: MgdSession | None = None
        self._lock = threading.Lock()
        self.stats = CoreStats()
        self._atexit: Any = None
        self._tagged: OrderedDict[str, RequestMonitor] = OrderedDict()  # for per-request reports
        self.shared = SharedLookups()
        self._built: OrderedDict[tuple[Any, ...], list[Monitor]] = OrderedDict()  # monitors per prompt

    @property
    def session(self) -> MgdSession:
        """The session, created on first use (tokenizer index, loop, pool)."""
        with self._lock:
            if self._session is None:
                tok = self._tokenizer
                if isinstance(tok, (str, Path)):
                    from transformers import AutoTokenizer

                    tok = AutoTokenizer.from_pretrained(str(tok))
                self._session = MgdSession(tok, self._config)
                # vLLM has no shutdown hook for processors: stop the servers at exit.
                ref = weakref.ref(self)
                self._atexit = lambda: (c := ref()) is not None and c.close()
                atexit.register(self._atexit)
            return self._session

    def gate(self, server: str, workspace: str) -> LookupGate:
        """The gate of one language server (one per preset and workspace, like the pool's)."""
        with self._lock:
            gate = self._gates.get((server, workspace))
            if gate is None:
                gate = self._gates[(server, workspace)] = LookupGate(self.max_inflight)
            return gate

    def parse(self, raw: Any) -> MgdSettings:
        return MgdSettings.parse(raw, self.allowed_roots)

    def open(self, settings: MgdSettings, prompt_ids: Sequence[int], tag: str | None = None) -> RequestMonitor:
        """A monitor for one request; ``prompt_ids`` give the prefix when settings have none.

        ``tag`` (``extra_args["mgd_tag"]``) lets :meth:`pop_reports` return this request's counters.
        """
        session = self.session
        ws, path = session.check_workspace(settings.workspace, settings.file)
        language = get_language(settings.language) if settings.language else session.settings(ws).language_for_path(path)
        prefix = settings.prefix
        if prefix is None:
            index = session.index
            data = b"".join(index.token_bytes(int(t)) for t in prompt_ids if 0 <= int(t) < index.size)
            prefix = data.decode("utf-8", "replace")
        built = self._monitors_for(settings.monitors, language, prefix)
        if settings.heal and settings.prefix is not None:
            built = wrap_healing(built, removed_bytes(session.index, prefix, prompt_ids))
        spec = session.server_for(language, ws)
        doc = DocumentContext(ws, path, prefix, settings.suffix)
        lookup = BridgeLookup(session.loop, session.pool, spec, doc, timeout_s=self._config.request_timeout_s)
        timed = _TimedLookup(lookup, self, spec.name, doc)
        guide = SequenceGuide(built, timed, session.index, wait_s=settings.wait_ms / 1000.0, blocking=False)
        monitor = RequestMonitor(self, settings, guide, timed)
        with self._lock:
            self.stats.requests += 1
            if tag is not None:
                self._tagged[tag] = monitor
                while len(self._tagged) > _MAX_TAGGED:
                    self._tagged.popitem(last=False)
        return monitor

    def _monitors_for(self, names: Sequence[str], language: Any, prefix: str) -> list[Monitor]:
        """Fresh monitors at the end of ``prefix``; forks of earlier ones for a repeated prompt.

        Building parses the whole prefix (tens of ms for a large file, on the engine
        thread); requests with the same prompt (``n > 1``, retries) fork instead.
        """
        key = (tuple(names), language.name, _digest(prefix))
        with self._lock:
            cached = self._built.get(key)
            if cached is not None:
                self._built.move_to_end(key)
        if cached is not None:
            with self._lock:
                self.stats.forked_monitors += 1
            return [m.fork() for m in cached]
        built: list[Monitor] = build_monitors(names, language, prefix)
        with self._lock:
            self._built[key] = [m.fork() for m in built]
            while len(self._built) > _MAX_BUILT:
                self._built.popitem(last=False)
        return built

    def pop_reports(self, tags: Sequence[str]) -> dict[str, dict[str, float | int]]:
        """Counters of the tagged requests (forgotten afterwards)."""
        with self._lock:
            found = {t: self._tagged.pop(t) for t in tags if t in self._tagged}
        return {t: m.report() for t, m in found.items()}

    # -- counters (called from the engine thread and the loop thread) --------------
    def _lookup_started(self) -> None:
        with self._lock:
            self.stats.lookups += 1

    def _lookup_shared(self) -> None:
        with self._lock:
            self.stats.shared_lookups += 1

    def _lookups_cancelled(self, n: int) -> None:
        with self._lock:
            self.stats.cancelled_lookups += n

    def _applied(self, ms: float) -> None:
        with self._lock:
            self.stats.apply_ms += ms
            self.stats.apply_calls += 1

    def forget_lookups(self) -> None:
        """Drop what is shared across requests: lookup answers and built monitors
        (benchmarks: no run profits from an earlier one)."""
        self.shared.clear()
        with self._lock:
            self._built.clear()

    def _lookup_done(self, ms: float) -> None:
        with self._lock:
            self.stats.lsp_ms += ms

    def _count(self, res: StepResult, waited_ms: float, opened: int, draft: bool) -> None:
        with self._lock:
            s = self.stats
            s.steps += 1
            s.waited_ms += waited_ms
            s.open_steps += opened
            s.draft_rows += int(draft)
            if res.fallback:
                s.fallbacks += 1
            elif res.ids is not None:
                s.constrained_steps += 1

    def report(self) -> dict[str, float | int]:
        with self._lock:
            out = self.stats.as_dict()
            out["unsent_lookups"] = sum(g.never_sent for g in self._gates.values())
            return out

    def close(self) -> None:
        """Stop every language server and the loop (idempotent)."""
        with self._lock:
            session, self._session = self._session, None
        if session is not None:
            atexit.unregister(self._atexit)
            session.close()
