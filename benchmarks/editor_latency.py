"""Cold and warm latency of single-line inline completions from ``mgd lsp`` (tiny model, CPU, jedi).

The editor's view of it: pygls's LanguageClient starts ``mgd lsp`` over stdio on
the click project, opens each file, and at real member-access dots (the rest of
the line deleted in the buffer, as if the user had just typed ``obj.``) sends
``textDocument/inlineCompletion`` and times the round trip. Warm: the model is
loaded and each file has had warm-up requests first. Debounce is set to 0 (it is a
deliberate client-visible wait, reported separately). Target: p50 <= 300 ms,
p95 <= 800 ms.

``latency_ms`` is over the requests right at the dot (a new position each time:
the engine cannot reuse the previous prompt). With ``--typing N`` (default 2) the
user then types the first N characters of the original text, one request per
keystroke, as an editor asks while one types; those requests are reported apart
(``typing_latency_ms``): they reuse the previous request's KV cache.

**Cold** (``--cold N``, default 3; reported apart in ``cold``): the first
completion in a project, N times, each with a fresh ``mgd lsp`` on another file:
``from_start`` sends the request as soon as the server is initialized and the
file opened (it waits for the model to load: ``waited_for_model_ms``);
``model_ready`` waits until the model has loaded, then opens the file and asks
(the language server's first answer in the project is in it).

    python benchmarks/editor_latency.py [--positions 60] [--typing 2] [--cold 3] [--model PATH]
        [--set KEY=VALUE ...] [--compare KEY=VALUE ...]

``--compare decoder=hf`` starts a second ``mgd lsp`` with that setting changed and
sends every request to both (alternating which goes first), so the new/before
ratios are measured side by side under the same load. Each request's phases
(monitor construction, prefill, decode, language-server wait, masking, stop
rules, CPU time) come from the server's job stats (``breakdown_*``).

Writes benchmarks/results/editor_latency.json (``--out NAME``: NAME.json).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

from lsprotocol import types

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import default_model, write_result  # noqa: E402
from mgd.evaluation.casegen import dot_sites, sample_sites  # noqa: E402
from monitors.languages import get_language  # noqa: E402
from tests.editor.conftest import inline_params, lsp_client, open_doc, position_of, server_stats  # noqa: E402

FILES = ["click/core.py", "click/types.py", "click/parser.py", "click/formatting.py", "click/termui.py",
         "click/utils.py"]
PROJECT = ROOT / "tests" / "fixtures" / "projects" / "click"


def process_cpu_ms(pid: int) -> float:
    """User + system CPU time of a process (all its threads), in ms."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def _summary(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    return {"p50": round(pct(values, 0.5), 1), "p95": round(pct(values, 0.95), 1),
            "mean": round(statistics.mean(values), 1)}


def edit(uri: str, version: int, start: types.Position, end: types.Position, text: str) -> types.DidChangeTextDocumentParams:
    return types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        [types.TextDocumentContentChangePartial(range=types.Range(start, end), text=text)],
    )


#: Per-request phases from the engine's stats (wall ms inside ``mgd lsp``), see docs/editor.md.
PHASES = ("guide_ms", "prompt_ms", "prefill_ms", "decode_ms", "lsp_ms", "mask_ms", "stop_ms", "cpu_ms")


def parse_set(items: list[str]) -> dict:
    """``key=value`` settings (values parsed as JSON when they parse, else strings)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set/--compare expect key=value, not {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def breakdown(stats: dict) -> dict:
    """The phases of one job (``mask_ms``: masking time without the language-server wait)."""
    d = {k: stats.get(k) for k in PHASES if k in stats}
    if "guide_step_ms" in stats:
        d["mask_ms"] = round(stats["guide_step_ms"] - stats.get("lsp_ms", 0.0), 2)
    d["lsp_ms"] = stats.get("lsp_ms", 0.0)
    for k in ("steps", "forward_passes", "prompt_tokens", "reused_tokens", "drafted", "draft_accepted"):
        if k in stats:
            d[k] = stats[k]
    return d


class Side:
    """One ``mgd lsp`` process and what was measured on it."""

    def __init__(self, name: str, client, init: dict) -> None:
        self.name, self.client, self.init = name, client, init
        self.pid = client._server.pid
        self.uri = ""
        self.options: dict = {}
        self.at_dot: list[dict] = []
        self.typing: list[dict] = []

    async def request(self, pos: types.Position) -> tuple[dict, str]:
        c0, t0 = process_cpu_ms(self.pid), time.perf_counter()
        res = await self.client.text_document_inline_completion_async(inline_params(self.uri, pos))
        ms, cpu = (time.perf_counter() - t0) * 1000.0, process_cpu_ms(self.pid) - c0
        job = (await server_stats(self.client))["jobs"][-1]
        text = res.items[0].insert_text if res and res.items else ""
        rec = {"ms": round(ms, 1), "server_cpu_ms": round(cpu, 1), "steps": job["steps"], "stopped": job["stopped"],
               "engine_ms": round(job["engine_ms"], 1), **breakdown(job["stats"])}
        return rec, text

    def summary(self) -> dict:
        lat = [r["ms"] for r in self.at_dot]
        return {
            "settings": self.init,
            "server_options": self.options,
            "latency_ms": {**_summary(lat), "max": round(max(lat), 1)},
            "server_cpu_ms": _summary([r["server_cpu_ms"] for r in self.at_dot]),
            "typing_latency_ms": _summary([t["ms"] for t in self.typing]),
            "typing_server_cpu_ms": _summary([t["server_cpu_ms"] for t in self.typing]),
            "typing_reused_tokens_p50": pct([t.get("reused_tokens") or 0 for t in self.typing], 0.5) if self.typing else None,
            "typing_requests": len(self.typing),
            "meets_targets": pct(lat, 0.5) <= 300 and pct(lat, 0.95) <= 800,
            "breakdown_at_dot": {k: _summary([r[k] for r in self.at_dot if r.get(k) is not None])
                                 for k in (*PHASES, "steps", "prompt_tokens")},
            "breakdown_typing": {k: _summary([r[k] for r in self.typing if r.get(k) is not None])
                                 for k in (*PHASES, "steps", "reused_tokens")},
            "mean_steps": round(statistics.mean(r["steps"] for r in self.at_dot), 2),
            "first_name_matches_original": sum(r["first_name_match"] for r in self.at_dot),
        }


def first_name(text: str) -> str:
    m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text)
    return m.group(0) if m else ""


async def cold_runs(args: argparse.Namespace, init: dict) -> dict:
    """The first completion in a project, with a fresh server each time (see the module docstring)."""
    py = get_language("python")
    out: dict[str, list[dict]] = {"from_start": [], "model_ready": []}
    for i in range(args.cold):
        for mode in out:
            rel = FILES[(2 * i + (mode == "model_ready")) % len(FILES)]
            path = PROJECT / rel
            text = path.read_text(encoding="utf-8")
            site = sample_sites(dot_sites(py, text), 1, seed=100 + i)[0]
            t_start = time.perf_counter()
            async with lsp_client(PROJECT, "--model", args.model, init=init) as (client, _):
                initialized_ms = (time.perf_counter() - t_start) * 1000.0
                if mode == "model_ready":
                    while not (await server_stats(client))["engine_ready"]:
                        await asyncio.sleep(0.05)
                uri = open_doc(client, path, text)
                a, b = position_of(text, site.prefix_end), position_of(text, site.suffix_start)
                client.text_document_did_change(edit(uri, 2, a, b, ""))
                t0 = time.perf_counter()
                res = await client.text_document_inline_completion_async(inline_params(uri, a))
                ms = (time.perf_counter() - t0) * 1000.0
                job = (await server_stats(client))["jobs"][-1]
            out[mode].append({"file": rel, "offset": site.prefix_end, "ms": round(ms, 1),
                              "initialized_ms": round(initialized_ms, 1),
                              "waited_for_model_ms": round(job["waited_for_model_ms"], 1),
                              "after_model_ms": round(ms - job["waited_for_model_ms"], 1),
                              "text": res.items[0].insert_text if res and res.items else "",
                              "stopped": job["stopped"], **breakdown(job["stats"])})
    return {mode: {"runs": runs, "latency_ms": _summary([r["ms"] for r in runs]),
                   "after_model_ms": _summary([r["after_model_ms"] for r in runs]),
                   "lsp_ms": _summary([r.get("lsp_ms") or 0.0 for r in runs])}
            for mode, runs in out.items()}


async def run(args: argparse.Namespace) -> dict:
    py = get_language("python")
    per_file = -(-args.positions // len(FILES))
    init = {"debounce_ms": 0, "server": args.server, "latency_budget_ms": args.budget_ms, "threads": args.threads}
    if args.max_tokens is not None:
        init["max_tokens_single"] = args.max_tokens
    init.update(parse_set(args.set))
    inits = {"new": init}
    if args.compare:
        inits["before"] = {**init, **parse_set(args.compare)}
    load_at_start = os.getloadavg()
    cold = await cold_runs(args, init) if args.cold else None
    async with contextlib.AsyncExitStack() as stack:
        sides = []
        for name, opts in inits.items():
            client, _ = await stack.enter_async_context(lsp_client(PROJECT, "--model", args.model, init=opts))
            sides.append(Side(name, client, opts))
            sides[-1].options = (await server_stats(client))["options"]  # the settings in force
        version = 1
        for rel in FILES:
            path = PROJECT / rel
            text = path.read_text(encoding="utf-8")
            for side in sides:
                side.uri = open_doc(side.client, path, text)
            uri = sides[0].uri
            sites = sample_sites(dot_sites(py, text), per_file + args.warmup, seed=11)
            for i, site in enumerate(sites):
                order = sides if i % 2 == 0 else sides[::-1]  # alternate who goes first
                # The user just typed `obj.`: the rest of the line is not there yet.
                a, b = position_of(text, site.prefix_end), position_of(text, site.suffix_start)
                version += 1
                for side in sides:
                    side.client.text_document_did_change(edit(uri, version, a, b, ""))
                texts = {}
                for side in order:
                    rec, texts[side.name] = await side.request(a)
                    if i >= args.warmup:
                        side.at_dot.append({"file": rel, "offset": site.prefix_end, "text": texts[side.name],
                                            "target": site.target[:40],
                                            "first_name_match": first_name(texts[side.name]) == first_name(site.target)
                                            and bool(first_name(site.target)), **rec})
                # Keystrokes: type the original text's first characters, one request each.
                cursor, typed = a, 0
                for ch in site.target[: args.typing if i >= args.warmup else 0]:
                    version += 1
                    for side in sides:
                        side.client.text_document_did_change(edit(uri, version, cursor, cursor, ch))
                    cursor = types.Position(cursor.line, cursor.character + len(ch.encode("utf-16-le")) // 2)
                    typed += 1
                    for side in order:
                        rec, _ = await side.request(cursor)
                        side.typing.append(rec)
                version += 1
                for side in sides:
                    side.client.text_document_did_change(edit(uri, version, cursor, cursor, site.target[typed:]))
                if len(sides) == 2 and i >= args.warmup:
                    sides[0].at_dot[-1]["same_text_as_before"] = texts["new"] == texts["before"]
                    sides[0].at_dot[-1]["before_text"] = texts["before"]
            for side in sides:
                side.client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))
    new = sides[0]
    if args.dump:
        print(json.dumps(new.at_dot, indent=1))
    result = {
        "settings": {**init, "model": args.model, "positions": len(new.at_dot), "warmup_per_file": args.warmup,
                     "files": FILES, "project": "click 8.1.8 (tests/fixtures/projects/click)"},
        "warm": "latency_ms (at a fresh dot: a new position in a file opened in a warm session) and "
                "typing_latency_ms (keystrokes after it)",
        **{k: v for k, v in new.summary().items() if k != "settings"},
        "cold": cold,
        "targets_ms": {"p50": 300, "p95": 800},
        "load_average_at_end": os.getloadavg(),
        "load_average_at_start": load_at_start,
        "note": ("Debounce (default 60 ms) excluded: it is a deliberate wait before generating. "
                 "latency_ms is wall time at the client; server_cpu_ms is the CPU time the mgd lsp process "
                 "(model, monitors; torch on --threads threads) used per request, which is what one idle core would "
                 "need (the language server's own CPU is not in it). breakdown_*: wall ms per phase inside the "
                 "engine (guide = monitor construction, lsp = waiting for the language server after the prefill, "
                 "mask = masking without that wait, stop = token bytes + stop rules; cpu = the generating "
                 "thread's CPU time)."),
    }
    if len(sides) == 2:
        before = sides[1]
        b = before.summary()
        result["before"] = b

        def ratio(key: str, q: str) -> float | None:
            x, y = result[key], b[key]
            return round(x[q] / y[q], 3) if x and y and y[q] else None

        result["ratio_new_over_before"] = {
            "measured": "side by side in one run: the same requests sent to both servers, alternating which goes first",
            "latency_p50": ratio("latency_ms", "p50"), "latency_p95": ratio("latency_ms", "p95"),
            "server_cpu_p50": ratio("server_cpu_ms", "p50"), "server_cpu_mean": ratio("server_cpu_ms", "mean"),
            "typing_latency_p50": ratio("typing_latency_ms", "p50"),
            "typing_server_cpu_p50": ratio("typing_server_cpu_ms", "p50"),
            "same_text_at_dot": sum(r.get("same_text_as_before", False) for r in new.at_dot),
        }
    result["cases"] = new.at_dot
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=default_model())
    ap.add_argument("--positions", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=2, help="unmeasured requests per file first")
    ap.add_argument("--server", default="jedi")
    ap.add_argument("--max-tokens", type=int, default=None,
                    help="max_tokens_single of the server (default: the server's default)")
    ap.add_argument("--budget-ms", type=int, default=2000, help="latency budget (the server's default is 2000)")
    ap.add_argument("--typing", type=int, default=2, help="keystroke requests after each position (0: none)")
    ap.add_argument("--cold", type=int, default=3, help="cold runs: fresh servers, first completion (0: none)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads of the local engine (0: torch default)")
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="more settings for the measured server (initializationOptions), e.g. draft_tokens=4")
    ap.add_argument("--compare", nargs="*", default=None, metavar="KEY=VALUE",
                    help="also run a second server with these settings changed (e.g. decoder=hf) side by side, "
                         "and report new/before ratios")
    ap.add_argument("--out", default="editor_latency", help="result name: benchmarks/results/NAME.json")
    ap.add_argument("--dump", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    result = asyncio.run(run(args))
    out = write_result(args.out, result)
    if result["cold"]:
        for mode, c in result["cold"].items():
            print(f"cold {mode}: p50 {c['latency_ms']['p50']} ms (after the model: {c['after_model_ms']['p50']} ms)")
    print(f"warm p50 {result['latency_ms']['p50']} ms, p95 {result['latency_ms']['p95']} ms "
          f"over {result['settings']['positions']} positions -> {out}")
    if "ratio_new_over_before" in result:
        print(f"before: p50 {result['before']['latency_ms']['p50']} ms, p95 {result['before']['latency_ms']['p95']} ms; "
              f"ratios {result['ratio_new_over_before']}")


if __name__ == "__main__":
    main()
