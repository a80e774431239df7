"""Per language: server start time, first/warm completion latency, and the
with/without-monitors validity rate of the tiny model on the fixture projects.

    .venv/bin/python benchmarks/languages.py [--languages java,go,typescript,rust,python] [--cases 12]

Writes benchmarks/results/languages.json and prints a markdown table. Validity =
member accesses (identifier after a dot) the language's own server accepts, over
those it gave a verdict on; both runs use the same prompts, model and server.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import ROOT, default_model, write_result  # noqa: E402
from lsp_bridge import LspServer  # noqa: E402
from mgd.config import MgdConfig  # noqa: E402
from mgd.engines.generate import GenerateOptions, HFGenerator, Prompt  # noqa: E402
from mgd.evaluation.casegen import dot_sites  # noqa: E402
from mgd.evaluation.member_check import check_member_accesses  # noqa: E402
from mgd.session import SessionConfig  # noqa: E402
from monitors.languages import language_for_path  # noqa: E402

FIXTURES = ROOT / "tests" / "fixtures"
PROJECTS: dict[str, tuple[Path, tuple[str, ...]]] = {
    "java": (FIXTURES / "java_project", ("src/com/example/shop/Invoice.java", "src/com/example/shop/Order.java",
                                         "src/com/example/shop/LineItem.java", "src/com/example/shop/Money.java")),
    "typescript": (FIXTURES / "ts_project", ("src/fleet.ts", "src/vehicle.ts")),
    "go": (FIXTURES / "go_project", ("inventory/warehouse.go", "inventory/item.go")),
    "rust": (FIXTURES / "rust_project", ("src/library.rs", "src/main.rs")),
    "python": (ROOT / "examples" / "demo_project", ("report.py",)),
}


def prompts(language: str, limit: int) -> list[Prompt]:
    root, files = PROJECTS[language]
    out: list[Prompt] = []
    for rel in files:
        path = root / rel
        text = path.read_text(encoding="utf-8")
        for site in dot_sites(language_for_path(path), text):
            if text[: site.prefix_end].endswith(("this.", "self.")):
                continue
            out.append(Prompt(f"{rel}:{site.prefix_end}", root, path, text[: site.prefix_end],
                              text[site.suffix_start:]))
    return out[:limit]


async def latencies(language: str, batch: list[Prompt]) -> dict[str, Any]:
    """Start a fresh server; time the start, the first completion, and warm ones."""
    spec = MgdConfig().server_for(language)
    t0 = time.perf_counter()
    server = await LspServer.start(spec, batch[0].workspace)
    start_s = time.perf_counter() - t0
    try:
        first = await server.complete(batch[0].file, batch[0].prefix + batch[0].suffix, len(batch[0].prefix))
        warm: list[float] = []
        for _ in range(2):
            for p in batch:
                res = await server.complete(p.file, p.prefix + p.suffix, len(p.prefix))
                warm.append(res.elapsed_ms)
    finally:
        await server.shutdown()
    return {
        "server": spec.name,
        "start_s": round(start_s, 3),
        "first_completion_ms": round(first.elapsed_ms, 1),
        "first_completion_names": len(first.names),
        "warm_completion_ms_median": round(statistics.median(warm), 2),
        "warm_completion_ms_p90": round(sorted(warm)[int(0.9 * (len(warm) - 1))], 2),
    }


def validity(gen: HFGenerator, batch: list[Prompt], monitors: bool, max_new_tokens: int) -> dict[str, Any]:
    opts = GenerateOptions(max_new_tokens=max_new_tokens, stop=("\n",), batch_size=4, max_prompt_tokens=384,
                           monitors=monitors)
    t0 = time.perf_counter()
    results = gen.generate(batch, opts)
    gen_s = time.perf_counter() - t0
    legal = judged = 0
    for p, r in zip(batch, results, strict=True):
        if r.error:
            continue
        language = language_for_path(p.file)
        spec = gen.session.server_for(language, p.workspace)
        checks = gen.session.loop.run(
            check_member_accesses(gen.session.pool, spec, language, p.workspace, p.file, p.prefix, r.completion,
                                  p.suffix, open_end=True, timeout=60.0),
            timeout=300,
        )
        for c in checks:
            if c.legal is not None:
                judged += 1
                legal += bool(c.legal)
    return {"legal": legal, "judged": judged, "rate": round(legal / judged, 3) if judged else None,
            "generate_s": round(gen_s, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", default="java,typescript,go,rust,python")
    parser.add_argument("--cases", type=int, default=12, help="prompts per language")
    parser.add_argument("--max-new-tokens", type=int, default=10)
    parser.add_argument("--model", default=default_model())
    args = parser.parse_args()
    languages = [lang.strip() for lang in args.languages.split(",") if lang.strip()]
    rows: dict[str, Any] = {}
    load_before = os.getloadavg()
    for language in languages:
        batch = prompts(language, args.cases)
        rows[language] = {"cases": len(batch), **asyncio.run(latencies(language, batch))}
        print(language, rows[language], flush=True)

    def save(complete: bool) -> Path:  # after every language, so a cut-short run keeps its numbers
        return write_result("languages", {
            "model": args.model,
            "max_new_tokens": args.max_new_tokens,
            "complete": complete,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
            "languages": rows,
        })

    with HFGenerator(args.model, config=SessionConfig(wait_ms=60_000)) as gen:
        for language in languages:
            batch = prompts(language, args.cases)
            rows[language]["with_monitors"] = validity(gen, batch, True, args.max_new_tokens)
            rows[language]["without_monitors"] = validity(gen, batch, False, args.max_new_tokens)
            print(language, rows[language]["with_monitors"], rows[language]["without_monitors"], flush=True)
            save(False)
    out = save(True)
    print(table(rows))
    print(f"-> {out}")


def table(rows: dict[str, Any]) -> str:
    lines = [
        "| language | server | start | 1st completion | warm (median) | valid with monitors | valid without |",
        "|---|---|---|---|---|---|---|",
    ]
    for lang, r in rows.items():
        w, wo = r.get("with_monitors", {}), r.get("without_monitors", {})

        def rate(v: dict[str, Any]) -> str:
            return f"{v['legal']}/{v['judged']} ({v['rate']:.0%})" if v.get("judged") else "n/a"

        lines.append(
            f"| {lang} | {r['server']} | {r['start_s']:.2f} s | {r['first_completion_ms']:.0f} ms | "
            f"{r['warm_completion_ms_median']:.1f} ms | {rate(w)} | {rate(wo)} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
