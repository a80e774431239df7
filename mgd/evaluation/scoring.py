"""Score a run's generations: cut at the method end, check, match, aggregate, compare.

For every configuration it reads ``DIR/gen-<config>.jsonl``, cuts each
completion at its method end (:mod:`mgd.evaluation.methods`), splices it
into the file (prefix + method + the file after the method), checks all of them
(:mod:`mgd.evaluation.compile_check`: strict CR, with each added error's class)
and computes NIM/ISM/PM against the ground truth. A completion is the rest of the
method: one that reached the token budget before the method ended is *truncated* and
fails CR whatever its kept lines check to; one the checker did not vouch for
(``unknown``) fails CR too. Both are counted per configuration. Per case the n samples give
score@k; the summary averages over cases. Against the baseline configuration
(``plain`` when the run has it) every metric gets paired statistics
(:mod:`mgd.evaluation.stats`) and the error classes a breakdown of what changed.
"""

from __future__ import annotations

import gzip
import io
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mgd.engines.cases import Case
from mgd.evaluation.compile_check import CheckItem, CheckResult, check_items
from mgd.evaluation.diagnostics import ERROR_CLASSES, Diagnostic
from mgd.evaluation.methods import cut_method
from mgd.evaluation.metrics import (
    definition_site,
    expected_max_at_k,
    identifiers,
    ism,
    name_kind,
    nim,
    pass_at_k,
    pm,
)
from mgd.evaluation.runner import RunConfig, RunSettings, read_generations
from mgd.evaluation.stats import PairedComparison, compare
from monitors.errors import ConfigError

__all__ = [
    "ConfigSummary",
    "RunResult",
    "SampleScore",
    "comparison_pairs",
    "dump_samples",
    "error_changes",
    "score_run",
]

_STAT_KEYS = ("triggers", "constrained_steps", "fallbacks", "failed_lookups", "late_triggers")


@dataclass(frozen=True, slots=True)
class SampleScore:
    """One generation, scored; ``errors``: what the completed file adds (strict CR)."""

    case: str
    sample: int
    compiles: bool | None
    nim: bool
    ism: float
    pm: float
    finished: bool
    tokens: int
    errors: tuple[Diagnostic, ...] = ()
    unknown: bool = False

    @property
    def error_kinds(self) -> frozenset[str]:
        return frozenset(e.kind for e in self.errors)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["errors"] = [e.to_json() for e in self.errors]
        out["error_kinds"] = sorted(self.error_kinds)
        return out


@dataclass(slots=True)
class ConfigSummary:
    """Averages over cases for one configuration (``score@k`` keys like ``CR@1``)."""

    config: str
    cases: int
    cr_cases: int
    scores: dict[str, float] = field(default_factory=dict)
    finished_rate: float = 0.0
    #: samples that reached the token budget before their method ended (CR fails them),
    #: and samples whose checker verdict is unknown (CR fails them too)
    truncated: int = 0
    unknown: int = 0
    tokens: int = 0
    tokens_per_s: float = 0.0
    stats: dict[str, float] = field(default_factory=dict)
    #: NIM@1 split by properties of the ground truth: ``"name"``: its first
    #: identifier's kind (metrics.name_kind), ``"site"``: ``definition`` (an
    #: attribute assignment at statement start, metrics.definition_site) or ``use``;
    #: e.g. ``{"name": {"private": {"cases": 65.0, "NIM@1": 0.1}, ...}, "site": ...}``.
    nim_splits: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    #: Samples whose completed file adds at least one error of each class
    #: (:data:`~mgd.evaluation.diagnostics.ERROR_CLASSES`), and errors added in all.
    error_samples: dict[str, int] = field(default_factory=dict)
    error_totals: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class RunResult:
    """Everything a report needs.

    ``per_case``: config -> metric (``CR@1``, ...) -> case id -> value in [0, 1];
    ``comparisons``: ``"<config> vs <reference>"`` -> metric -> the paired comparison
    (:func:`comparison_pairs`: each configuration with ``baseline``, ``mgd+heal`` with ``heal``);
    ``meta``: what the run records about its inputs (e.g. the training-data exclusion).
    """

    settings: dict[str, Any]
    ks: tuple[int, ...]
    summaries: list[ConfigSummary]
    samples: dict[str, list[SampleScore]]
    language: str
    skipped: int = 0
    baseline: str | None = None
    per_case: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    comparisons: dict[str, dict[str, PairedComparison]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "skipped_cases": self.skipped,
            "settings": self.settings,
            "ks": list(self.ks),
            **self.meta,
            "summaries": [asdict(s) for s in self.summaries],
            "baseline": self.baseline,
            "paired": {
                pair: {m: c.to_json() for m, c in by_metric.items()} for pair, by_metric in self.comparisons.items()
            },
            "error_changes_vs_baseline": error_changes(self),
        }


def _file_text(case: Case, cache: dict[tuple[str, str], str]) -> str:
    key = (case.workspace, case.file)
    if key not in cache:
        try:
            cache[key] = (Path(case.workspace) / case.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {case.file} in {case.workspace}: {exc}") from exc
    return cache[key]


def score_run(
    cases: Sequence[Case],
    configs: Sequence[RunConfig],
    settings: RunSettings,
    out_dir: Path,
    *,
    ks: tuple[int, ...] = (1,),
    jobs: int = 2,
    allow_partial: bool = False,
    compile_check: bool = True,
    progress: object | None = None,
) -> RunResult:
    """Score every configuration's generations in ``out_dir``.

    With ``allow_partial`` cases that lack a generation in some configuration are
    left out of every configuration (counted in ``RunResult.skipped``). Without
    ``compile_check`` no checker runs and CR is not reported. ``progress``: a bar
    with ``update(n)`` for the checked files.
    """
    texts: dict[tuple[str, str], str] = {}
    all_gens = {cfg.name: read_generations(out_dir / f"gen-{cfg.name}.jsonl") for cfg in configs}
    total = len(cases)
    if allow_partial:
        cases = [
            c for c in cases
            if all((c.id, s) in g for g in all_gens.values() for s in range(settings.n))
        ]
        if not cases:
            raise ConfigError(f"no case has generations in every configuration under {out_dir}")
    labels = {c.id: _labels(c, _file_text(c, texts)) for c in cases}
    items: list[CheckItem] = []
    partial: dict[str, list[tuple[Case, int, dict[str, Any], Any]]] = {}
    for cfg in configs:
        gens = all_gens[cfg.name]
        rows = []
        for case in cases:
            text = _file_text(case, texts)
            method_end = int(case.extra.get("method_end", case.suffix_start))
            for s in range(settings.n):
                g = gens.get((case.id, s))
                if g is None:
                    raise ConfigError(f"{cfg.name}: no generation for case {case.id} sample {s} (run without --score-only)")
                ended = int(g.get("tokens", 0)) < settings.max_new_tokens
                cut = cut_method(g.get("completion", ""), case.extra["stop"], ended=ended)
                completed = text[: case.prefix_end] + cut.text + text[method_end:]
                key = f"{cfg.name}|{case.id}|{s}"
                items.append(CheckItem(key, str(case.extra["language"]), Path(case.workspace), case.file, text, completed))
                rows.append((case, s, g, cut))
        partial[cfg.name] = rows
    if compile_check:
        checked = check_items(items, jobs=jobs, progress=progress)
    else:
        checked = {it.key: CheckResult(it.key, None, note="not checked") for it in items}
    summaries: list[ConfigSummary] = []
    samples: dict[str, list[SampleScore]] = {}
    per_case: dict[str, dict[str, dict[str, float]]] = {}
    language = str(cases[0].extra["language"])
    for cfg in configs:
        scored: list[SampleScore] = []
        for case, s, g, cut in partial[cfg.name]:
            target = str(case.extra["target"])
            lang = str(case.extra["language"])
            res = checked[f"{cfg.name}|{case.id}|{s}"]
            compiles = res.ok if res.ok is None or cut.finished else False  # truncated: fails CR
            scored.append(
                SampleScore(
                    case.id, s, compiles, nim(cut.text, target, lang), ism(cut.text, target, lang),
                    pm(cut.text, target, lang), cut.finished, int(g.get("tokens", 0)), res.errors, res.unknown,
                )
            )
        samples[cfg.name] = scored
        summary, values = _summarize(cfg.name, scored, partial[cfg.name], settings, ks, labels)
        summaries.append(summary)
        per_case[cfg.name] = values
    names = [c.name for c in configs]
    baseline = "plain" if "plain" in names else names[0]
    comparisons = {
        f"{a} vs {b}": {m: compare(m, b, per_case[b][m], v) for m, v in per_case[a].items() if m in per_case[b]}
        for a, b in comparison_pairs(names, baseline)
    }
    return RunResult(asdict(settings), ks, summaries, samples, language, total - len(cases), baseline,
                     per_case, comparisons)


def comparison_pairs(names: Sequence[str], baseline: str) -> list[tuple[str, str]]:
    """(configuration, reference) pairs a report compares: each with the baseline, a
    healed monitor configuration with healing alone (the monitor's own effect), and
    each added mechanism (``mgd+X``, ``default``) with today's monitors (``mgd``)."""
    pairs = [(n, baseline) for n in names if n != baseline]
    if "mgd+heal" in names and "heal" in names and baseline != "heal":
        pairs.append(("mgd+heal", "heal"))
    if "mgd" in names and baseline != "mgd":
        pairs += [(n, "mgd") for n in names if (n.startswith("mgd+") or n == "default") and (n, "mgd") not in pairs]
    return pairs


def _summarize(
    name: str, scored: Sequence[SampleScore], rows: Sequence[tuple[Case, int, dict[str, Any], Any]],
    settings: RunSettings, ks: tuple[int, ...], labels: dict[str, dict[str, str]],
) -> tuple[ConfigSummary, dict[str, dict[str, float]]]:
    by_case: dict[str, list[SampleScore]] = {}
    for sc in scored:
        by_case.setdefault(sc.case, []).append(sc)
    summary = ConfigSummary(name, len(by_case), 0)
    cr_cases = {c: v for c, v in by_case.items() if all(x.compiles is not None for x in v)}
    summary.cr_cases = len(cr_cases)
    n = settings.n
    values: dict[str, dict[str, float]] = {}
    for k in ks:
        if cr_cases:
            values[f"CR@{k}"] = {c: pass_at_k(n, sum(bool(x.compiles) for x in v), k) for c, v in cr_cases.items()}
        values[f"NIM@{k}"] = {c: pass_at_k(n, sum(x.nim for x in v), k) for c, v in by_case.items()}
        values[f"ISM@{k}"] = {c: expected_max_at_k([x.ism for x in v], k) for c, v in by_case.items()}
        values[f"PM@{k}"] = {c: expected_max_at_k([x.pm for x in v], k) for c, v in by_case.items()}
    summary.scores = {m: _mean(v.values()) for m, v in values.items()}
    summary.nim_splits = _nim_splits(by_case, labels)
    summary.finished_rate = _mean(float(x.finished) for x in scored)
    summary.truncated = sum(1 for x in scored if not x.finished)
    summary.unknown = sum(1 for x in scored if x.unknown)
    summary.tokens = sum(x.tokens for x in scored)
    # elapsed_s of a result is its batch's wall time, shared by the batch's rows.
    wall = sum(float(g.get("elapsed_s", 0.0)) for _, _, g, _ in rows) / max(1, settings.batch_size)
    summary.tokens_per_s = summary.tokens / wall if wall > 0 else 0.0
    for key in _STAT_KEYS:
        summary.stats[key] = float(sum(float(g.get("stats", {}).get(key, 0)) for _, _, g, _ in rows))
    summary.stats["lsp_ms"] = float(sum(float(g.get("stats", {}).get("lsp_ms", 0.0)) for _, _, g, _ in rows))
    # generations whose triggers never constrained a step (every lookup failed open)
    summary.stats["unconstrained"] = float(sum(
        1 for _, _, g, _ in rows
        if g.get("stats", {}).get("triggers", 0) and not g.get("stats", {}).get("constrained_steps", 0)
    ))
    checked = [x for x in scored if x.compiles is not None]
    summary.error_samples = {k: sum(1 for x in checked if k in x.error_kinds) for k in ERROR_CLASSES}
    totals = Counter(e.kind for x in checked for e in x.errors)
    summary.error_totals = {k: totals.get(k, 0) for k in ERROR_CLASSES}
    return summary, values


def error_changes(result: RunResult) -> dict[str, dict[str, dict[str, Any]]]:
    """Per configuration and error class, against the baseline (samples paired by case):
    ``removed`` (the baseline's completion had that class, this one's not), ``added``
    (the reverse), and for the removed ones, the classes this configuration has instead
    (``removed_now``; ``none`` when its completion checks); ``delta``: the change in the share
    of files with that class, in points, and ``ci95`` its paired bootstrap 95% CI."""
    from mgd.evaluation.stats import paired_bootstrap_ci

    base = {(x.case, x.sample): x for x in result.samples.get(result.baseline or "", []) if x.compiles is not None}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for cfg, rows in result.samples.items():
        if cfg == result.baseline or not base:
            continue
        per: dict[str, dict[str, Any]] = {}
        for kind in ERROR_CLASSES:
            removed = added = 0
            now: Counter[str] = Counter()
            before: list[float] = []
            after: list[float] = []
            for x in rows:
                b = base.get((x.case, x.sample))
                if b is None or x.compiles is None:
                    continue
                had, has = kind in b.error_kinds, kind in x.error_kinds
                before.append(100.0 * had)
                after.append(100.0 * has)
                if had and not has:
                    removed += 1
                    now.update(x.error_kinds or {"none"})
                elif has and not had:
                    added += 1
            lo, hi = paired_bootstrap_ci(before, after) if before else (0.0, 0.0)
            delta = (added - removed) * 100.0 / len(before) if before else 0.0
            per[kind] = {"removed": removed, "added": added, "removed_now": dict(sorted(now.items())),
                         "delta": round(delta, 2), "ci95": [round(lo, 2), round(hi, 2)]}
        out[cfg] = per
    return out


def _labels(case: Case, text: str) -> dict[str, str]:
    """The ground truth's properties that NIM is split by."""
    target, lang = str(case.extra["target"]), str(case.extra["language"])
    first = identifiers(target, lang)[:1]
    site = definition_site(text[: case.prefix_end], target, lang)
    return {"name": name_kind(first[0]) if first else "none", "site": "definition" if site else "use"}


def _nim_splits(
    by_case: dict[str, list[SampleScore]], labels: dict[str, dict[str, str]]
) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for split in ("name", "site"):
        groups: dict[str, list[list[SampleScore]]] = {}
        for cid, v in by_case.items():
            groups.setdefault(labels[cid][split], []).append(v)
        out[split] = {
            label: {"cases": float(len(g)), "NIM@1": _mean(_mean(float(x.nim) for x in v) for v in g)}
            for label, g in sorted(groups.items())
        }
    return out


def _mean(values: Any) -> float:
    vals = list(values)
    return sum(vals) / len(vals) if vals else 0.0


def dump_samples(result: RunResult, path: Path) -> None:
    """Every scored sample as JSONL (for digging into failures), gzipped when ``path`` ends in ``.gz``
    (with no timestamp in the header, so the same run gives the same bytes)."""
    raw = gzip.GzipFile(path, "wb", mtime=0) if path.suffix == ".gz" else path.open("wb")
    with raw, io.TextIOWrapper(raw, encoding="utf-8") as fh:
        for cfg, rows in result.samples.items():
            for r in rows:
                fh.write(json.dumps({"config": cfg, **r.to_json()}, ensure_ascii=False) + "\n")
