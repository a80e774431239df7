"""Which prompt layout suits the model: the target's log-loss per layout, paired per case.

    .venv/bin/python benchmarks/fim_layouts.py --cases benchmarks/cases/dev/python-dev2-cases.jsonl \
        [--cases benchmarks/cases/dev/java-dev2-cases.jsonl] [--model PATH] [--limit N] [--target-tokens 48]

For each case of a development split (never a report split), the prompt is built
by mgd's own :meth:`~mgd.engines.base.Generator.prepare` under each layout:
``left-to-right`` (``fim = off``), every FIM template the tokenizer can spell
(PSM and SPM), and ``auto`` (what ``mgd generate`` uses); one forward pass scores
the case's ground-truth middle (its first ``--target-tokens`` tokens) after the
prompt. Reported per layout: mean log-loss per target token, how often the
target's first token is the model's top choice, and paired against left-to-right:
mean difference with a bootstrap 95% CI and the cases where the layout is better.
No decoding, no monitors: this isolates what the model makes of the layout.
JSON to benchmarks/results/fim_layouts.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import statistics
import time
from pathlib import Path

import torch
from _common import default_model, write_result

from mgd.engines.base import GenerateOptions
from mgd.engines.fim import TEMPLATES, single_token_ids, vocab_lookup
from mgd.engines.generate import HFGenerator
from mgd.evaluation.runner import load_bench_cases


def _loss(model: torch.nn.Module, prompt: list[int], target: list[int]) -> tuple[float, bool]:
    ids = torch.tensor([prompt + target])
    with torch.inference_mode():
        logits = model(ids).logits[0, len(prompt) - 1 : -1].float()
    logp = torch.log_softmax(logits, -1)
    loss = -logp[torch.arange(len(target)), torch.tensor(target)].mean().item()
    return loss, int(logp[0].argmax()) == target[0]


def _ci(diffs: list[float], seed: int = 0, rounds: int = 2000) -> tuple[float, float]:
    rng = random.Random(seed)
    means = sorted(statistics.fmean(rng.choices(diffs, k=len(diffs))) for _ in range(rounds))
    return means[int(0.025 * rounds)], means[int(0.975 * rounds) - 1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cases", action="append", required=True, help="a development split's cases (repeatable)")
    ap.add_argument("--model", default=default_model())
    ap.add_argument("--workspace-root", default=str(Path(__file__).parent / ".cache"))
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--target-tokens", type=int, default=48)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    gen = HFGenerator(args.model)
    lookup = vocab_lookup(gen.tokenizer)
    layouts: dict[str, GenerateOptions] = {"left-to-right": GenerateOptions(fim="off", monitors=False)}
    for name, template in TEMPLATES.items():
        if single_token_ids(template, lookup) is not None:
            layouts[name] = GenerateOptions(fim="on", fim_template=name, monitors=False)
    auto = gen.fim(GenerateOptions())
    layouts["auto"] = GenerateOptions(monitors=False)
    splits = []
    t0 = time.perf_counter()
    for path in args.cases:
        cases = load_bench_cases(Path(path), args.limit, Path(args.workspace_root))
        per: dict[str, list[float]] = {k: [] for k in layouts}
        top: dict[str, int] = dict.fromkeys(layouts, 0)
        for case in cases:
            p = gen.prompt_for_case(case)
            target = gen.tokenizer(str(case.extra["target"]), add_special_tokens=False).input_ids[: args.target_tokens]
            if not target:
                continue
            for name, options in layouts.items():
                ids, _ = gen.prepare(p, dataclasses.replace(options, max_new_tokens=len(target)))
                loss, first = _loss(gen.model, ids, target)
                per[name].append(loss)
                top[name] += first
        n = len(per["left-to-right"])
        rows = {}
        for name in layouts:
            diffs = [a - b for a, b in zip(per[name], per["left-to-right"], strict=True)]
            lo, hi = _ci(diffs) if name != "left-to-right" else (0.0, 0.0)
            rows[name] = {
                "loss_per_token": round(statistics.fmean(per[name]), 4),
                "first_token_top1": top[name],
                "vs_left_to_right": None if name == "left-to-right" else {
                    "delta": round(statistics.fmean(diffs), 4), "ci_low": round(lo, 4), "ci_high": round(hi, 4),
                    "better": sum(d < 0 for d in diffs), "worse": sum(d > 0 for d in diffs)},
            }
        splits.append({"cases": path, "n": n, "layouts": rows})
        print(path, n, {k: (v["loss_per_token"], v["first_token_top1"]) for k, v in rows.items()})
    out = write_result("fim_layouts", {
        "model": args.model, "auto": auto.template.name if auto.template else None,
        "target_tokens": args.target_tokens, "splits": splits,
        "elapsed_s": round(time.perf_counter() - t0, 1),
    })
    print("wrote", out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
