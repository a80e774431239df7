"""Reports of a scored run: JSON, markdown tables and a matplotlib plot.

``write_report`` writes ``<dir>/<name>.json`` (settings, the exact command line,
the training-data exclusion, the summary per configuration, the paired
comparisons with the baseline and the error-class changes), ``<dir>/<name>.md``
(the same as tables) and ``<dir>/<name>.png`` (bars per metric with the paired
95% CI of each configuration's difference; skipped with a note when matplotlib is
not installed), plus ``<dir>/<name>-samples.jsonl.gz`` (every scored sample; ``zcat`` reads it).
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from mgd.evaluation.diagnostics import ERROR_CLASSES
from mgd.evaluation.scoring import RunResult, dump_samples

__all__ = ["error_table", "markdown_table", "paired_table", "write_report"]

_SPLITS = {
    "name": "the ground truth's first identifier (public / _private / __dunder__)",
    "site": "site (definition: an attribute assignment at statement start, e.g. `self.x = ...`)",
}


def markdown_table(result: RunResult) -> str:
    """One row per configuration: scores in percent, truncated samples (the budget ended
    them before their method: CR fails them) and unknown verdicts (the checker did not
    vouch: CR fails them), speed and monitor counters; NIM splits."""
    keys = list(result.summaries[0].scores) if result.summaries else []
    head = [
        "config", "cases", *keys, "truncated", "unknown", "tok/s", "triggers", "constrained", "fallbacks", "failed lookups",
        "unconstrained",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in result.summaries:
        row = [s.config, f"{s.cases} (CR: {s.cr_cases})"]
        row += [f"{100 * s.scores[k]:.1f}" for k in keys]
        row += [
            f"{s.truncated} ({100 * (1 - s.finished_rate):.1f}%)",
            str(s.unknown),
            f"{s.tokens_per_s:.1f}",
            f"{s.stats.get('triggers', 0):.0f}",
            f"{s.stats.get('constrained_steps', 0):.0f}",
            f"{s.stats.get('fallbacks', 0):.0f}",
            f"{s.stats.get('failed_lookups', 0):.0f}",
            f"{s.stats.get('unconstrained', 0):.0f}",
        ]
        lines.append("| " + " | ".join(row) + " |")
    for split, title in _SPLITS.items():
        labels = sorted({k for s in result.summaries for k in s.nim_splits.get(split, {})})
        if not labels:
            continue
        lines += ["", f"NIM@1 by {title} (cases in parentheses):", ""]
        lines.append("| config | " + " | ".join(labels) + " |")
        lines.append("|" + "---|" * (len(labels) + 1))
        for s in result.summaries:
            cells = []
            for label in labels:
                v = s.nim_splits.get(split, {}).get(label)
                cells.append(f"{100 * v['NIM@1']:.1f} ({v['cases']:.0f})" if v else "-")
            lines.append(f"| {s.config} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def paired_table(result: RunResult) -> str:
    """Per compared pair and metric: the difference with its paired bootstrap 95% CI,
    fixed/broken cases and the exact McNemar p (binary metrics)."""
    if not result.comparisons:
        return ""
    lines = [
        "Paired comparisons (same cases; Δ in points with its 95% CI by paired bootstrap; fixed/broken = "
        "cases right in the configuration and wrong in the reference / the reverse; p = exact McNemar):",
        "",
        "| configuration vs reference | metric | cases | reference | configuration | Δ [95% CI] | fixed | broken | p |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for pair, by_metric in result.comparisons.items():
        for metric, c in by_metric.items():
            fb = (str(c.fixed), str(c.broken), f"{c.p_mcnemar:.2g}") if c.p_mcnemar is not None else ("-", "-", "-")
            lines.append(f"| {pair} | {metric} | {c.cases} | {c.base_mean:.1f} | {c.mean:.1f} | {c.ci_text()} | "
                         + " | ".join(fb) + " |")
    return "\n".join(lines) + "\n"


def error_table(result: RunResult) -> str:
    """Samples whose completed file adds an error of each class, per configuration
    (change vs the baseline in parentheses), and what the removed ones became."""
    if not any(s.cr_cases for s in result.summaries):
        return ""
    base = next((s for s in result.summaries if s.config == result.baseline), None)
    lines = [
        "Completed files that add at least one error of a class (strict CR; a file may add several):",
        "",
        "| config | checked | " + " | ".join(k.replace("_", " ") for k in ERROR_CLASSES) + " |",
        "|" + "---|" * (len(ERROR_CLASSES) + 2),
    ]
    for s in result.summaries:
        cells = []
        for k in ERROR_CLASSES:
            v = s.error_samples.get(k, 0)
            if base is not None and s is not base:
                cells.append(f"{v} ({v - base.error_samples.get(k, 0):+d})")
            else:
                cells.append(str(v))
        lines.append(f"| {s.config} | {s.cr_cases} | " + " | ".join(cells) + " |")
    changes = result.to_json()["error_changes_vs_baseline"]
    if changes:
        lines += ["", f"Share of files with each error class, paired vs {result.baseline}: Δ points [95% CI] "
                  "(an interval entirely above 0: the configuration adds that class):", "",
                  "| config | " + " | ".join(k.replace("_", " ") for k in ERROR_CLASSES) + " |",
                  "|" + "---|" * (len(ERROR_CLASSES) + 1)]
        for cfg, per in changes.items():
            cells = []
            for k in ERROR_CLASSES:
                c = per.get(k, {})
                lo, hi = c.get("ci95", [0.0, 0.0])
                cells.append(f"{c.get('delta', 0.0):+.1f} [{lo:+.1f}, {hi:+.1f}]")
            lines.append(f"| {cfg} | " + " | ".join(cells) + " |")
    notes = []
    for cfg, per in changes.items():
        for kind, c in per.items():
            if c["removed"]:
                now = ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in c["removed_now"].items())
                notes.append(f"- {cfg}: {c['removed']} files lost their {kind.replace('_', ' ')} error "
                             f"vs {result.baseline} (now: {now}); {c['added']} gained one")
    if notes:
        lines += ["", *notes]
    return "\n".join(lines) + "\n"


def _exclusion_text(result: RunResult) -> str:
    ex = result.meta.get("training_exclusion")
    if not ex:
        return ""
    if not ex.get("applied"):
        return f"Training-data exclusion: **off** ({ex.get('reason', 'not requested')}).\n"
    return (f"Training-data exclusion: {ex.get('list')} ({ex.get('paths')} paths, matched by path suffix): "
            f"{ex.get('removed_cases', 0)} cases removed at build, {ex.get('removed_at_run', 0)} at run.\n")


def _plot(result: RunResult, path: Path, title: str) -> str | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install 'mgd[eval]'): no plot"
    keys = list(result.summaries[0].scores)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(keys)), 3.5))
    width = 0.8 / max(1, len(result.summaries))
    for i, s in enumerate(result.summaries):
        xs = [j + i * width for j in range(len(keys))]
        ys = [100 * s.scores[k] for k in keys]
        cmp = result.comparisons.get(f"{s.config} vs {result.baseline}", {})
        err = None
        if cmp:  # the paired 95% CI of the difference from the baseline, around this bar
            err = [[max(0.0, cmp[k].delta - cmp[k].ci_low) if k in cmp else 0.0 for k in keys],
                   [max(0.0, cmp[k].ci_high - cmp[k].delta) if k in cmp else 0.0 for k in keys]]
        ax.bar(xs, ys, width, label=s.config, yerr=err, capsize=2)
    ax.set_xticks([j + width * (len(result.summaries) - 1) / 2 for j in range(len(keys))], keys)
    ax.set_ylabel("%")
    ax.set_ylim(0, 100)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def write_report(result: RunResult, out_dir: Path, *, name: str, command: str) -> list[Path]:
    """Write JSON, markdown, plot and samples; returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "command": command,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        **result.to_json(),
    }
    title = f"{name}: {result.language}, {result.summaries[0].cases if result.summaries else 0} cases"
    png = out_dir / f"{name}.png"
    note = _plot(result, png, title)
    if note:
        payload["plot"] = note
    js = out_dir / f"{name}.json"
    js.write_text(json.dumps(payload, indent=2) + "\n")
    md = out_dir / f"{name}.md"
    parts = [f"# {title}\n", f"`{command}`\n", _exclusion_text(result), markdown_table(result),
             paired_table(result), error_table(result)]
    md.write_text("\n".join(p for p in parts if p))
    samples = out_dir / f"{name}-samples.jsonl.gz"
    dump_samples(result, samples)
    return [js, md, samples] + ([png] if note is None else [])
