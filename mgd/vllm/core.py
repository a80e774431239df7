"""The monitor core shared by the vLLM processors of both model runners.

One :class:`MonitorCore` per processor instance (no module globals) owns an
:class:`~mgd.session.MgdSession` (one background event loop, one language-server
pool, one request cache, one :class:`~monitors.vocab.VocabIndex` of the model's
tokenizer), created lazily on the first request with ``mgd`` settings, so a vLLM
that never sees one pays nothing. Each such request gets a :class:`RequestMonitor`:
a non-blocking guide built by :meth:`MgdSession.guide` (the same factory, the same
``mgd.toml`` and the same monitors as every other engine), whose lookups start the
moment the trigger text exists (while the model computes the next logits).
``apply()`` waits at most the request's ``wait_ms`` (measured from the start of the
step, so a batch never waits longer than its largest budget); a lookup that is not
ready leaves that step unconstrained and keeps running.

Sharing across requests is the session's: identical lookups are one request
(:class:`~lsp_bridge.lookup.RequestCache`, import listings per statement), a
repeated prompt forks its monitors, and at most one lookup per language server is
in flight (:class:`~lsp_bridge.gate.LookupGate`). A request that ends closes its
guide: lookups no other request waits for are cancelled (one cancel path).

Latency accounting (:meth:`MonitorCore.report`): ``lsp_ms`` is the total time
lookups took (send to answer), ``waited_ms`` the time engine steps actually waited
for them; ``hidden_share = 1 - waited_ms / lsp_ms`` is the part of language-server
latency hidden behind model compute.
"""

from __future__ import annotations

import atexit
import concurrent.futures
import logging
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lsp_bridge.cpus import pin_thread
from mgd.config import MgdSettings, SessionConfig, allowed_roots_from_env
from mgd.engines.fim import FimPrompter
from mgd.session import MgdSession
from monitors.errors import ConfigError, MgdError
from monitors.guide import SequenceGuide, StepResult
from monitors.healing import removed_bytes

__all__ = ["TAG_KEY", "CoreStats", "MonitorCore", "RequestMonitor"]

log = logging.getLogger("mgd.vllm")

#: ``extra_args`` key of an optional request tag (per-request counters for the offline engine).
TAG_KEY = "mgd_tag"
_MAX_TAGGED = 4096
#: The longest a warm-up (:meth:`MonitorCore.warm`) is kept open for the requests it prepares.
WARM_LIMIT_S = 10.0


def _close_when_built(built: concurrent.futures.Future[SequenceGuide]) -> None:
    """Close a guide now, or when it is built."""
    if not built.cancel():
        built.add_done_callback(lambda f: f.cancelled() or f.exception() or f.result().close())


def _pin_quietly(cpus: frozenset[int]) -> None:
    try:
        pin_thread(cpus)
    except ConfigError as exc:
        log.warning("mgd: guide builder not pinned: %s", exc)


#: Guide counters (``stats.extra``) a step adds to :class:`CoreStats`.
_STEP_COUNTERS = ("open_steps", "needed_lookups", "open_lookups", "provisional_lookups")


@dataclass(slots=True)
class CoreStats:
    """Engine-side counters of one processor (all requests); lookup counters come
    from the session (:meth:`MgdSession.report`)."""

    requests: int = 0
    steps: int = 0
    constrained_steps: int = 0
    open_steps: int = 0  # a lookup was not ready within the wait budget: step ran free
    needed_lookups: int = 0  # lookups a step needed
    open_lookups: int = 0  # ... of which the first step that needed it ran free
    provisional_steps: int = 0  # a lookup was not ready: step constrained to provisional names
    provisional_lookups: int = 0  # lookups whose first needed step was constrained provisionally
    unbuilt_steps: int = 0  # the request's guide was still being built: step ran free
    fallbacks: int = 0
    waited_ms: float = 0.0
    draft_rows: int = 0
    apply_ms: float = 0.0  # processor time inside apply() (engine-thread wall time)
    apply_calls: int = 0

    def as_dict(self) -> dict[str, float | int]:
        gated = self.constrained_steps + self.provisional_steps + self.open_steps
        return {
            "requests": self.requests,
            "steps": self.steps,
            "constrained_steps": self.constrained_steps,
            "open_steps": self.open_steps,
            "needed_lookups": self.needed_lookups,
            "open_lookups": self.open_lookups,
            "open_lookup_rate": round(self.open_lookups / self.needed_lookups, 4) if self.needed_lookups else 0.0,
            "provisional_steps": self.provisional_steps,
            "provisional_lookups": self.provisional_lookups,
            "unbuilt_steps": self.unbuilt_steps,
            "fallbacks": self.fallbacks,
            "waited_ms": round(self.waited_ms, 3),
            "fail_open_rate": round(self.open_steps / gated, 4) if gated else 0.0,
            "draft_rows": self.draft_rows,
            "apply_ms": round(self.apply_ms, 3),
            "apply_calls": self.apply_calls,
        }


class RequestMonitor:
    """One request's guide and its committed output tokens.

    The guide may still be being built (``MonitorCore(background=True)``: parsing
    the prompt takes ~10 ms for a large file, done off the engine thread while the
    model runs the prefill); until it is, :meth:`sync` only remembers the tokens and
    :meth:`step` waits for it within the step's budget, else that step runs free
    (``unbuilt_steps``).
    """

    def __init__(self, core: MonitorCore, settings: MgdSettings,
                 guide: concurrent.futures.Future[SequenceGuide]) -> None:
        self.core = core
        self.settings = settings
        self.wait_s = settings.wait_ms / 1000.0
        self._building = guide
        self._guide: SequenceGuide | None = None
        self._broken = False
        self._closed = False
        self._ids: Sequence[int] = ()
        self._last_provisional = False
        self.steps = 0  # engine steps this request was in
        self.unbuilt_steps = 0  # ... of which ran free because its guide was still being built
        self.open_steps = 0  # ... or because a lookup was not answered in time (no provisional names)

    @property
    def guide(self) -> SequenceGuide:
        """The guide (waits for it to be built; raises what building raised)."""
        if self._guide is None:
            self._adopt(self._building.result())
        assert self._guide is not None
        return self._guide

    def _ready(self, timeout: float) -> SequenceGuide | None:
        """The guide if it is built within ``timeout`` seconds, else None."""
        if self._guide is not None or self._broken:
            return self._guide
        try:
            guide = self._building.result(timeout=max(timeout, 0.0))
        except concurrent.futures.TimeoutError:
            return None
        except concurrent.futures.CancelledError:  # closed before it was built
            self._broken = True
            return None
        except (MgdError, ValueError, OSError) as exc:
            log.warning("mgd: request left unconstrained: %s", exc)
            self._broken = True
            return None
        self._adopt(guide)
        return guide

    def _adopt(self, guide: SequenceGuide) -> None:
        self._guide = guide
        if self._closed:
            guide.close()
        elif self._ids:
            guide.sync(self._ids)

    def sync(self, output_ids: Sequence[int]) -> None:
        """Bring the guide to exactly the committed ``output_ids`` (appended tokens are
        fed; a rewritten history, from preemption or rollback, is replayed)."""
        self._ids = output_ids
        guide = self._ready(0.0)
        if guide is not None:
            guide.sync(output_ids)

    def step(self, deadline: float, draft: Sequence[int] = ()) -> StepResult:
        """Allowed ids for the next token; ``draft`` tokens are fed to a tentative fork."""
        budget = max(0.0, min(self.wait_s, deadline - time.perf_counter()))
        t0 = time.perf_counter()
        base = self._ready(budget)
        self.steps += int(not draft)
        if base is None:
            self.unbuilt_steps += int(not self._broken)
            self.core._unbuilt((time.perf_counter() - t0) * 1000.0, broken=self._broken)
            return StepResult(None)
        guide = base.fork() if draft else base
        if draft:
            guide.advance(list(draft))
        extra = guide.stats.extra
        before_wait = guide.stats.lsp_ms
        before = [extra.get(k, 0) for k in _STEP_COUNTERS]
        res = guide.allowed(max(0.0, min(self.wait_s, deadline - time.perf_counter())))
        self._last_provisional = res.provisional
        counted = [extra.get(k, 0) - b for k, b in zip(_STEP_COUNTERS, before, strict=True)]
        self.open_steps += int(counted[0] > 0 and not draft)  # _STEP_COUNTERS[0]: open_steps
        self.core._count(res, guide.stats.lsp_ms - before_wait, counted, bool(draft))
        return res

    def unmasked(self) -> None:
        """The processor could not apply the last step's ids (none inside the logits row)."""
        if self._guide is not None:
            self._guide.unmasked(self._last_provisional)
        self.core._unmasked(self._last_provisional)

    def report(self) -> dict[str, Any]:
        """The guide's counters, ``lookup_positions`` (how many tokens had been generated
        when each of its lookups started), ``steps`` and ``unguided_steps``: the steps that
        ran free because mgd was late (a lookup not answered within the step's budget and
        no provisional names, or the guide still being built)."""
        guide = self._ready(0.0)
        counts = {"steps": self.steps, "unbuilt_steps": self.unbuilt_steps}
        unguided = self.open_steps + self.unbuilt_steps
        if guide is None:
            return {**counts, "unguided_steps": unguided}
        return {**guide.report(), "lookup_positions": list(guide.lookup_positions), **counts,
                "unguided_steps": unguided}

    def close(self) -> None:
        """The request left the batch (finished, aborted or preempted): give up the
        lookups it waits for (idempotent; a guide still being built is closed when done)."""
        self._closed = True
        if self._guide is not None:
            self._guide.close()
        elif not self._building.cancel():
            self._building.add_done_callback(lambda f: f.cancelled() or f.exception() or f.result().close())


class MonitorCore:
    """Session, stats and request monitors of one processor instance.

    ``tokenizer``: a path/name for ``AutoTokenizer.from_pretrained`` or a tokenizer
    object. ``config``: the session settings (server, ``mgd.toml``, request timeout,
    monitors for every request without its own); its ``allowed_roots`` is the
    operator's allow-list (default: from the environment) and ``max_inflight``
    defaults to 1 (lookups per language server sent at a time; the others wait in
    mgd, where a request that ends cancels them for free).
    """

    def __init__(self, tokenizer: Any, config: SessionConfig | None = None, *, background: bool = False) -> None:
        config = config or SessionConfig()
        if config.allowed_roots is None:
            config = replace(config, allowed_roots=allowed_roots_from_env())
        if config.max_inflight is None:
            config = replace(config, max_inflight=1)
        self._tokenizer = tokenizer
        self.config = config
        self.allowed_roots = config.allowed_roots
        self._session: MgdSession | None = None
        self._lock = threading.Lock()
        self.stats = CoreStats()
        self._atexit: Any = None
        self._tagged: OrderedDict[str, RequestMonitor] = OrderedDict()  # for per-request reports
        self._background = background
        self._builder: concurrent.futures.ThreadPoolExecutor | None = None
        self._warming: dict[str, tuple[concurrent.futures.Future[SequenceGuide], float]] = {}  # see warm()
        self._tokenizer_obj: Any = None
        self._fim: FimPrompter | None = None

    @property
    def session(self) -> MgdSession:
        """The session, created on first use (tokenizer index, loop, pool)."""
        with self._lock:
            if self._session is None:
                tok = self._tokenizer
                if isinstance(tok, str | Path):
                    from transformers import AutoTokenizer

                    tok = AutoTokenizer.from_pretrained(str(tok))
                self._tokenizer_obj = tok if callable(tok) else None
                self._session = MgdSession(tok, self.config)
                # vLLM has no shutdown hook for processors: stop the servers at exit.
                ref = weakref.ref(self)
                self._atexit = lambda: (c := ref()) is not None and c.close()
                atexit.register(self._atexit)
            return self._session

    def parse(self, raw: Any) -> MgdSettings:
        return MgdSettings.parse(raw, self.allowed_roots)

    def open(self, settings: MgdSettings, prompt_ids: Sequence[int], tag: str | None = None) -> RequestMonitor:
        """A monitor for one request; ``prompt_ids`` give the prefix when settings have none.

        ``tag`` (``extra_args["mgd_tag"]``) lets :meth:`pop_reports` return this request's counters.
        """
        session = self.session
        index = session.index
        head = self.fim_layout().head_of(prompt_ids)  # a FIM prompt's prefix block, else the prompt
        prefix = settings.prefix
        if prefix is None:
            prefix = self._prompt_text(head)
        heal = removed_bytes(index, prefix, head) if settings.heal and settings.prefix is not None else b""

        def build() -> SequenceGuide:
            return session.guide(
                settings.workspace, settings.file, prefix, settings.suffix,
                monitors=settings.monitors, language=settings.language, heal=heal,
                wait_s=settings.wait_ms / 1000.0, blocking=False, provisional=settings.provisional,
                stops=settings.stop, max_tokens=settings.max_tokens,
            )

        if self._background:
            guide = self._builder_pool().submit(build)
        else:
            guide = concurrent.futures.Future()
            guide.set_result(build())  # errors raise here, to the caller
        monitor = RequestMonitor(self, settings, guide)
        with self._lock:
            self.stats.requests += 1
            if tag is not None:
                self._tagged[tag] = monitor
                while len(self._tagged) > _MAX_TAGGED:
                    self._tagged.popitem(last=False)
        return monitor

    def warm(self, settings: MgdSettings, text: str, *, prompt: bool = False) -> str:
        """Start what a request will need first (its workspace's language server, the
        document, the lookups at the cursor) before the request reaches the engine, and
        return at once: a token for :meth:`warmed`. ``text``: the document before the
        cursor, or with ``prompt`` the request's prompt text when its settings give no
        ``prefix`` (it is tokenized as vLLM tokenizes it and read back the way
        :meth:`open` reads the prompt ids, so both ask the same question and the
        request's lookups find the warm-up's in the session's request cache). A warm-up
        is closed once its lookups are answered, or after :data:`WARM_LIMIT_S`."""
        session = self.session
        prefix = settings.prefix
        if prefix is None:
            prefix = self._prompt_text(self.fim_layout().head_of(self._tokenize(text))) if prompt else text

        def build() -> SequenceGuide:
            return session.guide(
                settings.workspace, settings.file, prefix, settings.suffix, monitors=settings.monitors,
                language=settings.language, wait_s=0.0, blocking=False, provisional=False)

        if self._background:
            guide = self._builder_pool().submit(build)
        else:
            guide = concurrent.futures.Future()
            guide.set_result(build())
        token = f"warm-{id(guide):x}-{time.monotonic_ns():x}"
        with self._lock:
            self._warming[token] = (guide, time.monotonic())
        self._sweep_warm()
        return token

    def warmed(self, token: str) -> bool:
        """True once the lookups :meth:`warm` started are answered (or ``token`` is unknown:
        done and closed, or given up); the warm-up guide is closed then."""
        self._sweep_warm()
        with self._lock:
            return token not in self._warming

    def cancel_warm(self, token: str) -> None:
        with self._lock:
            entry = self._warming.pop(token, None)
        if entry is not None:
            _close_when_built(entry[0])

    def _sweep_warm(self) -> None:
        """Close the warm-ups that are answered or older than :data:`WARM_LIMIT_S`."""
        now = time.monotonic()
        with self._lock:
            entries = list(self._warming.items())
        for token, (built, born) in entries:
            done = False
            if built.done():
                try:
                    done = built.result().ready_allowed() is not None
                except Exception:  # noqa: BLE001 - a warm-up that could not be built is over
                    done = True
            if done or now - born > WARM_LIMIT_S:
                self.cancel_warm(token)

    def fim_layout(self) -> FimPrompter:
        """The tokenizer's FIM layout (detected), to find a FIM prompt's prefix block."""
        if self._fim is None:
            self.session  # noqa: B018 - loads the tokenizer
            tok = self._tokenizer_obj
            self._fim = (FimPrompter.resolve(tok) if tok is not None and hasattr(tok, "get_vocab")
                         else FimPrompter(None, {}, "no tokenizer"))
        return self._fim

    def _tokenize(self, text: str) -> list[int]:
        """``text`` as vLLM tokenizes a completion prompt (special tokens added)."""
        self.session  # noqa: B018 - loads the tokenizer
        tok = self._tokenizer_obj
        return [int(t) for t in tok(text)["input_ids"]] if tok is not None else []

    def _prompt_text(self, prompt_ids: Sequence[int]) -> str:
        """The document before the cursor read from a prompt's token ids (special tokens: nothing)."""
        index = self.session.index
        data = b"".join(index.token_bytes(int(t)) for t in prompt_ids if 0 <= int(t) < index.size)
        return data.decode("utf-8", "replace")

    def _builder_pool(self) -> concurrent.futures.ThreadPoolExecutor:
        """One thread that builds guides (on the language servers' CPUs, if reserved)."""
        with self._lock:
            if self._builder is None:
                cpus = self.config.lsp_cpus
                if cpus is None:
                    self._builder = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="mgd-guide-builder")
                else:
                    self._builder = concurrent.futures.ThreadPoolExecutor(
                        1, thread_name_prefix="mgd-guide-builder", initializer=_pin_quietly, initargs=(cpus,))
            return self._builder

    def pop_reports(self, tags: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Counters of the tagged requests (forgotten afterwards)."""
        with self._lock:
            found = {t: self._tagged.pop(t) for t in tags if t in self._tagged}
        return {t: m.report() for t, m in found.items()}

    def forget_lookups(self) -> None:
        """Drop what is shared across requests: lookup answers and built monitors
        (benchmarks: no run profits from an earlier one)."""
        with self._lock:
            session = self._session
        if session is not None:
            session.forget()

    # -- counters (called from the engine thread) ------------------------------------
    def _applied(self, ms: float) -> None:
        with self._lock:
            self.stats.apply_ms += ms
            self.stats.apply_calls += 1

    def _unbuilt(self, waited_ms: float, *, broken: bool) -> None:
        with self._lock:
            self.stats.steps += 1
            self.stats.waited_ms += waited_ms
            if not broken:
                self.stats.unbuilt_steps += 1

    def _unmasked(self, provisional: bool) -> None:
        with self._lock:
            if provisional:
                self.stats.provisional_steps = max(self.stats.provisional_steps - 1, 0)
            else:
                self.stats.constrained_steps = max(self.stats.constrained_steps - 1, 0)
            self.stats.fallbacks += 1

    def _count(self, res: StepResult, waited_ms: float, counted: Sequence[int], draft: bool) -> None:
        with self._lock:
            s = self.stats
            s.steps += 1
            s.waited_ms += waited_ms
            for key, n in zip(_STEP_COUNTERS, counted, strict=True):
                setattr(s, key, getattr(s, key) + n)
            s.draft_rows += int(draft)
            if res.fallback:
                s.fallbacks += 1
            elif res.ids is not None and res.provisional:
                s.provisional_steps += 1
            elif res.ids is not None:
                s.constrained_steps += 1

    def report(self) -> dict[str, float | int]:
        """Engine and lookup counters of this processor (all requests)."""
        with self._lock:
            out = self.stats.as_dict()
            session = self._session
        lookups = session.report() if session is not None else {"lookups": 0, "shared_lookups": 0,
                                                                 "cancelled_lookups": 0, "answered_lookups": 0,
                                                                 "lsp_ms": 0.0, "unsent_lookups": 0,
                                                                 "forked_monitors": 0}
        out.update(lookups)
        lsp = float(out["lsp_ms"])
        out["hidden_share"] = round(1.0 - float(out["waited_ms"]) / lsp, 4) if lsp > 0 else 1.0
        return out

    def close(self) -> None:
        """Stop every language server and the loop (idempotent)."""
        with self._lock:
            session, self._session = self._session, None
        builder, self._builder = self._builder, None
        if builder is not None:
            builder.shutdown(wait=True, cancel_futures=True)
        if session is not None:
            atexit.unregister(self._atexit)
            session.close()
