"""Tree speculative decoding vs plain greedy, side by side in one run: tau, CPU speedup, projected H200 speedup.

Workloads (held-out code: pure-Python wheels from ``HELD_OUT_PACKAGES`` whose files are
not in the model's ``training_files.txt.gz``, matched by path suffix), monitors on
(dereference, the real jedi language server), greedy:

* ``completion``: a file up to a member-access dot (sites sampled per package), the
  model writes ``--max-new-tokens`` tokens, as ``mgd generate`` does.
* ``edit``: a real function, then the start of an *edited copy*: its ``def`` line
  with the function and its first parameter renamed. No instruction: the model
  continues the copy (the context repeats with small changes).

Engines, each prompt through all of them back to back (order rotated per prompt;
an untimed plain run first has jedi analyse the file, the workspace's suffix index
is built then (its build time is reported apart), and the session's LSP request cache
is emptied before every timed run so no engine rides on another's answers):

* ``plain``: Hugging Face ``generate`` with the monitors.
* every draft source alone and ``default`` (what a bare ``--speculative`` means,
  ``DEFAULT_SPEC``), each in two shapes: ``@device`` sized per step for this device
  (measured cost curve: the CPU speedup) and ``@h200`` sized as on an H200
  (anchors.md's 27M table: tau at the GPU's tree size, and its projection).
* ``fixed16``: ``monitor,ngram,recycle:16:flat`` (the tree before adaptive sizing).

Reported per workload and engine: tokens/s and speedup vs plain (measured here),
``tau`` = mean tokens per verification forward ((tokens - 1) / tree forwards: the
prefill's first token is not counted), mean tree tokens, accepted drafts per source,
greedy mismatches (must be 0: every output is compared with plain's), and the
projected speedup ``(tokens - 1) * t(1) / sum of t(q)`` over the engine's verification
forwards of ``q`` tree tokens, with anchors.md's H200 tables (``h200-27m`` is this
model's shape; the 1.5B/7B rows assume the same acceptance) and with this CPU's
measured forward costs (``cpu_forward_only``, a check of the formula against the
measured speedup).

Usage::

    python benchmarks/speculative.py [--model PATH] [--device cpu|cuda] [--packages 8]
        [--completions-per-package 6] [--edits-per-package 2] [--max-new-tokens 48]

Writes ``benchmarks/results/speculative.json`` (``--out NAME`` to change the name).
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from transformers import DynamicCache  # noqa: E402

from benchmarks._common import (  # noqa: E402
    HELD_OUT_PACKAGES,
    default_model,
    fetch_package,
    held_out,
    training_paths,
    write_result,
)
from mgd.engines.generate import GenerateOptions, HFGenerator, Prompt  # noqa: E402
from mgd.engines.kvcache import cache_kwarg, crop_cache  # noqa: E402
from mgd.engines.speculative.decoder import DEFAULT_SPEC, SpecConfig  # noqa: E402
from mgd.engines.speculative.shape import COST_PROFILES, CostCurve  # noqa: E402
from mgd.engines.speculative.tree import DraftTree  # noqa: E402
from mgd.evaluation.casegen import dot_sites  # noqa: E402
from mgd.session import SessionConfig  # noqa: E402
from monitors.languages import language_for_path  # noqa: E402

SKIP_PARTS = (".dist-info", "/tests/", "/test/")


def package_files(root: Path, training: dict[str, list[str]]) -> list[tuple[Path, str]]:
    """Held-out ``.py`` files of an unpacked wheel (not in the model's training list)."""
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if any(s in "/" + rel for s in SKIP_PARTS) or not held_out(rel, training):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if 2_000 <= len(text) <= 150_000:
            out.append((path, text))
    return out


def completion_prompts(root: Path, files: list[tuple[Path, str]], k: int, seed: int) -> list[Prompt]:
    """``k`` member-access sites of a package (one file at most twice), file prefix up to the dot."""
    language = language_for_path(Path("x.py"))
    sites = [(p, t, s) for p, t in files for s in dot_sites(language, t) if s.prefix_end > 1_000]
    rng = random.Random(seed)
    rng.shuffle(sites)
    chosen: list[tuple[Path, str, Any]] = []
    per_file: dict[Path, int] = {}
    for p, t, s in sites:
        if per_file.get(p, 0) < 2 and len(chosen) < k:
            chosen.append((p, t, s))
            per_file[p] = per_file.get(p, 0) + 1
    return [
        Prompt(f"complete:{root.name}/{p.relative_to(root).as_posix()}:{s.prefix_end}", root, p,
               t[: s.prefix_end], t[s.suffix_start :])
        for p, t, s in chosen
    ]


def edit_prompts(root: Path, files: list[tuple[Path, str]], k: int, seed: int) -> list[Prompt]:
    """``k`` functions of 8..30 lines with a parameter, as edited-copy prompts."""
    found: list[Prompt] = []
    for path, text in files:
        lines = text.splitlines(keepends=True)
        try:
            tree = ast.parse(text)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef) or node.col_offset != 0 or node.end_lineno is None:
                continue
            args = [a.arg for a in node.args.args if a.arg not in ("self", "cls")]
            if not 8 <= node.end_lineno - node.lineno <= 30 or not args:
                continue
            head = lines[node.lineno - 1]
            if not head.rstrip().endswith(":"):
                continue  # multi-line signature: keep the edit to one line
            start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
            src = "".join(lines[start : node.end_lineno])
            old, new = args[0], args[0] + "_value"
            edited = head.replace(f"def {node.name}(", f"def {node.name}_v2(", 1)
            edited = edited.replace(f"({old}", f"({new}", 1).replace(f" {old}:", f" {new}:", 1)
            edited = edited.replace(f" {old},", f" {new},", 1)
            # End on the ":" (a prompt ending in "\n" is mid-token for byte-level BPE).
            prefix = src + "\n\n" + edited.rstrip("\n")
            rel = path.relative_to(root).as_posix()
            found.append(Prompt(f"edit:{root.name}/{rel}:{node.name}", root, path, prefix, ""))
    rng = random.Random(seed)
    rng.shuffle(found)
    return found[:k]


def forward_costs(gen: HFGenerator, past: int, sizes: list[int], reps: int) -> dict[int, float]:
    """Median seconds of one forward of q tree tokens on a ``past``-token cache."""
    model = gen.model
    key = cache_kwarg(model)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(100, 10000, (1, past), generator=g).to(gen.device)
    out: dict[int, float] = {}
    with torch.inference_mode():
        cache = DynamicCache(config=model.config)
        model(input_ids=ids, use_cache=True, **{key: cache})
        for q in sizes:
            tree = DraftTree(5, budget=q - 1)
            while not tree.full:  # a bushy tree: chains of 4 below the root
                tree.add_path([int(x) for x in torch.randint(100, 10000, (4,), generator=g)])
            mask = torch.from_numpy(tree.attention_mask(past)).to(gen.device, model.dtype)
            pos = torch.from_numpy(tree.position_ids(past)).to(gen.device)
            times = []
            for _ in range(reps):
                if gen.device.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                model(input_ids=torch.tensor([tree.tokens], device=gen.device), use_cache=True,
                      attention_mask=mask, position_ids=pos, **{key: cache})
                if gen.device.type == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - t0)
                crop_cache(cache, past)
            out[q] = statistics.median(times)
    return out


def projected(steps: int, sizes: dict[int, int], curve: CostCurve, host_ratio: float = 0.0) -> float | None:
    """``steps`` one-token forwards against the engine's verification forwards, timed by
    ``curve``; ``host_ratio``: the host time per verification in one-token forwards, added
    to each verification (plain decoding's own host time is counted as 0)."""
    spent = sum(n * (curve.ratio(q) + host_ratio) for q, n in sizes.items())
    return round(steps / spent, 3) if spent else None


class Tally:
    """One engine's totals over a workload."""

    def __init__(self) -> None:
        self.tokens = self.steps = self.forwards = self.verifications = self.drafted = self.pruned = 0
        self.seconds = self.forward_seconds = 0.0
        self.sizes: dict[int, int] = {}
        self.accepted_by: dict[str, int] = {}
        self.drafted_by: dict[str, int] = {}
        self.mismatches: list[str] = []

    def add(self, tokens: int, seconds: float, st: Any) -> None:
        self.tokens += tokens
        self.seconds += seconds
        self.steps += max(tokens - 1, 0)
        if st is None:  # plain: one forward per token
            self.forwards += tokens
            self.verifications += max(tokens - 1, 0)
            self.sizes[1] = self.sizes.get(1, 0) + max(tokens - 1, 0)
            return
        self.forwards += st.forwards
        self.verifications += st.verifications
        self.drafted += st.drafted
        self.pruned += st.pruned
        self.forward_seconds += st.forward_seconds
        for q, n in st.tree_sizes.items():
            self.sizes[q] = self.sizes.get(q, 0) + n
        for src, n in st.accepted_by.items():
            self.accepted_by[src] = self.accepted_by.get(src, 0) + n
        for src, n in st.drafted_by.items():
            self.drafted_by[src] = self.drafted_by.get(src, 0) + n

    def row(self, base_tps: float, cpu: CostCurve, spec: str | None) -> dict[str, Any]:
        tps = self.tokens / self.seconds if self.seconds else 0.0
        out: dict[str, Any] = {
            "spec": spec,
            "tokens": self.tokens,
            "seconds": round(self.seconds, 3),
            "tokens_per_s": round(tps, 2),
            "speedup_vs_plain": round(tps / base_tps, 3) if base_tps else None,
            "tau": round(self.steps / self.verifications, 3) if self.verifications else None,
            "tokens_per_forward": round(self.tokens / self.forwards, 3) if self.forwards else None,
            "mean_tree_tokens": round(sum(q * n for q, n in self.sizes.items()) / max(sum(self.sizes.values()), 1), 2),
            "greedy_mismatches": self.mismatches,
        }
        if spec is not None:
            out["drafted"] = self.drafted
            out["pruned_by_monitors"] = self.pruned
            out["accepted_by_source"] = dict(sorted(self.accepted_by.items()))
            out["drafted_by_source"] = dict(sorted(self.drafted_by.items()))
            if self.verifications:
                host = (self.seconds - self.forward_seconds) / self.verifications
                out["host_ms_per_verification"] = round(1000 * host, 2)
        out["projected_speedup"] = {
            **{name: projected(self.steps, self.sizes, CostCurve.profile(name)) for name in COST_PROFILES},
            "cpu_forward_only": projected(self.steps, self.sizes, cpu),
        }
        if spec is not None and self.verifications:
            # The same with the measured host time per verification added to each forward
            # (benchmarks/figures.py derives it for older result files from tau and the above).
            host_ms = 1000 * (self.seconds - self.forward_seconds) / self.verifications
            out["projected_speedup_with_host"] = {
                name: projected(self.steps, self.sizes, CostCurve.profile(name), host_ms / COST_PROFILES[name][1])
                for name in COST_PROFILES
            }
        return out


def run_workload(gen: HFGenerator, prompts: list[Prompt], engines: dict[str, str | None], cpu: CostCurve, *,
                 max_new: int, max_prompt: int, monitors: bool = True) -> dict[str, Any]:
    """Each prompt through every engine back to back (order rotated), after an untimed warm-up.

    Warm-up per prompt: plain decoding once (jedi has analysed the file and its imports)
    and the workspace's suffix index. Before every timed run the session's LSP request
    cache is emptied, so every engine sends its own requests (none rides on another's).
    """
    tallies = {e: Tally() for e in engines}
    names = list(engines)
    for i, p in enumerate(prompts):
        gen.generate([p], GenerateOptions(max_new_tokens=max_new, monitors=monitors, max_prompt_tokens=max_prompt))
        if gen.spec_corpus is not None:
            gen.spec_corpus.view(p.workspace, p.file, len(p.prefix))
        outputs: dict[str, str] = {}
        order = names[i % len(names):] + names[: i % len(names)]
        for name in order:
            spec = engines[name]
            opts = GenerateOptions(max_new_tokens=max_new, monitors=monitors, max_prompt_tokens=max_prompt,
                                   speculative=spec)
            gen.session.request_cache.clear()
            t0 = time.perf_counter()
            (res,) = gen.generate([p], opts)
            dt = time.perf_counter() - t0
            if res.error:
                raise SystemExit(f"{p.id} / {name}: {res.error}")
            tallies[name].add(res.tokens, dt, gen.last_spec_stats if spec is not None else None)
            outputs[name] = res.completion
        for name in names:
            if outputs[name] != outputs["plain"]:
                tallies[name].mismatches.append(p.id)
        print(f"  {i + 1}/{len(prompts)} {p.id}", flush=True)
    base = tallies["plain"].tokens / tallies["plain"].seconds
    return {
        "prompts": [p.id for p in prompts],
        "engines": {n: t.row(base, cpu, engines[n]) for n, t in tallies.items()},
    }


def table(result: dict[str, Any]) -> str:
    lines = ["| workload | engine | tau | mean tree | CPU speedup | projected H200 (27M / 1.5B / 7B) | mismatches |",
             "|---|---|---|---|---|---|---|"]
    for w in ("completion", "edit"):
        if w not in result:
            continue
        for name, r in result[w]["engines"].items():
            pr = r["projected_speedup"]
            lines.append(f"| {w} | {name} | {r['tau']} | {r['mean_tree_tokens']} | {r['speedup_vs_plain']}x | "
                         f"{pr['h200-27m']}x / {pr['h200-1.5b']}x / {pr['h200-7b']}x | {len(r['greedy_mismatches'])} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("--model", default=default_model(), help="model directory")
    ap.add_argument("--device", default="cpu", help="torch device")
    ap.add_argument("--packages", type=int, default=8, help="held-out packages to draw prompts from")
    ap.add_argument("--completions-per-package", type=int, default=5, help="completion prompts per package")
    ap.add_argument("--edits-per-package", type=int, default=2, help="edit prompts per package")
    ap.add_argument("--max-new-tokens", type=int, default=48, help="tokens per generation")
    ap.add_argument("--max-prompt-tokens", type=int, default=512, help="prompt tail kept")
    ap.add_argument("--sources", default="monitor,suffix,ngram,recycle", help="sources measured alone")
    ap.add_argument("--h200-budget", type=int, default=128, help="most drafted nodes of the @h200 shapes")
    ap.add_argument("--tree-sizes", default="1,2,4,8,16,32,64,128", help="tree tokens of the forward-cost table")
    ap.add_argument("--reps", type=int, default=5, help="repetitions per forward-cost point")
    ap.add_argument("--workloads", default="completion,edit", help="which workloads to run")
    ap.add_argument("--tau-only", action="store_true",
                    help="only the hardware-free figures: the @h200 shapes and fixed16 (tau, projected "
                         "speedups); no @device engines (timings are then not comparable, e.g. on a busy machine)")
    ap.add_argument("--device-only", action="store_true",
                    help="only the @device shapes and fixed16 (the speedup measured on this machine)")
    ap.add_argument("--no-monitors", action="store_true",
                    help="run without monitors (a machine without jedi-language-server)")
    ap.add_argument("--seed", type=int, default=0, help="site sampling seed")
    ap.add_argument("--out", default="speculative", help="result name under benchmarks/results/")
    args = ap.parse_args()

    training = training_paths(args.model)
    default = SpecConfig.parse(DEFAULT_SPEC)
    default_sources = ",".join(default.sources)
    engines: dict[str, str | None] = {"plain": None}
    for src in [*(x.strip() for x in args.sources.split(",") if x.strip()), "default"]:
        srcs = default_sources if src == "default" else src
        engines[f"{src}@device"] = DEFAULT_SPEC if src == "default" else f"{srcs}:{default.budget}"
        engines[f"{src}@h200"] = f"{srcs}:{args.h200_budget}:h200-27m"
    engines["fixed16"] = "monitor,ngram,recycle:16:flat"
    if args.tau_only:
        engines = {k: v for k, v in engines.items() if not k.endswith("@device")}
    if args.device_only:
        engines = {k: v for k, v in engines.items() if not k.endswith("@h200")}

    comps: list[Prompt] = []
    edits: list[Prompt] = []
    workloads = {w.strip() for w in args.workloads.split(",")}
    packages = [s for s in HELD_OUT_PACKAGES if not s.startswith("more-itertools")][: args.packages]
    for spec in packages:
        root = fetch_package(spec)
        files = package_files(root, training)
        if "completion" in workloads:
            comps += completion_prompts(root, files, args.completions_per_package, args.seed)
        if "edit" in workloads:
            edits += edit_prompts(root, files, args.edits_per_package, args.seed)

    load0 = os.getloadavg()
    print(f"{len(comps)} completion and {len(edits)} edit prompts, {len(engines)} engines", flush=True)
    gen = HFGenerator(args.model, config=SessionConfig(server="jedi", wait_ms=30_000), device=args.device)
    result: dict[str, Any] = {
        "model": args.model, "device": args.device, "torch_threads": torch.get_num_threads(),
        "packages": packages, "max_new_tokens": args.max_new_tokens, "max_prompt_tokens": args.max_prompt_tokens,
        "default_spec": DEFAULT_SPEC, "engines": engines, "monitors": not args.no_monitors,
        "tau_only": args.tau_only, "device_only": args.device_only,
    }
    try:
        # Warm-up (untimed): the model, jedi, and every engine's decoder (each measures its
        # device cost curve once), on a prompt that is not measured.
        first = (comps or edits)[0]
        warm = Prompt("warm-up", first.workspace, first.file, "import os\n\n\ndef main(path):\n    return os.", "")
        for spec in engines.values():
            gen.generate([warm], GenerateOptions(max_new_tokens=8, monitors=not args.no_monitors, speculative=spec))
        sizes = [int(x) for x in args.tree_sizes.split(",")]
        costs = forward_costs(gen, args.max_prompt_tokens, sizes, args.reps)
        cpu = CostCurve.from_times(costs, "measured")
        result["forward_ms_by_tree_tokens"] = {str(q): round(1000 * t, 2) for q, t in costs.items()}
        result["forward_cost_ratio_vs_q1"] = cpu.as_dict()
        if comps:
            print(f"completion: {len(comps)} prompts", flush=True)
            result["completion"] = run_workload(gen, comps, engines, cpu, max_new=args.max_new_tokens,
                                                max_prompt=args.max_prompt_tokens, monitors=not args.no_monitors)
        if edits:
            print(f"edit: {len(edits)} prompts", flush=True)
            result["edit"] = run_workload(gen, edits, engines, cpu, max_new=args.max_new_tokens,
                                          max_prompt=args.max_prompt_tokens, monitors=not args.no_monitors)
        corpus = gen.spec_corpus
        result["suffix_index_build_s_total"] = round(corpus.build_seconds, 3) if corpus is not None else None
        dec = gen.spec_decoders.get(default)
        if dec is not None and dec.cost is not None:
            result["default_decoder"] = {"measured_cost_ratio": dec.cost.as_dict(),
                                         "acceptance_rates": dec.acceptance.rates()}
    finally:
        gen.close()
    result["load_avg_start_end"] = [round(x, 2) for x in (*load0, *os.getloadavg())]
    print(table(result))
    print(write_result(args.out, result))


if __name__ == "__main__":
    main()
