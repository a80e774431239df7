"""Tree speculative decoding vs plain greedy, side by side in one run (CPU or GPU).

Workloads (held-out code: click 8.1.8 from tests/fixtures, not in tinycode's training data):

* ``editing``: a prompt holding a real function, then the start of an *edited copy*:
  its ``def`` line with the function renamed (``_v2``) and its first parameter
  renamed. No instruction: the model continues the copy, so the context repeats
  with small changes (where the renamed parameter appears). Without monitors.
* ``completion``: the file up to a member-access dot (real sites), with the
  dereference monitor and the real jedi language server.

Engines (all through :class:`~mgd.engines.generate.HFGenerator`, greedy, the
same prompts): ``plain`` (HF ``generate``), then ``--speculative`` with each draft
source alone and combined. Every speculative output must equal plain greedy token
for token (checked, reported). A sweep of the combined tree budget and the forward
time for ``q`` tree nodes give the break-even tree size on this machine.

Usage::

    python benchmarks/speculative.py [--model PATH] [--device cpu|cuda]
        [--edit-prompts 4] [--completion-prompts 4] [--max-new-tokens 48]

Writes ``benchmarks/results/speculative.json`` (``--out NAME`` to change the name).
"""

from __future__ import annotations

import argparse
import ast
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

from benchmarks._common import default_model, write_result  # noqa: E402
from monitors.casegen import dot_sites, sample_sites  # noqa: E402
from mgd.engines.generate import GenerateOptions, HFGenerator, Prompt  # noqa: E402
from mgd.session import SessionConfig  # noqa: E402
from monitors.languages import language_for_path  # noqa: E402
from mgd.engines.speculative.decoder import cache_kwarg  # noqa: E402
from mgd.engines.speculative.tree import DraftTree  # noqa: E402

CLICK = ROOT / "tests" / "fixtures" / "projects" / "click"
EDIT_FILES = ["click/formatting.py", "click/utils.py", "click/termui.py", "click/_compat.py"]
COMPLETION_FILES = ["click/core.py", "click/types.py", "click/formatting.py", "click/termui.py"]


def edit_prompts(n: int) -> list[Prompt]:
    """Functions of 8..30 lines with at least one parameter, as edited-copy prompts."""
    out: list[Prompt] = []
    per_file: list[list[Prompt]] = []
    for rel in EDIT_FILES:
        path = CLICK / rel
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines(keepends=True)
        found: list[Prompt] = []
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.FunctionDef) or node.col_offset != 0:
                continue
            args = [a.arg for a in node.args.args if a.arg not in ("self", "cls")]
            if node.end_lineno is None or not 8 <= node.end_lineno - node.lineno <= 30 or not args:
                continue
            start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
            src = "".join(lines[start : node.end_lineno])
            head = lines[node.lineno - 1]
            if not head.rstrip().endswith(":"):
                continue  # multi-line signature: keep the edit to one line
            old, new = args[0], args[0] + "_value"
            edited = head.replace(f"def {node.name}(", f"def {node.name}_v2(", 1)
            edited = edited.replace(f"({old}", f"({new}", 1).replace(f" {old}:", f" {new}:", 1).replace(f" {old},", f" {new},", 1)
            # End on the ":" (a prompt ending in "\n" is mid-token for byte-level BPE: "\n    " is one token).
            prefix = src + "\n\n" + edited.rstrip("\n")
            found.append(Prompt(f"edit:{rel}:{node.name}", CLICK, path, prefix, ""))
        per_file.append(found)
    while len(out) < n and any(per_file):  # round robin over files
        for found in per_file:
            if found and len(out) < n:
                out.append(found.pop(0))
    return out


def completion_prompts(n: int) -> list[Prompt]:
    out: list[Prompt] = []
    for rel in COMPLETION_FILES:
        path = CLICK / rel
        text = path.read_text(encoding="utf-8")
        for s in sample_sites(dot_sites(language_for_path(path), text), 2, seed=11):
            out.append(Prompt(f"complete:{rel}:{s.prefix_end}", CLICK, path, text[: s.prefix_end], text[s.suffix_start :]))
    return out[:n]


def forward_costs(gen: HFGenerator, past: int, sizes: list[int], reps: int) -> dict[str, float]:
    """Median seconds of one forward of q tree nodes on a ``past``-token cache."""
    model = gen.model
    key = cache_kwarg(model)
    ids = torch.randint(100, 10000, (1, past), device=gen.device)
    out: dict[str, float] = {}
    with torch.inference_mode():
        cache = DynamicCache(config=model.config)
        model(input_ids=ids, use_cache=True, **{key: cache})
        for q in sizes:
            tree = DraftTree(5, budget=q - 1)
            while not tree.full:  # a bushy tree: chains of 4 below the root
                tree.add_path([int(x) for x in torch.randint(100, 10000, (4,))])
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
                for layer in cache.layers:
                    layer.keys = layer.keys[..., :past, :]
                    layer.values = layer.values[..., :past, :]
            out[str(q)] = statistics.median(times)
    return out


def run_workload(gen: HFGenerator, prompts: list[Prompt], engines: dict[str, str | None], *,
                 monitors: bool, max_new: int, max_prompt: int) -> dict[str, Any]:
    """Each prompt through every engine back to back (fair under a varying machine load)."""
    per: dict[str, dict[str, float]] = {e: {"tokens": 0, "seconds": 0.0, "forwards": 0} for e in engines}
    mismatches: dict[str, list[str]] = {e: [] for e in engines}
    for p in prompts:
        ref: str | None = None
        for name, spec in engines.items():
            opts = GenerateOptions(max_new_tokens=max_new, monitors=monitors, max_prompt_tokens=max_prompt,
                                   speculative=spec.partition("@")[0] if spec else None)
            t0 = time.perf_counter()
            (res,) = gen.generate([p], opts)
            dt = time.perf_counter() - t0
            if res.error:
                raise SystemExit(f"{p.id} / {name}: {res.error}")
            per[name]["tokens"] += res.tokens
            per[name]["seconds"] += dt
            st = getattr(gen, "last_spec_stats", None) if spec else None
            per[name]["forwards"] += st.forwards if st is not None else res.tokens
            if ref is None:
                ref = res.completion
            elif res.completion != ref:
                mismatches[name].append(p.id)
    base = per["plain"]["tokens"] / per["plain"]["seconds"]
    if base <= 0:
        raise SystemExit("plain decoding produced no tokens: nothing to compare")
    rows = {}
    for name, v in per.items():
        tps = v["tokens"] / v["seconds"]
        rows[name] = {
            "tokens": int(v["tokens"]),
            "seconds": round(v["seconds"], 3),
            "tokens_per_s": round(tps, 2),
            "speedup_vs_plain": round(tps / base, 3),
            "tokens_per_forward": round(v["tokens"] / v["forwards"], 3) if v["forwards"] else None,
            "greedy_mismatches": mismatches[name],
        }
    return {"prompts": [p.id for p in prompts], "engines": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=default_model())
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--edit-prompts", type=int, default=4)
    ap.add_argument("--completion-prompts", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=48)
    ap.add_argument("--max-prompt-tokens", type=int, default=512)
    ap.add_argument("--budget", type=int, default=16, help="node budget of the per-source runs")
    ap.add_argument("--sweep", default="4,8,32", help="extra budgets of the combined run (editing)")
    ap.add_argument("--tree-sizes", default="1,2,4,8,16,32,64")
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--workloads", default="editing,completion", help="which workloads to run")
    ap.add_argument("--out", default="speculative")
    args = ap.parse_args()

    gen = HFGenerator(args.model, config=SessionConfig(server="jedi", wait_s=30.0), device=args.device)
    b = args.budget
    result: dict[str, Any] = {
        "model": args.model, "device": args.device, "torch_threads": torch.get_num_threads(),
        "max_new_tokens": args.max_new_tokens, "max_prompt_tokens": args.max_prompt_tokens, "budget": b,
    }
    try:
        warm = edit_prompts(1)
        gen.generate(warm, GenerateOptions(max_new_tokens=8, monitors=False))
        costs = forward_costs(gen, args.max_prompt_tokens, [int(x) for x in args.tree_sizes.split(",")], args.reps)
        result["forward_s_by_tree_nodes"] = {q: round(t, 5) for q, t in costs.items()}
        result["forward_cost_ratio_vs_q1"] = {q: round(t / costs["1"], 3) for q, t in costs.items()}

        engines: dict[str, str | None] = {"plain": None, "ngram": f"ngram:{b}", "recycle": f"recycle:{b}",
                                          "ngram+recycle": f"ngram,recycle:{b}"}
        for s in (int(x) for x in args.sweep.split(",") if x):
            engines[f"ngram+recycle@{s}"] = f"ngram,recycle:{s}"
        workloads = {w.strip() for w in args.workloads.split(",")}
        edits = edit_prompts(args.edit_prompts) if "editing" in workloads else []
        if edits:
            result["editing"] = run_workload(gen, edits, engines, monitors=False, max_new=args.max_new_tokens,
                                             max_prompt=args.max_prompt_tokens)
            print("editing", result["editing"]["engines"], flush=True)

        c_engines: dict[str, str | None] = {"plain": None, "monitor": f"monitor:{b}", "ngram": f"ngram:{b}",
                                            "recycle": f"recycle:{b}", "combined": f"monitor,ngram,recycle:{b}"}
        comps = completion_prompts(args.completion_prompts) if "completion" in workloads else []
        if comps:
            result["completion_with_monitors"] = run_workload(
                gen, comps, c_engines, monitors=True, max_new=args.max_new_tokens // 2,
                max_prompt=args.max_prompt_tokens)
            print("completion", result["completion_with_monitors"]["engines"], flush=True)
    finally:
        gen.close()
    print(write_result(args.out, result))


if __name__ == "__main__":
    main()
