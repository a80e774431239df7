"""What every batch generator shares: options, prompts, the cases contract, healing, stops.

:class:`Generator` is the base of :class:`~mgd.engines.generate.HFGenerator` and
:class:`~mgd.vllm.offline.VllmGenerator`: one way to turn a case into a
:class:`Prompt`, a prefix into prompt ids (longer than the context keeps its
tail), to heal a prompt, to cut a completion at its stop texts, and to run a
cases file in batches (a bad case becomes an error result; the batch goes on).
Subclasses only say how a batch of prompts is generated.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from mgd.engines.cases import Case, CaseResult, load_case_text, run_batched
from mgd.engines.fim import FIM_MODES, FimPrompter, get_template
from mgd.engines.stopping import FirstStop, StopRule, StopTexts
from monitors.errors import ConfigError
from monitors.healing import HealedPrompt, completion_after, heal_prompt_of
from monitors.vocab import VocabIndex

__all__ = ["GenerateOptions", "Generator", "Prompt", "default_heal"]


def default_heal(monitors: bool) -> bool:
    """Whether ``mgd generate`` (and ``mgd bench run --configs default``) heals when not told:
    with monitors, yes. Measured: next-identifier match +13.0 points [95% CI +8.3, +17.7] over
    plain on the report split, +16.0 / +14.0 over the monitors alone on both development
    splits, compile rate not hurt (README, benchmarks/results/eval/)."""
    return monitors


@dataclass(frozen=True, slots=True)
class GenerateOptions:
    """Decoding settings shared by a run (every engine reads the same ones)."""

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
    speculative: str | None = None  # tree drafts "SOURCES[:N][:COST]" (batch 1; "" = the default)
    spec_budget: int | None = None  # most drafted nodes per tree (unless the spec says ":N")
    fim: str = "auto"  # fill-in-the-middle prompts: auto (when the tokenizer has FIM tokens), on, off
    fim_template: str = "auto"  # the FIM family (mgd.engines.fim.TEMPLATES), auto: from the tokenizer
    max_suffix_tokens: int | None = None  # FIM: most suffix tokens (None: a quarter of the prompt budget)

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ConfigError("max_new_tokens must be >= 1")
        if self.batch_size < 1:
            raise ConfigError("batch_size must be >= 1")
        if self.max_prompt_tokens is not None and self.max_prompt_tokens < 1:
            raise ConfigError("max_prompt_tokens must be >= 1")
        if self.fim not in FIM_MODES:
            raise ConfigError(f"fim must be 'auto', 'on' or 'off', not {self.fim!r}")
        if self.fim_template != "auto":
            get_template(self.fim_template)  # validates (ConfigError naming the known ones)
        if self.max_suffix_tokens is not None and self.max_suffix_tokens < 0:
            raise ConfigError("max_suffix_tokens must be >= 0")
        StopTexts(self.stop)  # validates
        if self.speculative is not None:
            from mgd.engines.speculative.decoder import SpecConfig

            SpecConfig.parse(self.speculative, self.spec_budget)  # validates

    @property
    def stops(self) -> StopTexts:
        return StopTexts(self.stop)


@dataclass(frozen=True, slots=True)
class Prompt:
    """One sequence to generate: the file it goes into and the text around the hole."""

    id: str
    workspace: Path
    file: Path
    prefix: str
    suffix: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def monitors(self) -> tuple[str, ...] | None:
        """Per-case monitor names (a case's ``"monitors"`` key), None if not given."""
        names = self.extra.get("monitors")
        if names is None:
            return None
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list | tuple) or not all(isinstance(n, str) for n in names):
            raise ConfigError("a case's 'monitors' must be a list of names")
        return tuple(names)


class Generator(ABC):
    """A model that completes prompts; subclasses implement :meth:`_generate_batch`.

    Subclasses set ``tokenizer`` (a Hugging Face tokenizer) and ``context`` (the
    model's context length in tokens) and provide :meth:`check_workspace` and
    :meth:`vocab`.
    """

    tokenizer: Any
    context: int
    #: A case's own stop rule from its keys (e.g. the method end of a ``mgd bench build``
    #: case: :func:`mgd.evaluation.methods.case_stop_rule`), set by the caller; generation
    #: of that row also stops there (the completion text is not cut by it).
    case_stop: Callable[[dict[str, Any]], StopRule | None] | None = None

    # -- hooks -------------------------------------------------------------------
    @abstractmethod
    def check_workspace(self, workspace: str | Path, file: str | Path) -> tuple[Path, Path]:
        """Resolve ``file`` inside ``workspace`` (and the workspace inside what is allowed)."""

    @abstractmethod
    def vocab(self) -> VocabIndex:
        """The vocabulary index of the tokenizer (for healing and exact completion bytes)."""

    @abstractmethod
    def _generate_batch(self, prompts: Sequence[Prompt], options: GenerateOptions) -> list[CaseResult]:
        """Results for one batch, in order; a bad prompt becomes an error result."""

    # -- prompts -----------------------------------------------------------------
    def prompt_for_case(self, case: Case) -> Prompt:
        ws, path = self.check_workspace(case.workspace, case.file)
        prefix, suffix = load_case_text(case, path)
        return Prompt(case.id, ws, path, prefix, suffix, case.extra)

    def fim(self, options: GenerateOptions) -> FimPrompter:
        """The FIM layout ``options`` give this tokenizer (resolved once per setting)."""
        cache: dict[tuple[str, str], FimPrompter] | None = getattr(self, "_fim_layouts", None)
        if cache is None:
            cache = {}
            self._fim_layouts = cache
        key = (options.fim, options.fim_template)
        if key not in cache:
            cache[key] = FimPrompter.resolve(self.tokenizer, options.fim, options.fim_template)
        return cache[key]

    def _budget(self, max_new_tokens: int, max_prompt_tokens: int | None) -> int:
        budget = self.context - max_new_tokens
        if max_prompt_tokens is not None:
            budget = min(budget, max_prompt_tokens)
        if budget < 1:
            raise ConfigError(f"max_new_tokens {max_new_tokens} leaves no room in a {self.context}-token context")
        return budget

    def prompt_ids(self, prefix: str, max_new_tokens: int, max_prompt_tokens: int | None = None) -> list[int]:
        """Token ids of a left-to-right prompt; longer than the context keeps its tail."""
        ids: list[int] = self.tokenizer(prefix, verbose=False).input_ids
        budget = self._budget(max_new_tokens, max_prompt_tokens)
        return ids[-budget:] if len(ids) > budget else ids

    def _fim_parts(self, p: Prompt, options: GenerateOptions, fim: FimPrompter) -> tuple[list[int], list[int]]:
        """The prefix's and the suffix's ids of a FIM prompt, within the budget."""
        budget = self._budget(options.max_new_tokens, options.max_prompt_tokens)
        encode = self.tokenizer
        head = encode(p.prefix, add_special_tokens=False, verbose=False).input_ids
        tail = encode(p.suffix[: budget * 8], add_special_tokens=False, verbose=False).input_ids if p.suffix else []
        return fim.split(head, tail, budget, options.max_suffix_tokens)

    def prepare(self, p: Prompt, options: GenerateOptions) -> tuple[list[int], HealedPrompt | None]:
        """The prompt ids of ``p`` (FIM when the layout has a template; healed with
        ``options.heal``) and the healing, if any. A healed FIM prompt re-spells the
        end of its prefix block; ``HealedPrompt.ids`` are then the whole prompt."""
        fim = self.fim(options)
        if fim.template is None:
            ids = self.prompt_ids(p.prefix, options.max_new_tokens, options.max_prompt_tokens)
            healed = self.heal(p.prefix, ids) if options.heal else None
            return (list(healed.ids) if healed is not None else ids), healed
        head, tail = self._fim_parts(p, options, fim)
        healed = self.heal(p.prefix, head) if options.heal else None
        if healed is not None:
            head = list(healed.ids)
        ids = fim.ids(head, tail)
        return ids, (HealedPrompt(tuple(ids), healed.removed) if healed is not None else None)

    def stop_token_ids(self, options: GenerateOptions) -> list[int]:
        """Tokens that end a completion: EOS and the FIM family's end markers."""
        eos = self.tokenizer.eos_token_id
        return [*([eos] if eos is not None else []), *self.fim(options).stop_ids]

    def row_stop(self, p: Prompt, options: GenerateOptions) -> StopRule | None:
        """What stops ``p``'s generation: the stop texts and the case's own rule, if any."""
        own = self.case_stop(p.extra) if self.case_stop is not None else None
        if own is None:
            return options.stops if options.stop else None
        return FirstStop((options.stops, own)) if options.stop else own

    def finish(self, text: str, options: GenerateOptions) -> str:
        """The completion text cut at the first stop text."""
        stops = options.stops
        cut = stops.cut(text)
        return stops.finish(text if cut is None else text[:cut])

    def result(
        self, p: Prompt, text: str, gen: Sequence[int], healed: HealedPrompt | None, options: GenerateOptions,
        elapsed_s: float, stats: dict[str, Any] | None = None,
    ) -> CaseResult:
        """One prompt's result from an engine's output (its decoded ``text`` and token ids
        ``gen``): text relative to the original prompt when healed, cut at the stops."""
        if healed is not None and healed.healed:
            text = self.completion_text(gen, healed)
        out = dict(stats or {})
        if healed is not None:
            out["healed_chars"] = len(healed.removed_text)
        return CaseResult(p.id, self.finish(text, options), len(gen), elapsed_s, out)

    def heal(self, prefix: str, ids: list[int]) -> HealedPrompt:
        """The healed prompt (unchanged where healing cannot apply; see
        :func:`monitors.healing.heal_prompt_of`)."""
        return heal_prompt_of(self.vocab(), prefix, ids)

    def completion_text(self, gen: Sequence[int], healed: HealedPrompt | None = None) -> str:
        """The text of generated ids relative to the original prompt: exact token bytes
        minus the re-spelled removed text when the prompt was healed."""
        if healed is None or not healed.removed:
            return self.tokenizer.decode(list(gen), skip_special_tokens=True)
        index = self.vocab()
        data = b"".join(index.token_bytes(i) for i in gen if 0 <= i < index.size)
        return completion_after(data.decode("utf-8", "replace"), healed)

    # -- batches -------------------------------------------------------------------
    def generate(self, prompts: Sequence[Prompt], options: GenerateOptions) -> list[CaseResult]:
        """Generate for every prompt, ``batch_size`` at a time; errors are per prompt."""
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
        """Cases in, results out, in input order, :meth:`_chunk` prompts per :meth:`generate`
        call; bad cases become error results."""
        return run_batched(
            cases, self.prompt_for_case, lambda batch: self.generate(batch, options), self._chunk(options), on_result
        )

    def _chunk(self, options: GenerateOptions) -> int:
        """How many prompts :meth:`run_cases` hands :meth:`generate` at once."""
        return options.batch_size

    # -- lifecycle -----------------------------------------------------------------
    def close(self) -> None:  # noqa: B027 - optional hook: nothing to release by default
        """Release the model and the language servers."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
