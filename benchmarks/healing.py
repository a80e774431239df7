"""Token healing on real held-out code: next-identifier match with vs without healing.

    .venv/bin/python benchmarks/healing.py [--model PATH] [--cases 204] [--max-new-tokens 6] [--no-exclude]

Cases: member-access sites (``obj.name``) in held-out pure-Python packages, names
of 4-24 characters; files in the model's training list (``training_files.txt*``
in the model directory, vendored copies included) are left out unless
``--no-exclude``. Each case runs in four configurations, side by side in one run,
greedy, without monitors (this measures healing alone):

- ``uncut`` / ``uncut+heal``: the prompt ends at the identifier start (just after
  the dot), without / with token healing (``GenerateOptions.heal``);
- ``cut`` / ``cut+heal``: the prompt ends 1-3 characters inside the identifier
  (seeded), without / with healing.

Match: the identifier the prompt's tail plus the completion spell (the typed
characters plus the completion's leading identifier run) equals the original
name. Like is compared with like: healing against no healing *on the same
prompts* (paired: fixed/broken cases, exact McNemar p, bootstrap 95% CI of the
difference). ``cut`` prompts carry the first characters of the name, ``uncut``
ones do not, so the two prompt kinds are not compared with each other as if they
were one task. JSON to benchmarks/results/healing.json.
"""

from __future__ import annotations

import argparse
import random
import re
import time
from pathlib import Path

from _common import HELD_OUT_PACKAGES, default_model, fetch_package, training_exclusion, write_result

from mgd.engines.generate import GenerateOptions, HFGenerator, Prompt
from mgd.evaluation.casegen import dot_sites
from mgd.evaluation.leakage import ExcludeList
from mgd.evaluation.stats import compare
from monitors.languages import language_for_path

_IDENT_RUN = re.compile(r"[A-Za-z0-9_]*")


def collect_sites(
    packages: list[str], n: int, seed: int, exclude: ExcludeList | None = None,
) -> tuple[list[tuple[Path, Path, str, int, str]], int]:
    """(workspace, file, text, identifier start, name) for ``n`` seeded sites, and how
    many files the exclude list (the model's training data) left out."""
    language = language_for_path(Path("x.py"))
    found: list[tuple[Path, Path, str, int, str]] = []
    left_out = 0
    for spec in packages:
        root = fetch_package(spec)
        for path in sorted(root.rglob("*.py")):
            if ".dist-info" in str(path) or "/tests/" in str(path):
                continue
            if exclude is not None and exclude.contains(path.relative_to(root).as_posix()):
                left_out += 1
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            if len(text) > 150_000:
                continue
            for s in dot_sites(language, text):
                if 4 <= len(s.name) <= 24 and s.name.isascii():
                    found.append((root, path, text, s.prefix_end, s.name))
    rng = random.Random(seed)
    return rng.sample(found, min(n, len(found))), left_out


def spelled(typed: str, completion: str) -> str:
    """The identifier the prompt's typed part plus the completion spell."""
    run = _IDENT_RUN.match(completion)
    return typed + (run.group(0) if run else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--cases", type=int, default=204)
    ap.add_argument("--max-new-tokens", type=int, default=6)
    ap.add_argument("--max-prompt-tokens", type=int, default=80)
    ap.add_argument("--batch-size", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-exclude", action="store_true", help="keep files in the model's training list")
    args = ap.parse_args()

    model = args.model or default_model()
    exclude, exclusion = training_exclusion(model, enabled=not args.no_exclude)
    sites, left_out = collect_sites(HELD_OUT_PACKAGES, args.cases, args.seed, exclude)
    exclusion["excluded_files"] = left_out
    rng = random.Random(args.seed + 1)
    uncut: list[Prompt] = []
    cut: list[Prompt] = []
    typed: list[str] = []
    for root, path, text, start, name in sites:
        k = rng.randint(1, min(3, len(name) - 1))
        rel = path.relative_to(root)
        uncut.append(Prompt(f"{root.name}/{rel}:{start}", root, path, text[:start]))
        cut.append(Prompt(f"{root.name}/{rel}:{start}+{k}", root, path, text[: start + k]))
        typed.append(name[:k])
    names = [s[4] for s in sites]

    base = dict(
        max_new_tokens=args.max_new_tokens,
        monitors=False,
        batch_size=args.batch_size,
        max_prompt_tokens=args.max_prompt_tokens,
    )
    configs = {
        "uncut": (uncut, GenerateOptions(**base), ["" for _ in names]),
        "uncut+heal": (uncut, GenerateOptions(**base, heal=True), ["" for _ in names]),
        "cut": (cut, GenerateOptions(**base), typed),
        "cut+heal": (cut, GenerateOptions(**base, heal=True), typed),
    }
    out: dict[str, dict] = {}
    per_case: dict[str, dict[str, float]] = {}
    examples: dict[str, list] = {}
    with HFGenerator(model) as gen:
        for label, (prompts, options, prefixes) in configs.items():
            t0 = time.perf_counter()
            results = gen.generate(prompts, options)
            elapsed = time.perf_counter() - t0
            errors = [r.error for r in results if r.error]
            got = [spelled(p, r.completion) for p, r in zip(prefixes, results, strict=True)]
            hits = [g == n for g, n in zip(got, names, strict=True)]
            per_case[label] = {p.id.rsplit("+", 1)[0]: float(h) for p, h in zip(prompts, hits, strict=True)}
            healed = [r.stats.get("healed_chars", 0) for r in results]
            out[label] = {
                "cases": len(prompts),
                "errors": len(errors),
                "match": sum(hits),
                "match_rate": round(sum(hits) / len(hits), 4),
                "elapsed_s": round(elapsed, 1),
                "mean_healed_chars": round(sum(healed) / len(healed), 3) if options.heal else 0,
            }
            examples[label] = [
                {"id": p.id, "name": n, "got": g} for p, n, g, h in zip(prompts, names, got, hits, strict=True) if not h
            ][:8]
            print(label, out[label], flush=True)
    # Like with like: healing vs no healing on the same prompts (paired by case).
    paired = {f"{a} vs {b}": compare("match", b, per_case[b], per_case[a]).to_json()
              for a, b in (("cut+heal", "cut"), ("uncut+heal", "uncut"))}
    summary = {"paired": paired,
               "note": "cut prompts carry the name's first 1-3 characters, uncut prompts do not: "
                       "compare each with its own healed run, not with each other"}
    path = write_result(
        "healing",
        {
            "model": model,
            "packages": HELD_OUT_PACKAGES,
            "training_exclusion": exclusion,
            "settings": vars(args),
            "configs": out,
            "summary": summary,
            "misses": examples,
        },
    )
    print(summary)
    print(f"-> {path}")


if __name__ == "__main__":
    main()
