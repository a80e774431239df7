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
* :class:`RemoteEngine`: an OpenAI-compatible ``/v1/completions`` endpoint
  (``mgd serve``, or vLLM with the mgd plugin), streamed; the mgd settings go with
  each request as ``vllm_xargs["mgd"]`` (a JSON string), and the connection is
  closed on cancel (the server aborts the request).
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mgd.config import EditorOptions, MgdConfig
from mgd.editor.shape import CompletionShape, StopRule
from mgd.engines.local.decode import Clock, DecodeLoop
from mgd.engines.local.forward import Forward, make_forward
from mgd.engines.local.lean import lean_supported
from mgd.engines.local.reuse import PrefixReuse, ReusePlan, anchored_start
from mgd.engines.sampling import Sampling
from monitors.errors import ConfigError, LspError, MgdError

__all__ = [
    "FIM_TOKENS",
    "CompletionEngine",
    "EngineRequest",
    "EngineResult",
    "LocalEngine",
    "RemoteEngine",
    "fim_prompt",
    "make_engine",
]

log = logging.getLogger(__name__)

#: The fill-in-the-middle tokens (StarCoder/SantaCoder convention).
FIM_TOKENS = ("<fim_prefix>", "<fim_suffix>", "<fim_middle>")
#: Prompt window: characters per token first assumed (code averages ~3.8 with a
#: byte-level BPE), the step the window start moves in, and how often it is narrowed.
_CHARS_PER_TOKEN = 4
_WINDOW_GRAIN = 256
_WINDOW_TRIES = 4


@dataclass(frozen=True, slots=True)
class EngineRequest:
    """One completion: where, what shape, how long it may take."""

    workspace: Path
    file: Path
    prefix: str
    suffix: str
    shape: CompletionShape
    max_new_tokens: int
    deadline: float  # time.perf_counter() value after which generation stops
    monitors: bool = True


@dataclass(slots=True)
class EngineResult:
    """The completion text (already cut by the stop rule) and what happened.

    ``stopped``: ``stop`` (a stop rule), ``eos``, ``length`` (token limit),
    ``budget`` (latency budget), ``cancelled``.
    """

    text: str
    tokens: int
    stopped: str
    elapsed_ms: float
    stats: dict[str, Any] = field(default_factory=dict)


class CompletionEngine(Protocol):
    """What the editor server needs from a model."""

    name: str

    def complete(self, request: EngineRequest, cancel: threading.Event) -> EngineResult:
        """Generate (blocking; run it in a worker thread). Checks ``cancel`` every step."""

    def warm(self, workspace: Path, file: Path, text: str) -> None:
        """Optional: start the language server / caches for a file that was opened."""

    def close(self) -> None:
        """Release the model and the language servers."""


def fim_prompt(prefix: str, suffix: str) -> str:
    """The FIM prompt text: ``<fim_prefix>P<fim_suffix>S<fim_middle>``."""
    return f"{FIM_TOKENS[0]}{prefix}{FIM_TOKENS[1]}{suffix}{FIM_TOKENS[2]}"


# --------------------------------------------------------------------------- local


class LocalEngine:
    """A transformers model plus an mgd session, decoding with a KV cache."""

    name = "local"

    def __init__(self, options: EditorOptions, config: MgdConfig | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

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
            self.model = AutoModelForCausalLM.from_pretrained(options.model, dtype=torch.float32).to(options.device)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load model {options.model!r}: {exc}") from exc
        self.model.eval()
        self.session = MgdSession(
            self.tokenizer,
            SessionConfig(server=options.server, wait_s=options.lookup_wait_ms / 1000.0, config=config),
        )
        vocab = self.tokenizer.get_vocab()
        fim_ids = [vocab.get(t) for t in FIM_TOKENS]
        has_fim = all(i is not None for i in fim_ids)
        if options.fim == "on" and not has_fim:
            raise ConfigError(f"fim = 'on' but the tokenizer has no {'/'.join(FIM_TOKENS)} tokens")
        self.fim_ids: tuple[int, int, int] | None = (
            tuple(int(i) for i in fim_ids) if has_fim and options.fim != "off" else None  # type: ignore[assignment]
        )
        self._stop_ids = frozenset(int(i) for i in self.tokenizer.all_special_ids)
        self._lock = threading.Lock()  # one generation at a time per model
        self._reuse = PrefixReuse()  # the last generation's KV cache (guarded by _lock)
        if options.decoder == "lean" and lean_supported(self.model) is not None:
            raise ConfigError(f"decoder = 'lean': {lean_supported(self.model)}")
        capacity = options.max_prompt_tokens + options.max_suffix_tokens + options.max_tokens_multi + 32
        self.forward: Forward = make_forward(self.model, options.decoder, capacity)

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
        if self.fim_ids is None:
            return head
        tail = self._encode(suffix[: o.max_suffix_tokens * 8])[: o.max_suffix_tokens]
        p, s, m = self.fim_ids
        return [p, *head, s, *tail, m]

    # -- generation --------------------------------------------------------------
    def complete(self, request: EngineRequest, cancel: threading.Event) -> EngineResult:
        """Build the guide (its lookup starts now), the prompt, then the decode loop
        (:mod:`.decode`) on the kept KV cache; ``stats`` has the time of every phase."""
        torch = self._torch
        t0 = time.perf_counter()
        c0 = time.thread_time()
        clock = Clock()
        rule = StopRule(request.shape, self.options.max_lines)
        guide = None
        stats: dict[str, Any] = {"fim": self.fim_ids is not None, "decoder": self.forward.name}
        if request.monitors and self.options.monitors:
            try:
                # Built first: a trigger at the cursor starts its lookup now, during the prefill.
                guide = self.session.guide(request.workspace, request.file, request.prefix, request.suffix)
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
            max_new_tokens=request.max_new_tokens, wait_s=self.options.lookup_wait_ms / 1000.0,
            sampling=sampling, speculate=self.options.speculate_tokens, clock=clock,
            generator=sampling.generator(),
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


# --------------------------------------------------------------------------- remote


class RemoteEngine:
    """An OpenAI-compatible ``/v1/completions`` server with the mgd plugin, streamed."""

    name = "remote"

    def __init__(self, options: EditorOptions, config: MgdConfig | None = None) -> None:
        if not options.remote_url:
            raise ConfigError("the remote engine needs remote_url")
        url = urllib.parse.urlsplit(options.remote_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ConfigError(f"remote_url must be an http(s) URL, not {options.remote_url!r}")
        self.options = options
        self._url = url
        self._base = url.path.rstrip("/")
        if self._base.endswith("/v1"):
            self._base = self._base[:-3]
        self._model = options.remote_model

    def _connect(self) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self._url.scheme == "https" else http.client.HTTPConnection
        return cls(self._url.hostname, self._url.port, timeout=self.options.remote_timeout_s)

    def model_name(self) -> str:
        """The served model (asked once from ``/v1/models`` unless configured)."""
        if self._model is None:
            conn = self._connect()
            try:
                conn.request("GET", f"{self._base}/v1/models")
                resp = conn.getresponse()
                body = resp.read()
                if resp.status != 200:
                    raise LspError(f"{self.options.remote_url}: /v1/models answered {resp.status}")
                self._model = json.loads(body)["data"][0]["id"]
            except (OSError, KeyError, IndexError, ValueError) as exc:
                raise LspError(f"cannot list models at {self.options.remote_url}: {exc}") from exc
            finally:
                conn.close()
        return self._model

    def body(self, request: EngineRequest) -> dict[str, Any]:
        """The JSON body of one request (the FIM prompt, the mgd settings)."""
        o = self.options
        head = request.prefix[-o.max_prompt_tokens * 4 :]
        prompt = fim_prompt(head, request.suffix[: o.max_suffix_tokens * 4]) if o.fim != "off" else head
        settings: dict[str, Any] = {
            "workspace": str(request.workspace),
            "file": str(request.file),
            "prefix": request.prefix,
            "suffix": request.suffix,
            "wait_ms": o.lookup_wait_ms,
        }
        body: dict[str, Any] = {
            "model": self.model_name(),
            "prompt": prompt,
            "max_tokens": request.max_new_tokens,
            "temperature": o.temperature,
            "stream": True,
        }
        if o.top_p < 1:
            body["top_p"] = o.top_p
        if o.seed is not None:
            body["seed"] = o.seed
        if not request.shape.multiline:
            body["stop"] = ["\n"]
        if request.monitors and o.monitors:
            body["vllm_xargs"] = {"mgd": json.dumps(settings)}
        return body

    def complete(self, request: EngineRequest, cancel: threading.Event) -> EngineResult:
        t0 = time.perf_counter()
        rule = StopRule(request.shape, self.options.max_lines)
        payload = json.dumps(self.body(request)).encode()
        conn = self._connect()
        text, chunks, stopped = "", 0, "length"
        try:
            conn.request("POST", f"{self._base}/v1/completions", body=payload,
                         headers={"Content-Type": "application/json", "Accept": "text/event-stream"})
            resp = conn.getresponse()
            if resp.status != 200:
                detail = resp.read(2000).decode("utf-8", "replace")
                raise LspError(f"{self.options.remote_url} answered {resp.status}: {detail}")
            while True:
                if cancel.is_set():
                    stopped = "cancelled"
                    break
                if time.perf_counter() >= request.deadline:
                    stopped = "budget"
                    break
                line = resp.readline()
                if not line:
                    break
                line = line.strip()
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    break
                choice = json.loads(data)["choices"][0]
                text += choice.get("text") or ""
                chunks += 1
                cut = rule.cut(text)
                if cut is not None:
                    text, stopped = text[:cut], "stop"
                    break
                reason = choice.get("finish_reason")
                if reason is not None:
                    stopped = "eos" if reason == "stop" else "length"
                    break
        except (OSError, ValueError, KeyError, IndexError) as exc:
            raise LspError(f"remote completion failed ({self.options.remote_url}): {exc}") from exc
        finally:
            conn.close()  # on cancel this aborts the request on the server
        final = rule.finish(text) if stopped != "cancelled" else text
        return EngineResult(final, chunks, stopped, (time.perf_counter() - t0) * 1000.0, {"chunks": chunks})

    def warm(self, workspace: Path, file: Path, text: str) -> None:
        return None

    def close(self) -> None:
        return None


def make_engine(options: EditorOptions, config: MgdConfig | None = None) -> CompletionEngine:
    """The engine ``options`` ask for (loads the model for ``local``); ``config``: the
    workspace's mgd.toml (languages and servers behind the monitors)."""
    if options.engine == "remote":
        return RemoteEngine(options, config)
    return LocalEngine(options, config)
