"""Reports of a scored run: JSON, a markdown table and matplotlib plots.

``write_report`` writes ``<dir>/<name>.json`` (settings, the exact command line,
the summary per configuration and the monitor's gains over ``plain``),
``<dir>/<name>.md`` (a table) and ``<dir>/<name>.png`` (bars per metric; skipped
with a note when matplotlib is not installed), plus ``<dir>/<name>-samples.jsonl``.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

from mgd.evaluation.scoring import ConfigSummary, RunResult, dump_samples

__all__ = ["gains", "markdown_table", "nim_changes", "write_report"]


def gains(summaries: list[ConfigSummary], base: str = "plain") -> dict[str, dict[str, float]]:
    """Per non-base config: relative CR change (%) and NIM/ISM/PM change (points), per k."""
    ref = next((s for s in summaries if s.config == base), None)
    out: dict[str, dict[str, float]] = {}
    if ref is None:
        return out
    for s in summaries:
        if s.config == base:
            continue
        g: dict[str, float] = {}
        for key, value in s.scores.items():
            b = ref.scores.get(key)
            if b is None:
                continue
            if key.startswith("CR@"):
                g[f"{key} relative %"] = round(100.0 * (value - b) / b, 2) if b > 0 else float("nan")
            g[f"{key} points"] = round(100.0 * (value - b), 2)
        out[s.config] = g
    return out


def nim_changes(result: RunResult, base: str = "plain") -> dict[str, dict[str, int]]:
    """Per non-base config, samples whose NIM differs from the base's: ``fixed`` / ``broken``."""
    ref = {(x.case, x.sample): x.nim for x in result.samples.get(base, [])}
    out: dict[str, dict[str, int]] = {}
    if not ref:
        return out
    for cfg, rows in result.samples.items():
        if cfg == base:
            continue
        pairs = [(ref[(x.case, x.sample)], x.nim) for x in rows if (x.case, x.sample) in ref]
        out[cfg] = {
            "fixed": sum(1 for b, x in pairs if x and not b),
            "broken": sum(1 for b, x in pairs if b and not x),
        }
    return out


_SPLITS = {
    "name": "the ground truth's first identifier (public / _private / __dunder__)",
    "site": "site (definition: an attribute assignment at statement start, e.g. `self.x = ...`)",
}


def markdown_table(result: RunResult) -> str:
    """One row per configuration: scores in percent, speed and monitor counters."""
    keys = list(result.summaries[0].scores) if result.summaries else []
    head = [
        "config", "cases", *keys, "finished", "tok/s", "triggers", "constrained", "fallbacks", "failed lookups",
        "unconstrained",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in result.summaries:
        row = [s.config, f"{s.cases} (CR: {s.cr_cases})"]
        row += [f"{100 * s.scores[k]:.1f}" for k in keys]
        row += [
            f"{100 * s.finished_rate:.0f}%",
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
        ax.bar(xs, [100 * s.scores[k] for k in keys], width, label=s.config)
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
        "gains_vs_plain": gains(result.summaries),
        "nim_changes_vs_plain": nim_changes(result),
    }
    title = f"{name}: {result.language}, {result.summaries[0].cases if result.summaries else 0} cases"
    png = out_dir / f"{name}.png"
    note = _plot(result, png, title)
    if note:
        payload["plot"] = note
    js = out_dir / f"{name}.json"
    js.write_text(json.dumps(payload, indent=2) + "\n")
    md = out_dir / f"{name}.md"
    md.write_text(
        f"# {title}\n\n`{command}`\n\n{markdown_table(result)}\n"
        f"Gains over plain: `{json.dumps(payload['gains_vs_plain'])}`\n\n"
        f"NIM changes against plain (samples): `{json.dumps(payload['nim_changes_vs_plain'])}`\n"
    )
    samples = out_dir / f"{name}-samples.jsonl"
    dump_samples(result, samples)
    return [js, md, samples] + ([png] if note is None else [])
