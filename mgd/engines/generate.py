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

from mgd.engines.cases import Case, CaseResult, load_case_text, run_batched
from monitors.guide import SequenceGuide
from mgd.engines.hf import MonitorLogitsProcessor, MonitorPrefetch
from mgd.session import MgdSession, SessionConfig
from monitors.errors import ConfigError, MgdError
from monitors.healing import HealedPrompt, HealingMonitor, completion_after, heal_prompt

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
    heal: bool = False  # token healing: re-spell the prompt's last tokens (monitors/healing.py)
    speculative: str | None = None  # draft sources, e.g. "monitor,ngram,recycle[:budget]" (batch 1)
    spec_budget: int = 16  # drafted nodes per tree (unless the spec says ":N")

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ConfigError("max_new_tokens must be >= 1")
        if self.batch_size < 1:
            raise ConfigError("batch_size must be >= 1")
        if self.max_prompt_tokens is not None and self.max_prompt_tokens < 1:
            raise ConfigError("max_prompt_tokens must be >= 1")
        if any(not s for s in self.stop):
            raise ConfigError("stop texts must be non-empty")
        if self.speculative is not None:
            from mgd.engines.speculative.decoder import SpecConfig

            SpecConfig.parse(self.speculative, self.spec_budget)  # validates


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

    def __init__(
        self,
        tokenizer: Any,
        stop: Sequence[str],
        prompt_length: int,
        skip: Sequence[Callable[[list[int]], str] | None] = (),
    ) -> None:
        self.tokenizer = tokenizer
        self.stop = list(stop)
        self.prompt_length = prompt_length
        self.window = max(len(s) for s in stop) + 8
        self.skip = list(skip)  # per row: the completion of a healed row (whole row)

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        gen = input_ids[:, self.prompt_length :]
        tail = gen[:, -self.window :].tolist()
        done = []
        for r, row in enumerate(tail):
            text_of = self.skip[r] if r < len(self.skip) else None
            text = (
                self.tokenizer.decode(row, skip_special_tokens=True)
                if text_of is None
                else text_of(gen[r].tolist())
            )
            done.append(any(s in text for s in self.stop))
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)


class _NoLookup:
    """The lookup of a guide whose monitors never need facts (healing only)."""

    def start(self, need: Any) -> Any:
        raise MgdError("this guide has no language server")


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
        return run_batched(
            cases, self.prompt_for_case, lambda batch: self.generate(batch, options), options.batch_size, on_result
        )

    def _generate_batch(self, prompts: Sequence[Prompt], options: GenerateOptions) -> list[CaseResult]:
        t0 = time.perf_counter()
        rows: list[tuple[Prompt, list[int], SequenceGuide | None]] = []
        heals: list[HealedPrompt | None] = []  # per row, with options.heal
        errors: dict[int, CaseResult] = {}
        for i, p in enumerate(prompts):
            try:
                ids = self.prompt_ids(p.prefix, options.max_new_tokens, options.max_prompt_tokens)
                healed = self._heal(p.prefix, ids) if options.heal else None
                if healed is not None:
                    ids = list(healed.ids)
                heal = healed.removed if healed is not None else b""
                guide = (
                    self.session.guide(p.workspace, p.file, p.prefix, p.suffix, heal=heal,
                                       monitors=p.extra.get("monitors"))
                    if options.monitors
                    else self._healing_guide(heal) if options.heal else None
                )
                rows.append((p, ids, guide))
                heals.append(healed)
            except MgdError as exc:
                errors[i] = CaseResult(id=p.id, error=str(exc))
        generated: list[list[int]] = []
        if rows:
            generated = self._run_model(rows, options, heals)
        elapsed = time.perf_counter() - t0
        results: list[CaseResult] = []
        it = iter(zip(rows, generated, heals, strict=True))
        for i in range(len(prompts)):
            if i in errors:
                results.append(errors[i])
                continue
            (p, _ids, guide), gen, healed = next(it)
            text, ntok = self._finish(gen, options, healed)
            stats = guide.report() if guide is not None else {}
            if healed is not None:
                stats["healed_chars"] = len(healed.removed_text)
            results.append(CaseResult(p.id, text, ntok, elapsed, stats))
        return results

    def _run_model(
        self,
        rows: Sequence[tuple[Prompt, list[int], SequenceGuide | None]],
        options: GenerateOptions,
        heals: Sequence[HealedPrompt | None] = (),
    ) -> list[list[int]]:
        if options.speculative:
            return self._run_speculative(rows, options, heals)
        width = max(len(ids) for _, ids, _ in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        for r, (_, ids, _) in enumerate(rows):
            input_ids[r, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention[r, width - len(ids) :] = 1
        processors = []
        stopping = StoppingCriteriaList()
        guides = [g for _, _, g in rows]
        if all(g is not None for g in guides):
            processors.append(MonitorLogitsProcessor([g for g in guides if g is not None], width))
            # Start each step's lookups before the next forward pass, not after it.
            stopping.append(MonitorPrefetch([g for g in guides if g is not None], width, options.max_new_tokens))
        if options.stop:
            skip = [
                (lambda row, h=h: self._healed_completion(row, h)) if h is not None and h.removed else None
                for h in heals
            ]
            stopping.append(_StopOnText(self.tokenizer, options.stop, width, skip))
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

    def _run_speculative(
        self,
        rows: Sequence[tuple[Prompt, list[int], SequenceGuide | None]],
        options: GenerateOptions,
        heals: Sequence[HealedPrompt | None] = (),
    ) -> list[list[int]]:
        """Tree speculative decoding (monitors/speculative), one row at a time."""
        from mgd.engines.speculative.decoder import SpecConfig, TreeDecoder

        config = SpecConfig.parse(options.speculative or "", options.spec_budget)
        decoder = getattr(self, "_spec_decoder", None)
        if decoder is None or decoder.config != config:
            def encode(text: str) -> list[int]:
                return self.tokenizer(text, add_special_tokens=False, verbose=False).input_ids

            decoder = self._spec_decoder = TreeDecoder(self.model, encode, config)
        if options.seed is not None:
            torch.manual_seed(options.seed)
        out: list[list[int]] = []
        for r, (_p, ids, guide) in enumerate(rows):
            h = heals[r] if r < len(heals) else None
            skip = [(lambda row, h=h: self._healed_completion(row, h)) if h is not None and h.removed else None]
            stopper = _StopOnText(self.tokenizer, options.stop, 0, skip) if options.stop else None
            gen, stats = decoder.generate(
                ids,
                max_new_tokens=options.max_new_tokens,
                guide=guide,
                eos_ids=[] if self.tokenizer.eos_token_id is None else [self.tokenizer.eos_token_id],
                stop=(lambda g, s=stopper: bool(s(torch.tensor([g]), None)[0])) if stopper else None,
                do_sample=options.do_sample,
                temperature=options.temperature,
                top_p=options.top_p,
            )
            if guide is not None:
                guide.stats.extra.update({k: v for k, v in stats.as_dict().items() if isinstance(v, int)})
            self.last_spec_stats = stats
            out.append(gen)
        return out

    # -- token healing -------------------------------------------------------------
    def _heal(self, prefix: str, ids: list[int]) -> HealedPrompt:
        """Heal the prompt ids; unchanged when the removed bytes are not the end of
        ``prefix`` as typed (a tokenizer that normalizes text, or a synthetic
        leading space of the first token) or nothing would be left of the prompt."""
        healed = heal_prompt(self.session.index, ids)
        if healed.removed and (not healed.ids or not prefix.endswith(healed.removed_text)):
            return HealedPrompt(tuple(ids), b"")
        return healed

    def _healing_guide(self, removed: bytes) -> SequenceGuide:
        """A guide with only the healing constraint (generation without monitors)."""
        monitors = [HealingMonitor(removed)] if removed else []
        return SequenceGuide(monitors, _NoLookup(), self.session.index)

    def _healed_completion(self, gen: list[int], healed: HealedPrompt) -> str:
        """The exact generated text (token bytes) minus the re-spelled removed text."""
        index = self.session.index
        data = b"".join(index.token_bytes(i) for i in gen if 0 <= i < index.size)
        return completion_after(data.decode("utf-8", "replace"), healed)

    def _finish(
        self, gen: list[int], options: GenerateOptions, healed: HealedPrompt | None = None
    ) -> tuple[str, int]:
        """Completion text (cut at EOS / stop) and the number of tokens it used."""
        eos = self.tokenizer.eos_token_id
        if eos is not None and eos in gen:
            gen = gen[: gen.index(eos)]
        while gen and gen[-1] == self.pad_id:
            gen = gen[:-1]
        if healed is not None and healed.removed:
            text = self._healed_completion(gen, healed)
        else:
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
