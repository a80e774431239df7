"""``mgd bench run``: generate for each configuration, then score.

Generation goes through one :class:`~mgd.engines.base.Generator` for the run:
``hf`` (:class:`~mgd.engines.generate.HFGenerator`), ``vllm``
(:class:`~mgd.vllm.offline.VllmGenerator`) or ``remote``
(:class:`~mgd.engines.endpoints.RemoteGenerator`: OpenAI-compatible endpoints, cases
sharded across them). Each configuration writes
``DIR/gen-<config>.jsonl`` (one line per case and sample, flushed as it goes); a
rerun skips what is already there, so an interrupted run resumes. Scoring reads
those files back, cuts every completion at its method end, checks it
(:mod:`mgd.evaluation.compile_check`) and computes the metrics.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mgd.engines.base import GenerateOptions, default_heal
from mgd.engines.cases import Case, iter_cases
from mgd.evaluation.leakage import ExcludeList, training_files_in
from mgd.evaluation.progress import progress_bar
from monitors.errors import ConfigError
from monitors.registry import DEFAULT_MONITORS, default_monitors

__all__ = [
    "CONFIGS",
    "RunConfig",
    "RunSettings",
    "generate_config",
    "generate_options",
    "load_bench_cases",
    "WAIT_MS",
    "check_settings",
    "decoding_options",
    "drop_excluded",
    "parse_configs",
    "read_generations",
    "with_monitors",
]


@dataclass(frozen=True, slots=True)
class RunConfig:
    """One decoding configuration of a run.

    ``names``: the monitors every case uses (a case's ``monitors`` key, which every
    engine honours); None: the session's choice (``mgd.toml``, else the language's
    default, :func:`~monitors.registry.default_monitors`), as ``mgd generate`` without
    ``--monitors``.
    """

    name: str
    monitors: bool
    heal: bool = False
    names: tuple[str, ...] | None = None
    plus: tuple[str, ...] = ()

    def monitors_for(self, language: str) -> list[str] | None:
        """The monitor names a case in ``language`` gets (None: the session's choice)."""
        if self.names is not None:
            return list(self.names)
        if self.plus:
            return [*default_monitors(language), *self.plus]
        return None


def with_monitors(cfg: RunConfig, case: Case) -> Case:
    """``case`` with ``cfg``'s monitors (its ``monitors`` key, which every engine honours)."""
    names = cfg.monitors_for(str(case.extra.get("language", "")))
    return case if names is None else dataclasses.replace(case, extra={**case.extra, "monitors": names})


_DEFAULT = GenerateOptions()
_BASE = DEFAULT_MONITORS


#: Known configuration names. ``default`` is what ``mgd generate`` does with no flags
#: (GenerateOptions' defaults, the default monitors; tests/evaluation/test_configs.py
#: checks it against the CLI: the language's default monitors); ``mgd`` is the dereference
#: monitor alone (the paper's), ``mgd+X`` adds one mechanism to it.
CONFIGS: dict[str, RunConfig] = {
    "plain": RunConfig("plain", monitors=False),
    "mgd": RunConfig("mgd", monitors=True, names=_BASE),
    "heal": RunConfig("heal", monitors=False, heal=True),
    "mgd+heal": RunConfig("mgd+heal", monitors=True, heal=True, names=_BASE),
    "default": RunConfig("default", monitors=_DEFAULT.monitors, heal=default_heal(_DEFAULT.monitors)),
    "default+types": RunConfig("default+types", monitors=True, heal=default_heal(True), plus=("expected_types",)),
    "default+syntax": RunConfig("default+syntax", monitors=True, heal=default_heal(True), plus=("syntax",)),
    "mgd+calls": RunConfig("mgd+calls", monitors=True, names=(*_BASE, "arguments", "keyword_arguments")),
    "mgd+defsites": RunConfig("mgd+defsites", monitors=True, names=(*_BASE, "definition_sites")),
    "mgd+syntax": RunConfig("mgd+syntax", monitors=True, names=(*_BASE, "syntax")),
    "mgd+types": RunConfig("mgd+types", monitors=True, names=(*_BASE, "expected_types")),
    "mgd+strict": RunConfig("mgd+strict", monitors=True, names=(*_BASE, "expected_types_strict")),
    "mgd+new": RunConfig("mgd+new", monitors=True,
                         names=(*_BASE, "arguments", "keyword_arguments", "definition_sites", "syntax")),
}


def heal_supported() -> bool:
    """Whether GenerateOptions has the token-healing field."""
    from mgd.engines.generate import GenerateOptions

    return any(f.name == "heal" for f in dataclasses.fields(GenerateOptions))


def parse_configs(text: str) -> list[RunConfig]:
    """``plain,mgd,...`` -> configs; unknown names and healing without support are errors."""
    out: list[RunConfig] = []
    for name in (t.strip() for t in text.split(",")):
        if not name:
            continue
        cfg = CONFIGS.get(name)
        if cfg is None:
            raise ConfigError(f"unknown config {name!r}; known: {', '.join(CONFIGS)}")
        if cfg.heal and not heal_supported():
            raise ConfigError(f"config {name!r} needs token healing (GenerateOptions.heal), not available here")
        out.append(cfg)
    if not out:
        raise ConfigError("--configs names no configuration")
    return out


#: The default wait budget of one decoding step (``--wait-ms``), ``mgd generate``'s and
#: ``mgd bench run``'s alike.
WAIT_MS = 30_000


@dataclass(frozen=True, slots=True)
class RunSettings:
    """Decoding settings shared by every configuration of a run.

    The defaults are ``mgd generate``'s (``GenerateOptions()``), so that the ``default``
    configuration of a run with no flags is ``mgd generate`` with none (:func:`decoding_options`
    builds both). ``budget``: how ``max_new_tokens`` was chosen (``mgd bench budget``), recorded
    with the run."""

    n: int = 1
    temperature: float = 0.0
    top_p: float = _DEFAULT.top_p
    seed: int = 0
    max_new_tokens: int = _DEFAULT.max_new_tokens
    max_prompt_tokens: int | None = _DEFAULT.max_prompt_tokens
    batch_size: int = _DEFAULT.batch_size
    extra_stop: tuple[str, ...] = ()
    engine: str = "hf"
    wait_ms: float = float(WAIT_MS)
    budget: str = ""
    fim: str = _DEFAULT.fim
    fim_template: str = _DEFAULT.fim_template
    max_suffix_tokens: int | None = _DEFAULT.max_suffix_tokens

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError("-n must be >= 1")
        if self.n > 1 and self.temperature <= 0:
            raise ConfigError("-n > 1 needs --temperature > 0 (greedy samples are identical)")


#: Settings older runs did not record, with the value they ran with (prompts were
#: left-to-right before FIM reached batch generation in 0.4).
_BEFORE_RECORDED: dict[str, Any] = {"fim": "off"}


def check_settings(out_dir: Path, settings: RunSettings, *, scoring_only: bool = False) -> RunSettings:
    """Record the run's settings in ``out_dir/settings.json``; a resumed run must match them.

    ``scoring_only``: nothing is generated, so how it was generated (engine, wait
    budget, batch size) is taken from the record; returns the settings to score with.
    """
    path = out_dir / "settings.json"
    now = dataclasses.asdict(settings)
    now["extra_stop"] = list(now["extra_stop"])
    keep = ("batch_size",)  # batching does not change greedy results' meaning
    if path.exists():
        old = json.loads(path.read_text())
        # keys a run of an older version did not record: what that version did
        defaults = {**dataclasses.asdict(RunSettings()), **_BEFORE_RECORDED}
        if scoring_only:
            for key in ("engine", "wait_ms", "batch_size"):
                now[key] = old.get(key, defaults[key])
        diff = {k: (old.get(k, defaults[k]), v) for k, v in now.items()
                if k not in keep and old.get(k, defaults[k]) != v}
        if diff:
            raise ConfigError(f"{out_dir} holds a run with other settings {diff}; use another --out")
    path.write_text(json.dumps(now, indent=2) + "\n")
    now["extra_stop"] = tuple(now["extra_stop"])
    return RunSettings(**now)


def load_bench_cases(path: Path, limit: int | None = None, workspace_root: Path | None = None) -> list[Case]:
    """Cases with their ground truth; a bad line is an error (benchmarks must be clean).

    Relative workspaces are resolved against ``workspace_root`` (default: the
    directory of the cases file); a workspace that is not there is an error.
    """
    cases: list[Case] = []
    missing: set[str] = set()
    for item in iter_cases(path, workspace_root):
        if not isinstance(item, Case):
            raise ConfigError(f"{path}: case {item.id}: {item.error}")
        for key in ("target", "stop", "language"):
            if key not in item.extra:
                raise ConfigError(f"{path}: case {item.id} has no {key!r} (build it with `mgd bench build`)")
        if not Path(item.workspace).is_dir():
            missing.add(item.workspace)
        cases.append(item)
        if limit is not None and len(cases) >= limit:
            break
    if not cases:
        raise ConfigError(f"{path} holds no cases")
    if missing:
        hint = "" if workspace_root else " (relative workspaces: pass --workspace-root DIR)"
        raise ConfigError(f"{path}: workspace(s) not found: {', '.join(sorted(missing)[:3])}{hint}")
    return cases


def drop_excluded(
    cases: Sequence[Case], exclude: ExcludeList, *, by_project: bool = True
) -> tuple[list[Case], list[Case]]:
    """(cases to run, cases left out): a case whose workspace (its project) has any file on
    the exclude list, or with ``by_project=False`` whose own file is on it."""
    listed: dict[str, bool] = {}
    if by_project and exclude:
        for ws in {c.workspace for c in cases}:
            listed[ws] = bool(training_files_in(ws, exclude))
    kept: list[Case] = []
    dropped: list[Case] = []
    for c in cases:
        (dropped if listed.get(c.workspace) or exclude.contains(c.file) else kept).append(c)
    return kept, dropped


def read_generations(path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """(case id, sample) -> result line; a torn last line (killed run) is ignored. Without
    ``path``, its gzipped copy (``gen-plain.jsonl.gz``, as committed runs keep them) is read."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    packed = path.with_name(path.name + ".gz")
    if not path.exists() and packed.exists():
        with gzip.open(packed, "rt", encoding="utf-8") as gz:
            return _generation_lines(gz)
    if not path.exists():
        return out
    with path.open(encoding="utf-8") as fh:
        return _generation_lines(fh)


def _generation_lines(fh: Any) -> dict[tuple[str, int], dict[str, Any]]:
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for line in fh:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        out[(obj["id"], int(obj.get("sample", 0)))] = obj
    return out


def decoding_options(
    *, max_new_tokens: int = _DEFAULT.max_new_tokens, stop: tuple[str, ...] = (), monitors: bool = True,
    heal: bool | None = None, temperature: float = 0.0, top_p: float = _DEFAULT.top_p, seed: int | None = None,
    batch_size: int = _DEFAULT.batch_size, max_prompt_tokens: int | None = _DEFAULT.max_prompt_tokens,
    speculative: str | None = None, fim: str = _DEFAULT.fim, fim_template: str = _DEFAULT.fim_template,
    max_suffix_tokens: int | None = _DEFAULT.max_suffix_tokens,
) -> GenerateOptions:
    """The one place decoding flags become ``GenerateOptions`` (``mgd generate`` and every
    configuration of ``mgd bench run``): greedy unless ``temperature > 0`` (then no seed
    is kept), healing by :func:`~mgd.engines.base.default_heal` unless told."""
    sampling = temperature > 0
    return dataclasses.replace(
        _DEFAULT,
        max_new_tokens=max_new_tokens,
        stop=stop,
        monitors=monitors,
        do_sample=sampling,
        temperature=temperature if sampling else 1.0,
        top_p=top_p if sampling else _DEFAULT.top_p,
        seed=seed if sampling else None,
        batch_size=batch_size,
        max_prompt_tokens=max_prompt_tokens,
        heal=default_heal(monitors) if heal is None else heal,
        speculative=speculative,
        fim=fim,
        fim_template=fim_template,
        max_suffix_tokens=max_suffix_tokens,
    )


def generate_options(cfg: RunConfig, settings: RunSettings, sample: int, language: str) -> GenerateOptions:
    """The ``GenerateOptions`` one configuration of a run generates ``language`` cases with
    (the case's method end stops it too: the engine's ``case_stop``)."""
    same = {k: getattr(settings, k) for k in _SHARED_FIELDS}
    return decoding_options(stop=settings.extra_stop, monitors=cfg.monitors, heal=cfg.heal,
                            seed=settings.seed + sample, **same)


#: RunSettings fields that are decoding_options' arguments of the same name.
_SHARED_FIELDS = ("max_new_tokens", "temperature", "top_p", "batch_size", "max_prompt_tokens",
                  "fim", "fim_template", "max_suffix_tokens")


@dataclass(slots=True)
class _Writer:
    path: Path
    sample: int
    done: int = 0
    tick: Callable[[], None] | None = None
    fh: Any = field(default=None)

    def __call__(self, res: Any) -> None:
        obj = {"sample": self.sample, **res.to_json()}
        self.fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
        self.fh.flush()
        self.done += 1
        if self.tick:
            self.tick()


def generate_config(
    generator: Any,
    cfg: RunConfig,
    cases: Sequence[Case],
    settings: RunSettings,
    out_dir: Path,
    *,
    progress: bool = True,
) -> Path:
    """Generate every missing (case, sample) of one config into ``out_dir/gen-<name>.jsonl``."""
    path = out_dir / f"gen-{cfg.name}.jsonl"
    cases = [with_monitors(cfg, c) for c in cases]
    # Generations that ended with an error (a server that went away, ...) are tried again.
    have = {k: v for k, v in read_generations(path).items() if not v.get("error")}
    todo = [(s, c) for s in range(settings.n) for c in cases if (c.id, s) not in have]
    if not todo:
        return path
    # Rewrite the file without a torn last line before appending.
    with path.open("w", encoding="utf-8") as fh:
        for obj in have.values():
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
    bar = progress_bar(len(todo), f"generate {cfg.name}", progress)
    t0 = time.perf_counter()
    with path.open("a", encoding="utf-8") as fh:
        for sample in range(settings.n):
            batch = [c for s, c in todo if s == sample]
            by_lang: dict[str, list[Case]] = {}
            for c in batch:
                by_lang.setdefault(str(c.extra["language"]), []).append(c)
            for lang, group in by_lang.items():
                writer = _Writer(path, sample, tick=lambda: bar.update(1), fh=fh)
                generator.run_cases(group, generate_options(cfg, settings, sample, lang), on_result=writer)
    bar.close()
    print(f"{cfg.name}: {len(todo)} generations in {time.perf_counter() - t0:.0f}s -> {path}", file=sys.stderr)
    return path
