"""Completion engines for the editor server: one interface, local and remote.

An engine turns an :class:`EngineRequest` (the document around the cursor, the
completion's shape, a deadline) into an :class:`EngineResult`. It runs in a
worker thread and checks ``cancel`` (a :class:`threading.Event`) before every
decoding step (local) or every streamed chunk (remote), so a cancelled or
superseded request stops within one step.

* :class:`LocalEngine`: a transformers causal LM in process, decoding token by
  token with a KV cache (:mod:`mgd.engines.local`); every step is masked by a
  :class:`~monitors.guide.SequenceGuide` from the session (the same factory and
  ``mgd.toml`` as ``mgd generate``) whose monitors see the *document* prefix (the
  model's prompt may be a FIM string).
* :class:`~mgd.editor.remote_engine.RemoteEngine`: an OpenAI-compatible
  ``/v1/completions`` endpoint (``mgd serve``, or vLLM with the mgd plugin),
  streamed with httpx (:mod:`mgd.editor.remote_engine`).

Prompts use the model family's FIM template (:mod:`mgd.engines.fim`). A request
may carry ``decode_after``: the prompt's prefill and the language server's lookup
start at once, decoding waits until then (the debounce window is not idle).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from mgd.config import EditorOptions, MgdConfig
from mgd.editor.completion_shape import ShapeStop
from mgd.editor.protocol import CompletionEngine, EngineRequest, EngineResult
from mgd.engines.fim import FimPrompter, FimTemplate
from mgd.engines.local.decode import Clock, DecodeLoop
from mgd.engines.local.forward import Forward, make_forward
from mgd.engines.local.lean import lean_supported
from mgd.engines.local.reuse import PrefixReuse, ReusePlan, anchored_start
from mgd.engines.sampling import Sampling
from monitors.errors import ConfigError, LspError, MgdError

__all__ = [
    "CompletionEngine",
    "EngineRequest",
    "EngineResult",
    "LocalEngine",
]

log = logging.getLogger(__name__)

#: Prompt window: characters per token first assumed (code averages ~3.8 with a
#: byte-level BPE), the step the window start moves in, and how often it is narrowed.
_CHARS_PER_TOKEN = 4
_WINDOW_GRAIN = 256
_WINDOW_TRIES = 4


# --------------------------------------------------------------------------- local


class LocalEngine:
    """A transformers model plus an mgd session, decoding with a KV cache."""

    name = "local"

    def __init__(self, options: EditorOptions, config: MgdConfig | None = None, *, defer_model: bool = False) -> None:
        """Tokenizer, session (language servers can start now) and FIM template; then
        the model, unless ``defer_model`` (then :meth:`load_model` loads it)."""
        import torch
        from transformers import AutoTokenizer

        from mgd.config import SessionConfig
        from mgd.session import MgdSession

        if not options.model:
            raise ConfigError("the local engine needs a model: --model PATH, $MGD_MODEL or 'model' in the options")
        self.options = options
        self._torch = torch
        if options.threads > 0:
            torch.set_num_threads(options.threads)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(options.model)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load the tokenizer of {options.model!r}: {exc}") from exc
        self.session = MgdSession(
            self.tokenizer,
            SessionConfig(server=options.server, wait_ms=options.wait_ms, config=config),
        )
        self.layout = FimPrompter.resolve(self.tokenizer, options.fim, options.fim_template)
        self.template: FimTemplate | None = self.layout.template
        self.template_source = self.layout.source
        self._stop_ids = frozenset({int(i) for i in self.tokenizer.all_special_ids} | set(self.layout.stop_ids))
        self._lock = threading.Lock()  # one generation at a time per model
        self._reuse = PrefixReuse()  # the last generation's KV cache (guarded by _lock)
        self.model: Any = None
        self.forward: Forward | None = None
        if not defer_model:
            self.load_model()

    def load_model(self) -> None:
        """Load the weights and build the forward pass (idempotent)."""
        if self.forward is not None:
            return
        from transformers import AutoModelForCausalLM

        torch, o = self._torch, self.options
        assert o.model  # __init__ refuses options without one (frozen)
        try:
            model = AutoModelForCausalLM.from_pretrained(o.model, dtype=torch.float32)
            # transformers types .to through @wraps(Module.to), which drops self
            model = model.to(o.device)  # pyright: ignore[reportArgumentType]
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load model {o.model!r}: {exc}") from exc
        model.eval()
        if o.decoder == "lean" and lean_supported(model) is not None:
            raise ConfigError(f"decoder = 'lean': {lean_supported(model)}")
        capacity = o.max_prompt_tokens + o.max_suffix_tokens + o.max_tokens_multi + 32
        self.model = model
        self.forward = make_forward(model, o.decoder, capacity, o.quantize)

    def describe(self) -> dict[str, Any]:
        """What the engine runs (for ``mgd.stats``)."""
        return {"engine": self.name, "model": self.options.model,
                "fim_template": self.template.name if self.template else None, "fim_source": self.template_source,
                "decoder": self.forward.name if self.forward else None}

    # -- prompts -----------------------------------------------------------------
    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False, verbose=False).input_ids)

    def prompt_ids(self, prefix: str, suffix: str) -> list[int]:
        """Prompt ids: the prefix's tail (and, with FIM, the suffix's head) within the budgets.

        The prefix window starts at an anchored line start (:func:`anchored_start`),
        so consecutive requests in one document share their first tokens and the
        KV cache of the previous request can be reused.
        """
        o = self.options
        budget = o.max_prompt_tokens
        chars = budget * _CHARS_PER_TOKEN
        head: list[int] = []
        for _ in range(_WINDOW_TRIES):
            start = anchored_start(prefix, chars, _WINDOW_GRAIN)
            head = self._encode(prefix[start:])
            if len(head) <= budget:
                break
            # Narrow by whole grains, estimated from this window's characters per token.
            over = (len(head) - budget) * (len(prefix) - start) / len(head)
            chars -= _WINDOW_GRAIN * (1 + int(over) // _WINDOW_GRAIN)
            if chars <= 0:
                break
        head = head[-budget:]  # still too long after the tries: cut (this request only)
        if self.template is None:
            return head
        tail = self._encode(suffix[: o.max_suffix_tokens * 8])[: o.max_suffix_tokens]
        return self.layout.ids(head, tail)

    # -- generation --------------------------------------------------------------
    def complete(self, request: EngineRequest, cancel: threading.Event) -> EngineResult:
        """Build the guide (its lookup starts now), the prompt, then the decode loop
        (:mod:`.decode`) on the kept KV cache; ``stats`` has the time of every phase."""
        torch = self._torch
        self.load_model()
        assert self.forward is not None
        t0 = time.perf_counter()
        c0 = time.thread_time()
        clock = Clock()
        rule = ShapeStop(request.shape, self.options.max_lines)
        guide = None
        stats: dict[str, Any] = {"fim": self.template is not None, "decoder": self.forward.name,
                                 "fim_template": self.template.name if self.template else None}
        if request.monitors and self.options.monitors:
            try:
                # Built first: a trigger at the cursor starts its lookup now, during the prefill.
                guide = self.session.guide(request.workspace, request.file, request.prefix, request.suffix,
                                           max_tokens=request.max_new_tokens)
            except MgdError as exc:  # unknown language, file outside the workspace: no monitors
                stats["monitors_off"] = str(exc)
        clock.lap("guide_ms")
        ids = self.prompt_ids(request.prefix, request.suffix)
        clock.lap("prompt_ms")
        stats["prompt_tokens"] = len(ids)
        sampling = Sampling(self.options.temperature, self.options.top_p, self.options.seed)
        loop = DecodeLoop(
            self.forward, guide=guide, rule=rule, token_bytes=self.session.index.token_bytes,
            stop_ids=self._stop_ids, cancel=cancel, deadline=request.deadline,
            max_new_tokens=request.max_new_tokens, wait_s=self.options.wait_ms / 1000.0,
            sampling=sampling, speculate=self.options.speculate_tokens, clock=clock,
            generator=sampling.generator(), decode_after=request.decode_after,
        )
        with self._lock, torch.inference_mode():
            plan = self._reuse.plan(ids) if self.options.kv_reuse else ReusePlan(None, 0)
            stats["reused_tokens"] = plan.reused
            cache = plan.cache if plan.cache is not None else self.forward.new_cache()
            try:
                out = loop.run(ids, cache, plan.reused)
            except BaseException:
                self._reuse.clear()  # a forward pass may have stopped half-way
                raise
            finally:
                if guide is not None:
                    guide.close()
            if self.options.kv_reuse:
                held = out.cache.get_seq_length() if out.cache is not None else 0
                self._reuse.keep(out.seq[:held], out.cache)
        clock.lap("other_ms")
        n = len(out.tokens)
        stats["steps"] = n
        stats.update(out.stats)
        if guide is not None:
            stats.update(guide.report())
        stats.update(clock.report())
        final = rule.finish(out.text) if out.stopped != "cancelled" else out.text
        stats["cpu_ms"] = round((time.thread_time() - c0) * 1000.0, 2)
        return EngineResult(final, n, out.stopped, (time.perf_counter() - t0) * 1000.0, stats)

    def warm(self, workspace: Path, file: Path, text: str) -> None:
        """Start the file's language server and let it analyse the file (in the background)."""
        try:
            ws, path = self.session.check_workspace(workspace, file)
            spec = self.session.server_for(self.session.language_of(path, ws), ws)
        except MgdError:
            return
        fut = self.session.loop.submit(self.session.pool.complete(spec, ws, path, text, len(text), timeout=30.0))
        fut.add_done_callback(_swallow)

    def warm_model(self) -> None:
        """One forward pass so the first request does not pay for lazy initialisation."""
        torch = self._torch
        self.load_model()
        assert self.forward is not None
        with self._lock, torch.inference_mode():
            self._reuse.clear()  # the lean forward's one cache buffer is about to be overwritten
            self.forward.run(self.prompt_ids("def f(x):\n    return x.", "\n"), self.forward.new_cache())

    def close(self) -> None:
        self.session.close()


def _swallow(fut: Any) -> None:
    try:
        fut.result()
    except (LspError, OSError, TimeoutError, MgdError) as exc:
        log.debug("warm-up lookup failed: %s", exc)
    except BaseException:  # noqa: BLE001 - cancelled at shutdown
        pass
