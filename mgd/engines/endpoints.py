"""``--engine remote``: the cases contract through OpenAI-compatible endpoints, sharded.

:class:`RemoteGenerator` is a :class:`~mgd.engines.base.Generator` like the local
engines (the same prompts, prompt ids, healing, stop texts), whose batches go to
one or more ``/v1/completions`` endpoints — ``mgd serve`` or ``vllm serve`` with
the mgd plugin, each possibly a tensor/data-parallel vLLM deployment — with the
``mgd`` settings in ``vllm_xargs``. Prompts are sent as token ids (so every engine
sees the same ids, healed ones included) and cases are spread over the endpoints
by a shared queue: ``batch_size`` requests in flight per endpoint, a faster
endpoint takes more. A request that fails (HTTP error, a server that went away)
becomes that case's error result after ``retries`` attempts; the run goes on.

Per-request monitor counters (triggers, failed lookups, steps that ran free) come
back when the server exposes them: vLLM's development endpoint
``POST /collective_rpc`` (``VLLM_SERVER_DEV_MODE=1``) with the worker extension
``--worker-extension-cls mgd.vllm.rpc.MgdWorkerExtension``; without it results
carry no counters and :attr:`RemoteGenerator.stats_available` is False.

The servers must see the workspaces: at the same paths (one machine, a shared
file system), or below ``server_root`` (the cases' workspaces relative to
``local_root`` are sent relative to it).
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsp_bridge.workspace import resolve_in_workspace
from mgd.config import KEY, SessionConfig, settings_payload
from mgd.engines.base import GenerateOptions, Generator, Prompt
from mgd.engines.cases import CaseResult
from mgd.engines.stopping import StopRule
from monitors.errors import ConfigError, MgdError
from monitors.vocab import VocabIndex

__all__ = ["Endpoint", "RemoteGenerator"]

#: ``vllm_xargs`` key of the per-request tag (the processor's ``mgd_tag``).
_TAG = "mgd_tag"
#: Stop texts a server takes per request: OpenAI's limit, and vLLM's default
#: (``VLLM_MAX_STOP_STRINGS``). The rest are applied here, as the server would have.
MAX_SERVER_STOPS = 4
_RPC_METHOD = "mgd_reports"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One server: its base URL (without ``/v1``), the model name it serves, its context."""

    url: str
    model: str
    max_model_len: int


def _base_url(url: str) -> str:
    url = url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--endpoint {url!r}: expected an http(s) URL such as http://127.0.0.1:8000")
    return url[: -len("/v1")] if url.endswith("/v1") else url


class RemoteGenerator(Generator):
    """Generates through OpenAI-compatible endpoints (see the module docstring).

    ``tokenizer``: a path or id for ``AutoTokenizer`` (the served model's tokenizer:
    prompt ids, healing). ``config``: its ``wait_ms`` becomes each request's
    ``wait_ms`` (at most 60 s); the servers' operators choose the language servers.
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        tokenizer: str | Path,
        *,
        config: SessionConfig | None = None,
        timeout_s: float = 600.0,
        retries: int = 2,
        api_key: str | None = None,
        local_root: str | Path | None = None,
        server_root: str | None = None,
        client: Any = None,
    ) -> None:
        import httpx
        from transformers import AutoTokenizer

        if not endpoints:
            raise ConfigError("--engine remote needs at least one --endpoint URL")
        if (local_root is None) != (server_root is None):
            raise ConfigError("local_root and server_root go together")
        config = config or SessionConfig()
        self.wait_ms = min(config.wait_ms, 60_000.0)
        self.retries = retries
        self._local_root = None if local_root is None else Path(local_root).resolve()
        self._server_root = server_root
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = client or httpx.Client(timeout=httpx.Timeout(timeout_s, connect=30.0), headers=headers)
        self.endpoints = [self._probe(_base_url(u)) for u in endpoints]
        self.tokenizer = AutoTokenizer.from_pretrained(str(tokenizer))
        self.context = min(e.max_model_len for e in self.endpoints)
        self._index: VocabIndex | None = None
        self._run = uuid.uuid4().hex[:12]
        self._serial = 0
        self._lock = threading.Lock()
        self.stats_available = True
        #: requests answered per endpoint URL (how the cases were sharded)
        self.served: Counter[str] = Counter()

    def _probe(self, base: str) -> Endpoint:
        """The endpoint's served model and context (``GET /v1/models``)."""
        try:
            r = self._http.get(base + "/v1/models")
            r.raise_for_status()
            data = r.json()["data"][0]
        except Exception as exc:  # noqa: BLE001 - any failure here means "not a usable endpoint"
            raise ConfigError(f"--endpoint {base}: no OpenAI-compatible model list at /v1/models ({exc})") from exc
        length = data.get("max_model_len")
        if not isinstance(length, int) or length < 1:
            raise ConfigError(f"--endpoint {base}: /v1/models gives no max_model_len (not a vLLM server?)")
        return Endpoint(base, str(data["id"]), length)

    # -- prompts -----------------------------------------------------------------
    def check_workspace(self, workspace: str | Path, file: str | Path) -> tuple[Path, Path]:
        ws = Path(workspace).resolve()
        return ws, resolve_in_workspace(ws, file)

    def vocab(self) -> VocabIndex:
        if self._index is None:
            self._index = VocabIndex.from_tokenizer(self.tokenizer)
        return self._index

    def _server_workspace(self, ws: Path) -> str:
        if self._local_root is None:
            return str(ws)
        if not ws.is_relative_to(self._local_root):
            raise ConfigError(f"workspace {ws} is not below {self._local_root}")
        rel = ws.relative_to(self._local_root).as_posix()
        assert self._server_root is not None  # given with local_root (__init__ checks)
        return f"{self._server_root.rstrip('/')}/{rel}" if rel != "." else str(self._server_root)

    def body(self, p: Prompt, ids: list[int], options: GenerateOptions, heal: bool, tag: str) -> dict[str, Any]:
        """The ``/v1/completions`` body of one prompt (model filled in per endpoint)."""
        body: dict[str, Any] = {
            "prompt": ids,
            "max_tokens": options.max_new_tokens,
            "temperature": options.temperature if options.do_sample else 0.0,
            "top_p": options.top_p if options.do_sample else 1.0,
            "n": 1,
            "return_token_ids": True,
        }
        if options.seed is not None:
            body["seed"] = options.seed
        if options.stop:
            body["stop"] = list(options.stop[:MAX_SERVER_STOPS])
        fim_stops = self.fim(options).stop_ids
        if fim_stops:
            body["stop_token_ids"] = list(fim_stops)
        if options.monitors or heal:
            mgd = settings_payload(self._server_workspace(p.workspace), p.file.relative_to(p.workspace).as_posix(),
                                   suffix=p.suffix, prefix=p.prefix,
                                   monitors=p.monitors if options.monitors else [], heal=heal, wait_ms=self.wait_ms)
            body["vllm_xargs"] = {KEY: json.dumps(mgd), _TAG: tag}
        return body

    def _until_stop(self, gen: list[int], stops: StopRule) -> list[int]:
        """The generated ids up to the one whose text completes the first stop text, as an
        engine given every stop text stops (the server had only the first few)."""
        for k in range(1, len(gen) + 1):
            if stops.cut(self.tokenizer.decode(gen[:k], skip_special_tokens=True)) is not None:
                return gen[:k]
        return gen

    # -- generation ----------------------------------------------------------------
    def _chunk(self, options: GenerateOptions) -> int:
        """``batch_size`` requests in flight per endpoint."""
        return max(1, options.batch_size) * len(self.endpoints)

    def generate(self, prompts: Sequence[Prompt], options: GenerateOptions) -> list[CaseResult]:
        """All prompts at once, spread over the endpoints; results in input order."""
        if options.speculative:
            raise ConfigError("--speculative is the hf engine's tree decoding, not available with --engine remote")
        return self._generate_batch(prompts, options)

    def _generate_batch(self, prompts: Sequence[Prompt], options: GenerateOptions) -> list[CaseResult]:
        t0 = time.perf_counter()
        results: list[CaseResult | None] = [None] * len(prompts)
        todo: queue.Queue[tuple[int, dict[str, Any], Any, str]] = queue.Queue()
        tags: dict[str, int] = {}
        for i, p in enumerate(prompts):
            try:
                ids, healed = self.prepare(p, options)
            except MgdError as exc:
                results[i] = CaseResult(id=p.id, error=str(exc))
                continue
            with self._lock:
                self._serial += 1
                tag = f"{self._run}-{self._serial}"
            heal = healed is not None and healed.healed
            todo.put((i, self.body(p, ids, options, heal, tag), healed, tag))
            tags[tag] = i
        outputs: dict[int, tuple[dict[str, Any] | None, str | None, Any, str]] = {}
        used: dict[str, set[str]] = {e.url: set() for e in self.endpoints}

        def worker(ep: Endpoint) -> None:
            while True:
                try:
                    i, body, healed, tag = todo.get_nowait()
                except queue.Empty:
                    return
                choice, error = self._complete(ep, body)
                outputs[i] = (choice, error, healed, tag)
                with self._lock:
                    self.served[ep.url] += 1
                if "vllm_xargs" in body:
                    used[ep.url].add(tag)

        threads = [threading.Thread(target=worker, args=(ep,), daemon=True)
                   for ep in self.endpoints for _ in range(options.batch_size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        reports = self._reports(used)
        elapsed = time.perf_counter() - t0  # like the local engines: the batch's wall time
        for i, (choice, error, healed, tag) in outputs.items():
            if error is not None or choice is None:
                results[i] = CaseResult(id=prompts[i].id, error=error or "no completion")
                continue
            gen = list(choice.get("token_ids") or [])
            if len(options.stop) > MAX_SERVER_STOPS:
                gen = self._until_stop(gen, options.stops)
            results[i] = self.result(prompts[i], str(choice.get("text", "")), gen, healed, options, elapsed,
                                     reports.get(tag))
        return [r if r is not None else CaseResult(id=p.id, error="not generated")
                for r, p in zip(results, prompts, strict=True)]

    def _complete(self, ep: Endpoint, body: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None]:
        """(the choice, None) or (None, the error) after ``retries`` more attempts on
        connection failures and 5xx answers; a 4xx (bad settings) is not retried."""
        import httpx

        error = "not sent"
        for attempt in range(self.retries + 1):
            try:
                r = self._http.post(ep.url + "/v1/completions", json={"model": ep.model, **body})
            except httpx.HTTPError as exc:
                error = f"{ep.url}: {type(exc).__name__}: {exc}"
            else:
                if r.status_code == 200:
                    return r.json()["choices"][0], None
                error = f"{ep.url}: HTTP {r.status_code}: {r.text[:500]}"
                if r.status_code < 500:
                    break
            time.sleep(min(2.0**attempt, 10.0))
        return None, error

    def _reports(self, used: dict[str, set[str]]) -> dict[str, dict[str, Any]]:
        """Per-tag counters from each endpoint's workers (empty when not exposed)."""
        out: dict[str, dict[str, Any]] = {}
        if not self.stats_available:
            return out
        for url, tags in used.items():
            if not tags:
                continue
            try:
                r = self._http.post(url + "/collective_rpc", json={"method": _RPC_METHOD, "args": [json.dumps(sorted(tags))]})
            except Exception:  # noqa: BLE001 - counters are optional
                self.stats_available = False
                return {}
            if r.status_code != 200:
                self.stats_available = False
                return {}
            for rep in r.json().get("results") or []:
                if isinstance(rep, dict):
                    out.update(rep.get("requests") or {})
        return out

    def close(self) -> None:
        self._http.close()
