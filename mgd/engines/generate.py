"""Generation with Hugging Face models: batching, monitors, stop texts, speculative trees.

:class:`HFGenerator` is what ``mgd generate`` and the Python API use: it loads a
causal LM, builds left-padded batches, attaches one guide per row (from the
session, :meth:`mgd.session.MgdSession.guide`) through
:class:`~mgd.engines.hf.MonitorLogitsProcessor`, and returns
:class:`~mgd.engines.cases.CaseResult` objects (a bad case becomes an error
result; the batch goes on). Prompts, healing and stops: :mod:`mgd.engines.base`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, StoppingCriteria, StoppingCriteriaList

from mgd.config import SessionConfig
from mgd.engines.base import GenerateOptions, Generator, Prompt
from mgd.engines.cases import CaseResult
from mgd.engines.hf import MonitorLogitsProcessor, MonitorPrefetch
from mgd.engines.sampling import Sampling
from mgd.engines.stopping import StopRule
from mgd.session import MgdSession
from monitors.errors import MgdError
from monitors.guide import SequenceGuide
from monitors.healing import HealedPrompt, HealingMonitor
from monitors.vocab import VocabIndex

__all__ = ["GenerateOptions", "HFGenerator", "Prompt"]

log = logging.getLogger(__name__)


class StopCriteria(StoppingCriteria):
    """Per-row stop for ``generate``: the row's completion text so far hits its rule.

    ``rules``: one per row (None: that row has none); ``text_of(b, row_ids)`` gives row
    ``b``'s completion text from its generated ids.
    """

    def __init__(self, rules: Sequence[StopRule | None], prompt_length: int,
                 text_of: Callable[[int, list[int]], str]) -> None:
        self.rules = list(rules)
        self.prompt_length = prompt_length
        self.text_of = text_of

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        gen = input_ids[:, self.prompt_length :].tolist()
        done = [rule is not None and rule.cut(self.text_of(b, row)) is not None
                for b, (rule, row) in enumerate(zip(self.rules, gen, strict=True))]
        return cast(torch.BoolTensor, torch.tensor(done, dtype=torch.bool, device=input_ids.device))


class _NoLookup:
    """The lookup of a guide whose monitors never need facts (healing only)."""

    def start(self, need: Any) -> Any:
        raise MgdError("this guide has no language server")


class HFGenerator(Generator):
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
        loaded = AutoModelForCausalLM.from_pretrained(str(model), dtype=dtype)
        # transformers types .to through @wraps(Module.to), which drops self
        self.model = loaded.to(self.device)  # pyright: ignore[reportArgumentType]
        self.model.eval()
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id
        self.context = int(
            getattr(self.model.config, "max_position_embeddings", None)
            or min(self.tokenizer.model_max_length, 1 << 20)
        )
        self.session = MgdSession(self.tokenizer, config)
        # Tree decoding (built on first use): one decoder per spec (each keeps what it
        # learned: recycled top-k, acceptance, cost curve, outputs) and the workspace indexes.
        self.spec_decoders: dict[Any, Any] = {}
        self.spec_corpus: Any = None
        self.last_spec_stats: Any = None

    def check_workspace(self, workspace: str | Path, file: str | Path) -> tuple[Path, Path]:
        return self.session.check_workspace(workspace, file)

    def vocab(self) -> VocabIndex:
        return self.session.index

    # -- generation ----------------------------------------------------------------
    @torch.inference_mode()
    def generate(self, prompts: Sequence[Prompt], options: GenerateOptions) -> list[CaseResult]:
        return super().generate(prompts, options)

    def _generate_batch(self, prompts: Sequence[Prompt], options: GenerateOptions) -> list[CaseResult]:
        t0 = time.perf_counter()
        rows: list[tuple[Prompt, list[int], SequenceGuide | None]] = []
        heals: list[HealedPrompt | None] = []  # per row, with options.heal
        errors: dict[int, CaseResult] = {}
        for i, p in enumerate(prompts):
            try:
                ids, healed = self.prepare(p, options)
                heal = healed.removed if healed is not None else b""
                guide = (
                    self.session.guide(p.workspace, p.file, p.prefix, p.suffix, heal=heal, monitors=p.monitors,
                                       stops=options.stop, max_tokens=options.max_new_tokens)
                    if options.monitors
                    else self._healing_guide(heal) if options.heal else None
                )
                rows.append((p, ids, guide))
                heals.append(healed)
            except MgdError as exc:
                errors[i] = CaseResult(id=p.id, error=str(exc))
        generated: list[list[int]] = []
        try:
            if rows:
                generated = self._run_model(rows, options, heals)
        finally:
            for _p, _ids, guide in rows:
                if guide is not None:
                    guide.close()
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

    def _stop_text_of(
        self, heals: Sequence[HealedPrompt | None], window: int | None
    ) -> Callable[[int, list[int]], str]:
        """Row ``b``'s text for the stop check: the decoded tail of ``window`` tokens (a
        stop that just appeared lies in it; None: all of it), or the whole healed
        completion for a healed row."""

        def text_of(b: int, row: list[int]) -> str:
            h = heals[b] if b < len(heals) else None
            if h is not None and h.removed:
                return self.completion_text(row, h)
            return self.tokenizer.decode(row if window is None else row[-window:], skip_special_tokens=True)

        return text_of

    def _run_model(
        self,
        rows: Sequence[tuple[Prompt, list[int], SequenceGuide | None]],
        options: GenerateOptions,
        heals: Sequence[HealedPrompt | None] = (),
    ) -> list[list[int]]:
        if options.speculative is not None:  # "" = the default spec
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
        rules = [self.row_stop(p, options) for p, _, _ in rows]
        if any(r is not None for r in rules):
            # tokens: a stop text spans at most this many; a case's own rule reads the whole text
            window = None if self.case_stop is not None else options.stops.window + 8
            stopping.append(StopCriteria(rules, width, self._stop_text_of(heals, window)))
        if options.seed is not None:
            torch.manual_seed(options.seed)
        kwargs: dict[str, Any] = {"do_sample": options.do_sample}
        if options.do_sample:
            kwargs.update(temperature=options.temperature, top_p=options.top_p, top_k=0)
        # transformers types generate()'s self as a protocol that its own PreTrainedModel does not satisfy
        out = self.model.generate(  # pyright: ignore[reportAttributeAccessIssue]
            input_ids=input_ids.to(self.device),
            attention_mask=attention.to(self.device),
            max_new_tokens=options.max_new_tokens,
            logits_processor=processors,
            stopping_criteria=stopping,
            pad_token_id=self.pad_id,
            eos_token_id=self.stop_token_ids(options) or None,
            **kwargs,
        )
        return out[:, width:].tolist()

    def _run_speculative(
        self,
        rows: Sequence[tuple[Prompt, list[int], SequenceGuide | None]],
        options: GenerateOptions,
        heals: Sequence[HealedPrompt | None] = (),
    ) -> list[list[int]]:
        """Tree speculative decoding (mgd/engines/speculative), one row at a time."""
        from mgd.engines.speculative.corpus import WorkspaceCorpus
        from mgd.engines.speculative.decoder import SpecConfig, TreeDecoder

        config = SpecConfig.parse(options.speculative or "", options.spec_budget)
        decoder = self.spec_decoders.get(config)
        if decoder is None:
            def encode(text: str) -> list[int]:
                return self.tokenizer(text, add_special_tokens=False, verbose=False).input_ids

            decoder = self.spec_decoders[config] = TreeDecoder(self.model, encode, config)
        if self.spec_corpus is None and "suffix" in config.sources:
            self.spec_corpus = WorkspaceCorpus(self._tokenize_with_offsets)
        corpus = self.spec_corpus if "suffix" in config.sources else None
        if options.seed is not None:
            torch.manual_seed(options.seed)
        sampling = Sampling(options.temperature if options.do_sample else 0.0, options.top_p)
        out: list[list[int]] = []
        for r, (p, ids, guide) in enumerate(rows):
            h = heals[r] if r < len(heals) else None
            view = corpus.view(p.workspace, p.file, len(p.prefix)) if corpus is not None else None
            stop = None
            rule = self.row_stop(p, options)
            if rule is not None:
                text_of = self._stop_text_of([h], None if self.case_stop is not None else options.stops.window + 8)
                stop = lambda g, text_of=text_of, rule=rule: rule.cut(text_of(0, g)) is not None  # noqa: E731
            gen, stats = decoder.generate(
                ids,
                max_new_tokens=options.max_new_tokens,
                guide=guide,
                eos_ids=self.stop_token_ids(options),
                stop=stop,
                sampling=sampling,
                corpus=[view] if view is not None else [],
            )
            if guide is not None:
                guide.stats.extra.update({k: v for k, v in stats.as_dict().items() if isinstance(v, int)})
            self.last_spec_stats = stats
            out.append(gen)
        return out

    def _tokenize_with_offsets(self, texts: list[str]) -> list[tuple[list[int], list[int]]]:
        """Ids and each id's first character (the suffix source's workspace index)."""
        enc = self.tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        return [(ids, [a for a, _b in offs]) for ids, offs in zip(enc.input_ids, enc.offset_mapping, strict=True)]

    # -- token healing -------------------------------------------------------------
    def _healing_guide(self, removed: bytes) -> SequenceGuide:
        """A guide with only the healing constraint (generation without monitors)."""
        monitors = [HealingMonitor(removed)] if removed else []
        return SequenceGuide(monitors, _NoLookup(), self.session.index, memo=self.session.memo)

    def _finish(
        self, gen: list[int], options: GenerateOptions, healed: HealedPrompt | None = None
    ) -> tuple[str, int]:
        """Completion text (cut at EOS / stop) and the number of tokens it used."""
        stops = set(self.stop_token_ids(options))
        end = next((i for i, t in enumerate(gen) if t in stops), None)
        if end is not None:
            gen = gen[:end]
        while gen and gen[-1] == self.pad_id:
            gen = gen[:-1]
        return self.finish(self.completion_text(gen, healed), options), len(gen)

    def close(self) -> None:
        self.session.close()
