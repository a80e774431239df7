"""An mgd session: the one place every engine gets its guides from.

One :class:`MgdSession` owns the shared :class:`~monitors.vocab.VocabIndex`, one
:class:`~lsp_bridge.loop.BackgroundLoop`, one :class:`~lsp_bridge.pool.ServerPool`,
one :class:`~lsp_bridge.lookup.RequestCache` (identical LSP requests are sent
once, across sequences, requests and cases), the lookup gates and the lookup
counters. :meth:`MgdSession.guide` builds the :class:`~monitors.guide.SequenceGuide`
of one sequence for every engine (Hugging Face, speculative, the editor's decoder,
both vLLM runners), so the same ``mgd.toml`` and the same flags give the same
monitors everywhere.

Which monitors, which server (later wins): defaults < ``mgd.toml`` (the
workspace's, or ``SessionConfig.config``) < :class:`~mgd.config.SessionConfig`
(flags) < the per-request argument of :meth:`MgdSession.guide`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from lsp_bridge.gate import LookupGate
from lsp_bridge.lookup import BridgeLookup, DocumentContext, LookupStats, RequestCache
from lsp_bridge.loop import BackgroundLoop
from lsp_bridge.pool import ServerPool
from lsp_bridge.provisional import ReceiverMemory
from lsp_bridge.servers import ServerSpec
from lsp_bridge.workspace import resolve_in_workspace
from mgd.concurrency import FutureWaiter, SharedMemo
from mgd.config import MgdConfig, SessionConfig, find_config, load_config
from monitors.base import Monitor, fork_monitors
from monitors.errors import WorkspaceError
from monitors.guide import SequenceGuide
from monitors.healing import wrap_healing
from monitors.languages import LanguageSpec, get_language
from monitors.registry import build_monitors, default_monitors
from monitors.vocab import VocabIndex

__all__ = ["MgdSession", "SessionConfig"]

_MAX_BUILT = 32  # prompts whose freshly built monitors are kept for forking


class MgdSession:
    """Owns the background loop, the server pool, the request cache and the vocabulary index."""

    def __init__(self, tokenizer_or_index: Any, config: SessionConfig | None = None) -> None:
        self.config = config or SessionConfig()
        self.index = (
            tokenizer_or_index
            if isinstance(tokenizer_or_index, VocabIndex)
            else VocabIndex.from_tokenizer(tokenizer_or_index)
        )
        self.loop = BackgroundLoop(cpus=self.config.lsp_cpus)
        self.loop.start()
        # Servers on reserved CPUs start as many at a time as there are CPUs.
        starting = None if self.config.lsp_cpus is None else len(self.config.lsp_cpus)
        self.pool = ServerPool(max_starting=starting)
        if self.config.backend == "multilspy":
            from lsp_bridge.multilspy_backend import MultilspyPool

            self.pool = MultilspyPool(max_starting=starting)
        self._closed = False
        cfg = self.config.config
        self._explicit = cfg if isinstance(cfg, MgdConfig) or cfg is None else load_config(cfg)
        self._workspace_configs: dict[Path, MgdConfig] = {}
        #: LSP requests shared by every guide of the session (identical requests,
        #: import listings); see :mod:`lsp_bridge.lookup`.
        self.request_cache = RequestCache(self.config.cache_size, self.config.cache_ttl_s)
        #: The last complete member list per receiver and scope (provisional names).
        self.receiver_memory = ReceiverMemory(self.config.cache_size)
        #: Requests sent, shared, cancelled; time to answer.
        self.lookup_stats = LookupStats()
        #: Constraint answers of the index, shared by every guide (the index keeps none).
        self.memo = SharedMemo()
        #: How guides wait for answers: on the lookups' futures, by the wall clock.
        self.waiter = FutureWaiter()
        self._gates: dict[tuple[str, Path | None], LookupGate] = {}
        self._built: OrderedDict[tuple[Any, ...], list[Monitor]] = OrderedDict()
        #: Guides whose monitors were forked from an identical prompt's (not rebuilt).
        self.forked_monitors = 0
        self._lock = threading.Lock()

    # -- settings ------------------------------------------------------------------
    def settings(self, workspace: str | Path | None = None) -> MgdConfig:
        """The configuration in force: the explicit one, else ``<workspace>/mgd.toml``,
        else the built-in presets."""
        if self._explicit is not None:
            return self._explicit
        if workspace is None:
            return MgdConfig()
        ws = Path(workspace).resolve()
        with self._lock:
            if ws not in self._workspace_configs:
                self._workspace_configs[ws] = load_config(find_config(ws))
            return self._workspace_configs[ws]

    def language_of(self, file: str | Path, workspace: str | Path | None = None,
                    language: str | None = None) -> LanguageSpec:
        """The language of ``file`` under the configuration in force (``language``
        names it explicitly; its configured trigger rules still apply)."""
        settings = self.settings(workspace)
        if language is not None:
            get_language(language)  # unknown name: ConfigError
            return settings.language_spec(language)
        return settings.language_for_path(file)

    def server_for(self, language: LanguageSpec, workspace: str | Path | None = None) -> ServerSpec:
        """The language server of ``language``: the flag, else ``mgd.toml``, else the default
        (on the session's ``lsp_cpus`` when it has some)."""
        server = self.config.server
        if isinstance(server, ServerSpec):
            spec = server
        elif server is not None:
            spec = self.settings(workspace).server(server)
        else:
            spec = self.settings(workspace).server_for(language.name)
        cpus = self.config.lsp_cpus
        return spec if cpus is None or spec.cpus == cpus else dataclasses.replace(spec, cpus=cpus)

    def monitor_names(self, language: LanguageSpec, workspace: str | Path | None = None,
                      requested: Iterable[str] | None = None) -> tuple[str, ...]:
        """The monitors for ``language``: ``requested`` (per request), else the
        session's (flags), else ``mgd.toml``'s, else the language's default
        (:func:`monitors.registry.default_monitors`)."""
        if requested is not None:
            return tuple(requested)
        if self.config.monitors is not None:
            return self.config.monitors
        configured = self.settings(workspace).configured_monitors(language.name)
        return configured if configured is not None else default_monitors(language.name)

    def check_workspace(self, workspace: str | Path, file: str | Path) -> tuple[Path, Path]:
        """Resolve ``file`` inside ``workspace`` and the workspace inside the allowed roots."""
        path = resolve_in_workspace(workspace, file)
        ws = Path(workspace).resolve()
        roots = self.config.allowed_roots
        if roots is not None and not any(ws.is_relative_to(Path(r).resolve()) for r in roots):
            raise WorkspaceError(f"workspace {ws} is outside the allowed roots")
        return ws, path

    # -- guides ----------------------------------------------------------------
    def guide(
        self,
        workspace: str | Path,
        file: str | Path,
        prefix: str,
        suffix: str = "",
        *,
        monitors: Iterable[str] | None = None,
        language: str | None = None,
        heal: bytes = b"",
        wait_s: float | None = None,
        blocking: bool = True,
        provisional: bool | None = None,
        stops: Sequence[str] = (),
        max_tokens: int | None = None,
    ) -> SequenceGuide:
        """A guide for one sequence generated into ``file`` between prefix and suffix.

        ``monitors``/``language``: per-request choices (None: the configuration's).
        ``heal``: the bytes token healing removed from the end of the prompt
        (``prefix`` stays the user's original text); each monitor is wrapped in a
        :class:`~monitors.healing.HealingMonitor` that makes the model re-spell them
        first. ``wait_s``: the guide's wait budget in seconds (None: the session's ``wait_ms``).
        ``blocking=False``: a lookup not ready within the budget leaves that one step
        free and keeps running (vLLM); blocking guides fail open for the trigger.
        ``provisional`` (None: the session's): a non-blocking guide constrains such
        a step to provisional names instead (see :class:`SessionConfig`). ``stops``: the
        stop texts that end the completion (the syntax guard keeps them from firing in
        an open bracket or string). ``max_tokens``: the most tokens the engine samples
        (the syntax guard closes what is open before they run out). Call
        :meth:`~monitors.guide.SequenceGuide.close` when the sequence ends.
        """
        ws, path = self.check_workspace(workspace, file)
        lang = self.language_of(path, ws, language)
        spec = self.server_for(lang, ws)
        names = self.monitor_names(lang, ws, monitors)
        built = wrap_healing(self._monitors(names, lang, prefix, suffix, tuple(stops)), heal)
        lookup = BridgeLookup(
            self.loop,
            self.pool,
            spec,
            DocumentContext(ws, path, prefix, suffix, lang.name),
            timeout_s=self.config.request_timeout_s,
            cache=self.request_cache,
            gate=self._gate(spec, ws),
            stats=self.lookup_stats,
            memory=self.receiver_memory,
        )
        budget = self.config.wait_ms / 1000.0 if wait_s is None else wait_s
        use = self.config.provisional if provisional is None else provisional
        return SequenceGuide(built, lookup, self.index, wait_s=budget, blocking=blocking, provisional=use,
                             max_tokens=max_tokens, waiter=self.waiter, memo=self.memo)

    def guides(self, n: int, *args: Any, **kwargs: Any) -> Sequence[SequenceGuide]:
        return [self.guide(*args, **kwargs) for _ in range(n)]

    def _monitors(self, names: Sequence[str], language: LanguageSpec, prefix: str, suffix: str = "",
                  stops: tuple[str, ...] = ()) -> list[Monitor]:
        """Fresh monitors at the end of ``prefix``; forks of earlier ones for a repeated prompt.

        Building parses the whole prefix (tens of ms for a large file); sequences
        with the same prompt (``n > 1`` samples, retries, a batch of one file) fork.
        """
        first_line = suffix.split("\n", 1)[0]  # all a monitor reads of the suffix (monitors.syntax)
        key = (tuple(names), language, hashlib.blake2b(prefix.encode("utf-8", "surrogatepass"),
                                                        digest_size=16).digest(), first_line, stops)
        with self._lock:
            cached = self._built.get(key)
            if cached is not None:
                self._built.move_to_end(key)
                self.forked_monitors += 1
                return fork_monitors(cached)
        built = build_monitors(names, language, prefix, first_line, stops)
        with self._lock:
            self._built[key] = fork_monitors(built)
            while len(self._built) > _MAX_BUILT:
                self._built.popitem(last=False)
        return built

    def _gate(self, spec: ServerSpec, workspace: Path) -> LookupGate | None:
        """The gate of one language server (one per server and workspace, like the pool's),
        or, with ``lsp_cpus``, one gate for every server on those CPUs: at most
        ``max_inflight`` lookups per reserved CPU in flight in all (sixteen servers on one
        CPU answer one lookup each in sixteen times the time; one after another, the
        first is answered at once), first come, first served, and one latency estimate
        for the steps that decide whether to wait."""
        if self.config.max_inflight is None:
            return None
        cpus = self.config.lsp_cpus
        key: tuple[str, Path | None] = (spec.name, workspace) if cpus is None else ("", None)
        limit = self.config.max_inflight * (1 if cpus is None else len(cpus))
        with self._lock:
            gate = self._gates.get(key)
            if gate is None:
                gate = self._gates[key] = LookupGate(limit)
            return gate

    def forget(self) -> None:
        """Drop what is shared across sequences: answered requests and built monitors
        (benchmarks: no run profits from an earlier one)."""
        self.request_cache.clear()
        self.receiver_memory.clear()
        with self._lock:
            self._built.clear()

    def report(self) -> dict[str, float | int]:
        """Session-wide lookup counters."""
        out = self.lookup_stats.as_dict()
        with self._lock:
            out["unsent_lookups"] = sum(g.never_sent for g in self._gates.values())
            out["forked_monitors"] = self.forked_monitors
        return out

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
