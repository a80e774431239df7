"""Generation with Hugging Face models: prompts, batching, stop texts, results.

:class:`HFGenerator` is what ``mgd generate`` and the Python API use: it loads a
causal LM, builds left-padded batches, attaches one :class:`SequenceGuide` per
row through :class:`MonitorLogitsProcessor`, and returns :class:`CaseResult`
objects (a bad case becomes an error result; the batch goes on).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    StoppingCriteria,
    StoppingCriteriaList,
)

from monitors.decoding.cases import Case, CaseResult, load_case_text
from monitors.decoding.guide import SequenceGuide
from monitors.decoding.hf import MonitorLogitsProcessor
from monitors.decoding.session import MgdSession, SessionConfig
from monitors.errors import ConfigError, MgdError

__all__ = ["GenerateOptions", "HFGenerator", "Prompt", "cut_at_stop"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GenerateOptions:
    """Decoding settings shared by a run."""

    max_new_tokens: int = 64
    stop: tuple[str, ...] = ()
    monitors: bool = True
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    batch_size: int = 1
    max_prompt_tokens: int | None = None  # keep only the prompt's tail (speed)

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ConfigError("max_new_tokens must be >= 1")
        if self.batch_size < 1:
            raise ConfigError("batch_size must be >= 1")
        if self.max_prompt_tokens is not None and self.max_prompt_tokens < 1:
            raise ConfigError("max_prompt_tokens must be >= 1")
        if any(not s for s in self.stop):
            raise ConfigError("stop texts must be non-empty")


@dataclass(frozen=True, slots=True)
class Prompt:
    """One sequence to generate: the file it goes into and the text around the hole."""

    id: str
    workspace: Path
    file: Path
    prefix: str
    suffix: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Text up to the first stop string (excluded), and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


class _StopOnText(StoppingCriteria):
    """Per-row stop when the generated tail contains a stop string."""

    def __init__(self, tokenizer: Any, stop: Sequence[str], prompt_length: int) -> None:
        self.tokenizer = tokenizer
        self.stop = list(stop)
        self.prompt_length = prompt_length
        self.window = max(len(s) for s in stop) + 8

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        gen = input_ids[:, self.prompt_length :]
        tail = gen[:, -self.window :].tolist()
        done = [
            any(s in self.tokenizer.decode(row, skip_special_tokens=True) for s in self.stop)
            for row in tail
        ]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class HFGenerator:
    """A causal LM plus an mgd session; generates completions for prompts or cases."""

    def __init__(
        self,
        model: str | Path,
        *,
        config: SessionConfig | None = None,
        device: str = "cpu",
        dtype: torch.dtype | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.tokenizer = AutoTokenizer.from_pretrained(str(model))
        if dtype is None:
            dtype = torch.float32 if self.device.type == "cpu" else torch.bfloat16
        self.model = AutoModelForCausalLM.from_pretrained(str(model), dtype=dtype).to(self.device)
        self.model.eval()
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id
        self.context = int(
            getattr(self.model.config, "max_position_embeddings", None)
            or min(self.tokenizer.model_max_length, 1 << 20)
        )
        self.session = MgdSession(self.tokenizer, config)

    # -- prompts -----------------------------------------------------------------
    def prompt_ids(self, prefix: str, max_new_tokens: int, max_prompt_tokens: int | None = None) -> list[int]:
        """Token ids of the prompt; longer than the context keeps its tail."""
        ids: list[int] = self.tokenizer(prefix, verbose=False).input_ids
        budget = self.context - max_new_tokens
        if max_prompt_tokens is not None:
            budget = min(budget, max_prompt_tokens)
        if budget < 1:
            raise ConfigError(f"max_new_tokens {max_new_tokens} leaves no room in a {self.context}-token context")
        return ids[-budget:] if len(ids) > budget else ids

    def prompt_for_case(self, case: Case) -> Prompt:
        ws, path = self.session.check_workspace(case.workspace, case.file)
        prefix, suffix = load_case_text(case, path)
        return Prompt(case.id, ws, path, prefix, suffix, case.extra)

    # -- generation ----------------------------------------------------------------
    @torch.inference_mode()
    def generate(self, prompts: Sequence[Prompt], options: GenerateOptions) -> list[CaseResult]:
        """Generate for every prompt (batched); errors are per prompt."""
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
        out: list[CaseResult] = []
        batch: list[Prompt] = []
        pending: list[CaseResult | None] = []  # None marks a slot filled by the batch

        def flush() -> None:
            produced = iter(self.generate(batch, options)) if batch else iter(())
            for slot in pending:
                res = next(produced) if slot is None else slot
                out.append(res)
                if on_result:
                    on_result(res)
            batch.clear()
            pending.clear()

        for item in cases:
            if isinstance(item, CaseResult):
                pending.append(item)
            else:
                try:
                    batch.append(self.prompt_for_case(item))
                    pending.append(None)
                except MgdError as exc:
                    pending.append(CaseResult(id=item.id, error=str(exc)))
            if len(batch) >= options.batch_size:
                flush()
        flush()
        return out

    def _generate_batch(self, prompts: Sequence[Prompt], options: GenerateOptions) -> list[CaseResult]:
        t0 = time.perf_counter()
        rows: list[tuple[Prompt, list[int], SequenceGuide | None]] = []
        errors: dict[int, CaseResult] = {}
        for i, p in enumerate(prompts):
            try:
                ids = self.prompt_ids(p.prefix, options.max_new_tokens, options.max_prompt_tokens)
                guide = (
                    self.session.guide(p.workspace, p.file, p.prefix, p.suffix)
                    if options.monitors
                    else None
                )
                rows.append((p, ids, guide))
            except MgdError as exc:
                errors[i] = CaseResult(id=p.id, error=str(exc))
        generated: list[list[int]] = []
        if rows:
            generated = self._run_model(rows, options)
        elapsed = time.perf_counter() - t0
        results: list[CaseResult] = []
        it = iter(zip(rows, generated, strict=True))
        for i in range(len(prompts)):
            if i in errors:
                results.append(errors[i])
                continue
            (p, _ids, guide), gen = next(it)
            text, ntok = self._finish(gen, options)
            stats = guide.report() if guide is not None else {}
            results.append(CaseResult(p.id, text, ntok, elapsed, stats))
        return results

    def _run_model(
        self, rows: Sequence[tuple[Prompt, list[int], SequenceGuide | None]], options: GenerateOptions
    ) -> list[list[int]]:
        width = max(len(ids) for _, ids, _ in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for r, (_, ids, _) in enumerate(rows):
            input_ids[r, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention[r, width - len(ids) :] = 1
        processors = []
        guides = [g for _, _, g in rows]
        if all(g is not None for g in guides):
            processors.append(MonitorLogitsProcessor([g for g in guides if g is not None], width))
        stopping = StoppingCriteriaList()
        if options.stop:
            stopping.append(_StopOnText(self.tokenizer, options.stop, width))
        if options.seed is not None:
            torch.manual_seed(options.seed)
        kwargs: dict[str, Any] = {"do_sample": options.do_sample}
        if options.do_sample:
            kwargs.update(temperature=options.temperature, top_p=options.top_p, top_k=0)
        out = self.model.generate(
            input_ids=input_ids.to(self.device),
            attention_mask=attention.to(self.device),
            max_new_tokens=options.max_new_tokens,
            logits_processor=processors,
            stopping_criteria=stopping,
            pad_token_id=self.pad_id,
            eos_token_id=self.tokenizer.eos_token_id,
            **kwargs,
        )
        return out[:, width:].tolist()

    def _finish(self, gen: list[int], options: GenerateOptions) -> tuple[str, int]:
        """Completion text (cut at EOS / stop) and the number of tokens it used."""
        eos = self.tokenizer.eos_token_id
        if eos is not None and eos in gen:
            gen = gen[: gen.index(eos)]
        while gen and gen[-1] == self.pad_id:
            gen = gen[:-1]
        text = self.tokenizer.decode(gen, skip_special_tokens=True)
        if options.stop:
            text, _ = cut_at_stop(text, options.stop)
        return text, len(gen)

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> HFGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
