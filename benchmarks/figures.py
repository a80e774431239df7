"""Every figure the README and the docs cite from a committed result file, written from that file.

A cited figure sits in a marked region of README.md or docs/*.md::

    <!-- fig:NAME -->text written from the file<!-- /fig -->

and :data:`FIGURES` says how NAME's text is made from which file under
``benchmarks/results/``. ``python benchmarks/figures.py`` (``make figures``) rewrites every
region; ``--check`` changes nothing and exits 1 naming each region whose text differs from
its file (``tests/evaluation/test_figures.py`` runs it in ``make test``). A number typed by
hand into a region is overwritten; a region with an unknown NAME is an error.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from mgd.engines.speculative.shape import COST_PROFILES  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
REGION = re.compile(r"<!-- fig:(?P<name>[\w.-]+) -->(?P<body>.*?)<!-- /fig -->", re.DOTALL)
#: What a report history holds (``make report``, benchmarks/report.py).
HISTORY = RESULTS / "eval" / "report-history.jsonl"
#: H200 forward time (ms) of one token, anchors.md's tables (mgd/engines/speculative/shape.py).
H200_T1_MS = {name: times[1] for name, times in COST_PROFILES.items()}
#: The error classes the headline names, in its order.
HEADLINE_CLASSES = ("unknown_member", "wrong_call", "syntax", "incompatible_types")


@cache
def load(rel: str) -> Any:
    return json.loads((RESULTS / rel).read_text(encoding="utf-8"))


# -- speed ---------------------------------------------------------------------------------
def overhead_non_trigger() -> str:
    s = load("monitor_overhead.json")["steps"]["non_trigger"]
    return f"mean {s['mean_us']:.2f} µs, p99 {s['p99_us']:.1f} µs"


def overhead_trigger() -> str:
    return f"p50 {load('monitor_overhead.json')['steps']['trigger']['p50_us']:.1f} µs"


def _mask(i: int) -> dict[str, Any]:
    return load("mask_build.json")["results"][i]


def mask_16k() -> str:
    m = _mask(0)["cold_mask"]
    return f"p50 {m['p50_us']:.1f} µs, p99 {m['p99_us']:.1f} µs"


def mask_100k() -> str:
    r = _mask(1)
    m = r["cold_mask"]
    return (f"p50 {m['p50_us']:.1f} µs, p99 {m['p99_us']:.1f} µs (≤ 0.5 ms / ≤ 2 ms); index build "
            f"{statistics.median(r['index_build_s']):.1f} s (median of {len(r['index_build_s'])})")


# -- speculative decoding ------------------------------------------------------------------------
def with_host(row: dict[str, Any], profile: str) -> float:
    """The projected speedup with the decoder's measured host time per verification added to
    each verification forward: from ``P = steps * t1 / sum t(q)`` and ``tau = steps /
    verifications``, ``1 / (1/P + host / (tau * t1))``. Plain decoding's own host time per
    token is taken as 0 (not measured), which favours plain."""
    p = row["projected_speedup"][profile]
    host = row.get("host_ms_per_verification") or 0.0
    return 1.0 / (1.0 / p + host / (row["tau"] * H200_T1_MS[profile]))


def _spec(workload: str, engine: str, file: str = "speculative_tau.json") -> dict[str, Any]:
    return load(file)[workload]["engines"][engine]


def spec_tau() -> str:
    c, e = _spec("completion", "default@h200"), _spec("edit", "default@h200")
    return f"τ **{c['tau']:.2f}** on completions and **{e['tau']:.2f}** on edits"


def spec_projection() -> str:
    c, e = _spec("completion", "default@h200"), _spec("edit", "default@h200")
    pc, pe = c["projected_speedup"], e["projected_speedup"]
    return (f"forward passes alone project an H200 speedup of {pc['h200-27m']:.1f}x / {pe['h200-27m']:.1f}x "
            f"(anchors.md's 27M forward times; {pc['h200-1.5b']:.1f}x / {pe['h200-1.5b']:.1f}x with its 1.5B row), "
            f"but the decoder's host time per verification (drafting, pruning, the walk: "
            f"{c['host_ms_per_verification']:.1f} ms / {e['host_ms_per_verification']:.1f} ms, measured on this "
            f"CPU) dwarfs a 6 ms forward: with it the projection is **{with_host(c, 'h200-27m'):.2f}x** / "
            f"**{with_host(e, 'h200-27m'):.2f}x** (27M), {with_host(c, 'h200-1.5b'):.2f}x / "
            f"{with_host(e, 'h200-1.5b'):.2f}x (1.5B), {with_host(c, 'h200-7b'):.2f}x / "
            f"{with_host(e, 'h200-7b'):.2f}x (7B)")


def spec_tau_table() -> str:
    head = ("| workload | engine (`@h200`: trees shaped with the 27M H200 table, budget 128) | τ | mean tree tokens "
            "| projected H200 speedup, forwards only: 27M / 1.5B / 7B rows | host ms per verification "
            "| projected with host time: 27M / 1.5B / 7B |\n|---|---|---|---|---|---|---|")
    names = {"monitor@h200": "`monitor`", "suffix@h200": "`suffix`", "ngram@h200": "`ngram`",
             "recycle@h200": "`recycle`", "default@h200": "**default** (`monitor,suffix,ngram,recycle`)",
             "fixed16": "`fixed16` (`monitor,ngram,recycle:16:flat`, the tree before this work)"}
    lines = [head]
    for w in ("completion", "edit"):
        first = True
        for key, label in names.items():
            r = _spec(w, key)
            p = r["projected_speedup"]
            fwd = " / ".join(f"{p[k]:.2f}x" for k in H200_T1_MS)
            host = " / ".join(f"{with_host(r, k):.2f}x" for k in H200_T1_MS)
            bold = key == "default@h200"
            tau = f"**{r['tau']:.2f}**" if bold else f"{r['tau']:.2f}"
            lines.append(f"| {w if first else ''} | {label} | {tau} | {r['mean_tree_tokens']:.1f} | {fwd} | "
                         f"{r.get('host_ms_per_verification', 0):.1f} | {host} |")
            first = False
    return "\n" + "\n".join(lines) + "\n"


def spec_cpu() -> str:
    f = "speculative_cpu.json"
    c, e = _spec("completion", "default@device", f), _spec("edit", "default@device", f)
    oc, oe = _spec("completion", "fixed16", f), _spec("edit", "fixed16", f)
    return (f"**{c['speedup_vs_plain']:.2f}x** on completions with monitors and **{e['speedup_vs_plain']:.2f}x** "
            f"on edits (the old fixed 16-node tree: {oc['speedup_vs_plain']:.2f}x / {oe['speedup_vs_plain']:.2f}x")


def spec_cpu_table() -> str:
    f = "speculative_cpu.json"
    names = {"plain": "plain", "default@device": "**default** (`monitor,suffix,ngram,recycle:128`, sized for this CPU)",
             "fixed16": "`fixed16`"}
    lines = ["| workload | engine | tokens/s | speedup vs plain | τ | mean tree tokens |", "|---|---|---|---|---|---|"]
    for w in ("completion", "edit"):
        first = True
        for key, label in names.items():
            r = _spec(w, key, f)
            sp = f"{r['speedup_vs_plain']:.2f}x"
            lines.append(f"| {w if first else ''} | {label if w == 'completion' or key != 'default@device' else '**default**'} "
                         f"| {r['tokens_per_s']:.1f} | {f'**{sp}**' if key == 'default@device' else sp} | "
                         f"{r['tau']:.2f} | {r['mean_tree_tokens']:.1f} |")
            first = False
    return "\n" + "\n".join(lines) + "\n"


# -- default speed ---------------------------------------------------------------------------
def _speed(file: str) -> str:
    d = load(file)
    lo, hi = d["ratio_per_case_ci95"]
    return f"pooled **{d['ratio_pooled']:.2f}x**, per-case mean {d['ratio_per_case_mean']:.2f} [95% CI {lo:.2f}, {hi:.2f}]"


# -- evaluation ------------------------------------------------------------------------------
#: The 0.2 report runs, cited until ``make report`` has run a split (then its newest run).
EVAL_RUNS_0_2 = {"python": "eval/python/python.json", "java": "eval/java/java.json"}


def _history() -> list[dict[str, Any]]:
    if not HISTORY.is_file():
        return []
    return [json.loads(line) for line in HISTORY.read_text(encoding="utf-8").splitlines() if line.strip()]


def eval_runs() -> dict[str, str]:
    """language -> the report JSON the README cites: the newest `make report` run of its split."""
    runs = dict(EVAL_RUNS_0_2)
    for rec in _history():
        out = Path(rec["out"]).relative_to("benchmarks/results")
        runs[rec["split"]] = str(out / f"{rec['split']}.json")
    return runs
_EVAL_LABELS = {"mgd": "mgd (dereference alone)", "default": "**default** (what `mgd generate` does)"}


def _summaries(lang: str) -> dict[str, dict[str, Any]]:
    return {s["config"]: s for s in load(eval_runs()[lang])["summaries"]}


def _truncated(s: dict[str, Any]) -> str:
    n = s.get("truncated")
    share = 100 * (1 - s.get("finished_rate", 1.0))
    return f"{share:.1f}%" if n is None else f"{share:.1f}% ({n})"


def eval_table() -> str:
    lines = ["| run | config | CR@1 | NIM@1 | ISM@1 | PM@1 | truncated | unknown verdicts |",
             "|---|---|---|---|---|---|---|---|"]
    titles = {"python": "Python", "java": "Java"}
    for lang in eval_runs():
        d = load(eval_runs()[lang])
        sums = _summaries(lang)
        first = True
        for name, s in sums.items():
            bold = name == "default"
            cells = [f"{100 * s['scores'][k]:.1f}" for k in ("CR@1", "NIM@1", "ISM@1", "PM@1")]
            if bold:
                cells = [f"**{c}**" for c in cells]
            unknown = s.get("unknown")
            run = (f"{titles[lang]}: {s['cases']} cases, {d['settings']['max_new_tokens']} new tokens"
                   f"{' (chosen budget)' if d['settings'].get('budget') else ''}" if first else "")
            lines.append(f"| {run} | {_EVAL_LABELS.get(name, name)} | " + " | ".join(cells)
                         + f" | {_truncated(s)} | {'-' if unknown is None else unknown} |")
            first = False
    return "\n" + "\n".join(lines) + "\n"


def _delta(c: dict[str, Any], bold: bool = True) -> str:
    d = f"{c['delta']:+.1f} [{c['ci_low']:+.1f}, {c['ci_high']:+.1f}]"
    return f"**{d}**" if bold else d


def eval_headline() -> str:
    lines = ["| language | CR@1 | NIM@1 | files with an error of a class, Δ points [95% CI] |", "|---|---|---|---|"]
    for lang, title in (("python", "Python"), ("java", "Java")):
        d = load(eval_runs()[lang])
        pair = d["paired"].get("default vs plain")
        if pair is None:
            continue
        cr, nim = pair["CR@1"], pair["NIM@1"]
        rel = 100 * (cr["mean"] / cr["base_mean"] - 1) if cr["base_mean"] else 0.0
        classes = d["error_changes_vs_baseline"]["default"]
        cls = "; ".join(f"{k.replace('_', ' ')} {classes[k]['delta']:+.1f} [{classes[k]['ci95'][0]:+.1f}, "
                        f"{classes[k]['ci95'][1]:+.1f}]" for k in HEADLINE_CLASSES)
        lines.append(f"| {title} ({cr['cases']}) | {cr['base_mean']:.1f} → {cr['mean']:.1f}: {_delta(cr)} "
                     f"({cr['fixed']} / {cr['broken']}, p {cr['p_mcnemar']:.2g}), {rel:+.0f}% relative | "
                     f"{nim['base_mean']:.1f} → {nim['mean']:.1f}: {_delta(nim)} ({nim['fixed']} / {nim['broken']}) "
                     f"| {cls.replace('-', '−')} |")
    return "\n" + "\n".join(lines) + "\n"


def _strict_cr(rel: str) -> dict[str, dict[str, float]]:
    """config -> case -> CR with a truncated completion counted as a failure, from a run's
    committed samples (``<name>-samples.jsonl.gz`` beside the report ``rel``)."""
    import gzip

    path = RESULTS / rel
    samples = path.with_name(path.stem + "-samples.jsonl.gz")
    out: dict[str, dict[str, float]] = {}
    with gzip.open(samples, "rt", encoding="utf-8") as fh:
        for line in fh:
            x = json.loads(line)
            out.setdefault(x["config"], {})[x["case"]] = float(bool(x["compiles"]) and bool(x["finished"]))
    return out


def eval_truncation() -> str:
    """What the 0.2 headline becomes when a completion the budget cut counts as a failure."""
    from mgd.evaluation.stats import compare

    parts = []
    for lang, title in (("python", "Python"), ("java", "Java")):
        cr = _strict_cr(EVAL_RUNS_0_2[lang])
        c = compare("CR@1", "plain", cr["plain"], cr["default"])
        parts.append(f"{title} {c.base_mean:.1f} → {c.mean:.1f}: {c.delta:+.1f} [{c.ci_low:+.1f}, {c.ci_high:+.1f}] "
                     f"({c.fixed} / {c.broken}, McNemar p {c.p_mcnemar:.2g})")
    return "; ".join(parts)


def eval_budget() -> str:
    """Each report split's token budget as its newest run chose it (``make budget``)."""
    newest = {rec["split"]: rec for rec in _history()}
    if not newest:
        return "no `make report` run is recorded yet"
    from mgd.evaluation.budget import BudgetChoice

    parts = []
    for split, rec in sorted(newest.items()):
        b = rec["budget"]
        choice = BudgetChoice(**{k: b[k] for k in ("tokens", "share", "completions", "finished", "source")},
                              basis=b.get("basis", "all"), never=b.get("never", 0))
        parts.append(f"{split}: {choice.describe().split(' (')[0] if choice.basis == 'all' else _short(choice)}")
    return "; ".join(parts)


def _short(choice: Any) -> str:
    ended = choice.completions - choice.never
    generous = re.search(r"run with (\d+) tokens", choice.source)
    return (f"{choice.tokens} tokens, within which {choice.finished} of the {ended} development completions that "
            f"end their method do ({100 * choice.finished / max(1, ended):.1f}%); {choice.never} of "
            f"{choice.completions} ({100 * choice.never / max(1, choice.completions):.0f}%) never ended within "
            f"{generous.group(1) if generous else 'the generous budget of'} tokens (the model repeats a line), so no "
            "budget lets 95% of all finish")


def default_parity() -> str:
    d = load("default_parity_python.json")
    return (f"{d['identical']} of {d['cases']} completions identical, {d['same_method']} of {d['cases']} the same up "
            f"to the method's end ({Path(d['cases_file']).name})")


def strict_agreement() -> str:
    d = load("strict_judge_python.json")
    t = d["total"]
    per = "; ".join(f"{k} {v['agree']}/{v['samples']}" for k, v in d["per_config"].items())
    return (f"the harness and the independent judge agree on {t['agree']} of {t['samples']} samples "
            f"({100 * d['agreement']:.1f}%: {per}); samples cut by the budget marked compiling: "
            f"{t['cut_marked_compiling']}")


def report_runs() -> str:
    """How many times each report split has been run (``make report``'s history)."""
    counts: dict[str, list[str]] = {}
    for rec in _history():
        counts.setdefault(rec["split"], []).append(rec["date"][:10])
    if not counts:
        return "no `make report` run is recorded yet"
    return "; ".join(f"`{split}`: run {len(dates)} time{'s' if len(dates) > 1 else ''} ({', '.join(dates)})"
                     for split, dates in sorted(counts.items()))


def serve_load() -> str:
    """Guidance under load (benchmarks/serve_load.py): before (serve_load_before.json, main before
    this change), now with default settings (serve_load_default.json) and now with ``mgd serve
    --provisional`` (serve_load.json), and what limits them (the engine's totals: time per step
    in mgd's processor, waiting, the language server's latency per lookup)."""
    def one(d: dict[str, Any]) -> str:
        return (f"guided valid {d['guided']['valid_share']:.2f} (plain {d['plain']['valid_share']:.2f}), "
                f"tokens/s {d['throughput_ratio']:.2f}x plain, p95 {d['guided']['p95_ms'] / 1000:.1f} s")
    now = load("serve_load.json")
    u = now["unguided_steps"]
    t = now["engine"]["totals"]
    steps = t["apply_calls"] or 1
    waves = 2 * len({r["round"] for r in now["requests"]})  # plain waves
    plain_step = now["plain"]["wall_s"] * 1000 / (waves * 17)  # 16 tokens: a prefill and 15 decode steps, +1
    svc = now["engine"]["service_ms"]
    return (f"before: {one(load('serve_load_before.json'))}; now, default settings: "
            f"{one(load('serve_load_default.json'))}; now with `--provisional`: {one(now)}, first round (every "
            f"workspace unseen) {now['guided']['first_round_valid_share']:.2f}, {u['requests_with_any']}/"
            f"{now['responses_with_counts']} responses report unguided steps ({u['total']} in all). Limits "
            f"(`--provisional` run): mgd's processor {t['apply_ms'] / steps:.1f} ms per engine step, of which "
            f"{t['waited_ms'] / steps:.1f} ms waiting for lookups (a plain step: ~{plain_step:.0f} ms); jedi "
            f"{svc['p50']:.0f} ms per lookup (p50; p90 {svc['p90']:.0f} ms; {t['answered_lookups']} of "
            f"{t['lookups']} lookups answered before their request ended)")


# -- fill-in-the-middle -----------------------------------------------------------------------
def fim_layouts() -> str:
    """The target's log-loss per prompt layout (benchmarks/fim_layouts.py), per dev split."""
    d = load("fim_layouts.json")
    parts = []
    for split in d["splits"]:
        name = Path(split["cases"]).name.removesuffix("-cases.jsonl")
        rows = split["layouts"]
        cells = []
        for layout in ("left-to-right", "starcoder", "starcoder-spm"):
            r = rows.get(layout)
            if r is None:
                continue
            v = r["vs_left_to_right"]
            label = {"starcoder": "PSM", "starcoder-spm": "SPM"}.get(layout, layout)
            cell = f"{label} {r['loss_per_token']:.3f}"
            if v is not None:
                cell += (f" ({v['delta']:+.3f} [{v['ci_low']:+.3f}, {v['ci_high']:+.3f}], better on "
                         f"{v['better']}/{split['n']})")
            cells.append(cell)
        parts.append(f"{name} ({split['n']} cases): " + "; ".join(cells))
    return " — ".join(parts) + f"; `auto` takes {d['auto']}"


def _fim_cmp(c: dict[str, Any]) -> str:
    return (f"{c['delta']:+.1f} [{c['ci_low']:+.1f}, {c['ci_high']:+.1f}], {c['fixed']}/{c['broken']}, "
            f"p {c['p_mcnemar']:.2g}")


def fim_dev() -> str:
    """Left-to-right vs FIM prompts on the dev splits (benchmarks/fim_dev.py)."""
    d = load("fim_dev.json")["languages"]
    lines = ["| split | prompt | config | CR@1 | NIM@1 | truncated |", "|---|---|---|---|---|---|"]
    for lang, v in d.items():
        for name, r in v["rows"].items():
            layout, config = name.split("/")
            lines.append(f"| {lang} dev | {'FIM (auto)' if layout == 'auto' else 'left-to-right'} | {config} | "
                         f"{r['CR@1']:.1f} | {r['NIM@1']:.1f} | {r['truncated']} / {r['cases']} |")
    lines.append("")
    for lang, v in d.items():
        p = v["paired"]
        bits = []
        for key, label in (("off: default vs plain", "default vs plain, left-to-right"),
                           ("auto: default vs plain", "default vs plain, FIM"),
                           ("plain: auto vs off", "FIM vs left-to-right, plain"),
                           ("default: auto vs off", "FIM vs left-to-right, default")):
            if key in p:
                bits.append(f"{label}: CR {_fim_cmp(p[key]['CR@1'])}")
        lines.append(f"- {lang}: " + "; ".join(bits) + ".")
    return "\n" + "\n".join(lines) + "\n"


FIGURES: dict[str, Callable[[], str]] = {
    "serve-load": serve_load,
    "overhead-non-trigger": overhead_non_trigger,
    "overhead-trigger": overhead_trigger,
    "mask-16k": mask_16k,
    "mask-100k": mask_100k,
    "spec-tau": spec_tau,
    "spec-projection": spec_projection,
    "spec-tau-table": spec_tau_table,
    "spec-cpu": spec_cpu,
    "spec-cpu-table": spec_cpu_table,
    "speed-python": lambda: _speed("default_speed_python.json"),
    "speed-python-types": lambda: _speed("default_speed_python_types.json"),
    "speed-java": lambda: _speed("default_speed_java.json"),
    "eval-table": eval_table,
    "eval-headline": eval_headline,
    "eval-truncation": eval_truncation,
    "eval-budget": eval_budget,
    "default-parity": default_parity,
    "strict-agreement": strict_agreement,
    "report-runs": report_runs,
    "fim-layouts": fim_layouts,
    "fim-dev": fim_dev,
}


def documents(root: Path = ROOT) -> list[Path]:
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def update(text: str) -> tuple[str, list[str]]:
    """``text`` with every region rewritten, and the names of those whose text changed."""
    stale: list[str] = []

    def fill(m: re.Match[str]) -> str:
        name = m.group("name")
        if name not in FIGURES:
            raise SystemExit(f"unknown figure {name!r} (known: {', '.join(FIGURES)})")
        body = FIGURES[name]()
        if body != m.group("body"):
            stale.append(name)
        return f"<!-- fig:{name} -->{body}<!-- /fig -->"

    return REGION.sub(fill, text), stale


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a region differs from its file")
    args = ap.parse_args(argv)
    bad = 0
    for doc in documents():
        text = doc.read_text(encoding="utf-8")
        new, stale = update(text)
        for name in stale:
            print(f"{doc.relative_to(ROOT)}: fig:{name} differs from its result file", file=sys.stderr)
        bad += len(stale)
        if stale and not args.check:
            doc.write_text(new, encoding="utf-8")
    if args.check:
        return 1 if bad else 0
    print(f"{bad} figure(s) rewritten", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
