"""End to end on CPU: quality and speed with vs without monitors, one run.

    .venv/bin/python benchmarks/e2e.py [--model PATH] [--server jedi] [--packages 6] [--per-package 10]

Cases: positions right after member-access dots in held-out real packages
(pure-Python wheels from PyPI that are not in the tiny model's training data);
the hole is the rest of the line. For each case both configurations run back to
back on the same inputs. Reported:
- legal: share of identifiers generated after a dot that the language server
  accepts at that point (checked independently after generation);
- NIM: the first generated identifier equals the original one;
- tokens/s of each configuration and their ratio (mgd / plain).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import HELD_OUT_PACKAGES, default_model, fetch_package, training_exclusion, write_result

from mgd.engines.generate import GenerateOptions, HFGenerator, Prompt
from mgd.evaluation.casegen import dot_sites
from mgd.evaluation.leakage import ExcludeList
from mgd.evaluation.member_check import check_member_accesses
from mgd.session import SessionConfig
from monitors.languages import language_for_path


def package_prompts(root: Path, per_package: int, seed: int, exclude: ExcludeList | None = None) -> list[Prompt]:
    language = language_for_path(Path("x.py"))
    sites: list[tuple[Path, str, object]] = []
    for path in sorted(root.rglob("*.py")):
        if ".dist-info" in str(path) or "/tests/" in str(path):
            continue
        if exclude is not None and exclude.contains(path.relative_to(root).as_posix()):
            continue  # the model's training data
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if len(text) > 150_000:
            continue
        sites.extend((path, text, s) for s in dot_sites(language, text))
    import random

    rng = random.Random(seed)
    chosen = rng.sample(sites, min(per_package, len(sites)))
    return [
        Prompt(f"{root.name}/{p.relative_to(root)}:{s.prefix_end}", root, p, t[: s.prefix_end], t[s.suffix_start :],
               {"target": s.target, "name": s.name})
        for p, t, s in chosen
    ]


def first_identifier(text: str) -> str:
    import re

    m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text)
    return m.group(0) if m else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=default_model())
    ap.add_argument("--server", default="jedi")
    ap.add_argument("--packages", type=int, default=6)
    ap.add_argument("--per-package", type=int, default=10)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-exclude", action="store_true", help="keep files in the model's training list")
    args = ap.parse_args()

    exclude, exclusion = training_exclusion(args.model, enabled=not args.no_exclude)
    prompts: list[Prompt] = []
    for spec in HELD_OUT_PACKAGES[: args.packages]:
        prompts.extend(package_prompts(fetch_package(spec), args.per_package, args.seed, exclude))
    print(f"{len(prompts)} cases from {args.packages} packages")

    configs = {"plain": False, "mgd": True}
    totals = {k: {"tokens": 0, "seconds": 0.0, "legal": 0, "checked": 0, "nim": 0, "cases": 0,
                  "triggers": 0, "fallbacks": 0, "failed_lookups": 0, "lsp_ms": 0.0} for k in configs}
    with HFGenerator(args.model, config=SessionConfig(server=args.server, wait_ms=10_000)) as gen:
        # Warm up the model and the server once (not measured).
        gen.generate(prompts[:1], GenerateOptions(max_new_tokens=4, monitors=True))
        for p in prompts:
            for name, mon in configs.items():
                opts = GenerateOptions(max_new_tokens=args.max_new_tokens, stop=("\n",), monitors=mon)
                t0 = time.perf_counter()
                (res,) = gen.generate([p], opts)
                dt = time.perf_counter() - t0
                tot = totals[name]
                tot["tokens"] += res.tokens
                tot["seconds"] += dt
                tot["cases"] += 1
                tot["nim"] += int(first_identifier(res.completion) == p.extra["name"])
                for k in ("triggers", "fallbacks", "failed_lookups", "lsp_ms"):
                    tot[k] += res.stats.get(k, 0)
                language = language_for_path(p.file)
                checks = gen.session.loop.run(
                    check_member_accesses(gen.session.pool, gen.session.server_for(language), language,
                                          p.workspace, p.file, p.prefix, res.completion, p.suffix, open_end=True),
                    timeout=120,
                )
                for c in checks:
                    if c.legal is not None:
                        tot["checked"] += 1
                        tot["legal"] += int(c.legal)
    rows = {}
    for name, t in totals.items():
        rows[name] = {
            "cases": t["cases"],
            "tokens_per_s": t["tokens"] / t["seconds"] if t["seconds"] else 0.0,
            "legal_rate": t["legal"] / t["checked"] if t["checked"] else None,
            "checked_identifiers": t["checked"],
            "nim": t["nim"] / t["cases"] if t["cases"] else None,
            "triggers": t["triggers"],
            "fallbacks": t["fallbacks"],
            "failed_lookups": t["failed_lookups"],
            "lsp_ms_total": round(t["lsp_ms"], 1),
        }
    ratio = rows["mgd"]["tokens_per_s"] / rows["plain"]["tokens_per_s"]
    print("| config | cases | legal after dot | NIM | tokens/s |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['cases']} | {r['legal_rate']:.1%} ({r['checked_identifiers']}) | {r['nim']:.1%} | {r['tokens_per_s']:.1f} |")
    print(f"tokens/s ratio mgd/plain: {ratio:.3f}")
    out = write_result("e2e", {"model": args.model, "server": args.server,
                               "packages": HELD_OUT_PACKAGES[: args.packages], "training_exclusion": exclusion, "rows": rows, "speed_ratio": ratio})
    print(f"-> {out}")


if __name__ == "__main__":
    main()
