"""Guidance under load: ``mgd serve --lsp-cpus 1`` with the official ``openai`` client.

16 small Python projects are generated (deterministically, in a temporary
directory, so every workspace is freshly seen by the server): each has a
``models.py`` with one class whose members have unusual names (different per
workspace, so nothing learnt for one helps another) and a ``main.py`` that uses
them, one member access per function. A hole is ``main.py`` cut right after
``item.`` (the prompt), the rest of the file is the ``suffix`` setting.

The server runs with ``--lsp-cpus 1`` (language servers and mgd's LSP thread on
CPU 1, vLLM on the others), the tiny model, jedi. Requests go out through
``openai.AsyncOpenAI`` as a user would send them (``extra_body={"vllm_xargs":
{"mgd": "<JSON>"}}``, default ``wait_ms``), 8 at a time, in waves: each wave is 8
holes in 8 workspaces, sent guided and then plain (the same prompts), so the two
throughputs are measured side by side under the same machine load. Rounds walk
all 16 workspaces with a new hole each (the first round meets every workspace
for the first time).

Reported: the share of requests whose first identifier after the dot is a member
of the class (read from the generated class, independent of mgd), completion
tokens/s guided and plain and their ratio (sums over the waves), latency
p50/p95, and per guided request the unguided steps the response reports
(``response.mgd``, absent when the server does not say).

    .venv-vllm/bin/python benchmarks/serve_load.py [--rounds 3] [--tokens 16] [--model PATH]

Writes benchmarks/results/serve_load.json (``--out`` to change).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import default_model, stop_server, write_result  # noqa: E402
from benchmarks.load import free_port, latency_stats, legal  # noqa: E402

CONCURRENCY = 8
WORKSPACES = 16
CLASSES = ("Invoice", "Shipment", "Ledger", "Playlist", "Sensor", "Ticket", "Recipe", "Course",
           "Vehicle", "Budget", "Greenhouse", "Archive", "Warehouse", "Tournament", "Clinic", "Orchard")
_ADJ = ("net", "raw", "last", "next", "base", "peak", "mean", "gross", "stale", "spare", "total", "prime",
        "outer", "inner", "early", "late", "dry", "wet", "cold", "warm", "north", "south", "soft", "hard")
_NOUN = ("margin", "quota", "ledger", "tally", "yield", "slack", "offset", "span", "drift", "batch", "grade",
         "weight", "stamp", "ratio", "bucket", "cursor", "window", "factor", "budget", "token", "marker", "anchor")
_VERB = ("reconcile", "tabulate", "rebalance", "archive", "escalate", "reschedule", "normalize", "audit",
         "dispatch", "consolidate", "amortize", "calibrate", "reindex", "quarantine", "appraise", "settle")
#: The statements of main.py, one member access each: (text before the member, after it).
_USES = (("    total = item.", " + 1\n    return total\n"),
         ("    if item.", ":\n        return 1\n    return 0\n"),
         ("    print('value:', item.", ")\n"),
         ("    return item.", "\n"),
         ("    values = [item.", "]\n    return values\n"),
         ("    label = str(item.", ")\n    return label\n"))


@dataclass(frozen=True)
class Workspace:
    root: Path
    cls: str
    members: frozenset[str]  # what an instance has (the class's own names and object's)
    holes: tuple[tuple[str, str], ...]  # (prefix ending in "item.", suffix) of main.py


def make_workspace(parent: Path, i: int) -> Workspace:
    """Workspace ``i``: a class with members of its own and a main.py using them."""
    rng = random.Random(1000 + i)
    cls = CLASSES[i % len(CLASSES)]
    attrs: list[str] = []
    while len(attrs) < 4:
        name = f"{rng.choice(_ADJ)}_{rng.choice(_NOUN)}"
        if name not in attrs:
            attrs.append(name)
    methods = [f"{v}_{rng.choice(_NOUN)}" for v in rng.sample(_VERB, 3)]
    root = parent / f"ws{i:02d}_{cls.lower()}"
    root.mkdir(parents=True)
    init = "\n".join(f"        self.{a} = {a}" for a in attrs)
    meths = "\n\n".join(f"    def {m}(self) -> int:\n        return self.{attrs[k % len(attrs)]} * {k + 2}"
                        for k, m in enumerate(methods))
    (root / "models.py").write_text(
        f'"""The {cls.lower()} records."""\n\n\nclass {cls}:\n'
        f"    def __init__(self, {', '.join(a + ': int' for a in attrs)}) -> None:\n{init}\n\n{meths}\n")
    names = [*attrs, *(f"{m}()" for m in methods)]
    funcs = []
    for k, (before, after) in enumerate(_USES):
        funcs.append((f"def step_{k}(item: {cls}):\n{before}", f"{names[(k * 3 + i) % len(names)]}{after}"))
    head = f'"""Reports over {cls.lower()} records."""\n\nfrom models import {cls}\n\n\n'
    text = head + "\n\n".join(a + b for a, b in funcs) + "\n"
    (root / "main.py").write_text(text)
    holes = []
    at = len(head)
    for a, b in funcs:
        cut = at + len(a)
        holes.append((text[:cut], text[cut:]))
        at = cut + len(b) + 2
    members = frozenset([*attrs, *methods, *dir(object)])
    return Workspace(root, cls, members, tuple(holes))


def start_server(model: str, roots: list[Path], extra: list[str]) -> tuple[subprocess.Popen[bytes], str, float]:
    port = free_port()
    # VLLM_SERVER_DEV_MODE: /collective_rpc, for the engine-side totals read at the end (diagnostics only).
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
           "MGD_ALLOWED_WORKSPACES": "", "PYTHONPATH": str(ROOT), "VLLM_SERVER_DEV_MODE": "1"}
    cmd = [sys.executable, "-m", "mgd.cli", "serve", model, "--lsp-cpus", "1",
           *(a for r in roots for a in ("--allow-workspace", str(r))),
           "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--enforce-eager",
           "--max-model-len", "2048", "--max-num-seqs", str(CONCURRENCY), *extra]
    t0 = time.perf_counter()
    log = open(Path(tempfile.gettempdir()) / "mgd-serve-load.log", "wb")  # noqa: SIM115 - the server output
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 600
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"mgd serve exited: see {log.name}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(base + "/health", timeout=2) as r:
                if r.status == 200:
                    return proc, base, time.perf_counter() - t0
        if time.time() > deadline:
            proc.kill()
            raise RuntimeError("mgd serve did not become healthy in 600 s")
        time.sleep(1)




def _rpc(base: str, method: str, args: list[Any]) -> Any:
    body = json.dumps({"method": method, "args": args}).encode()
    req = urllib.request.Request(base + "/collective_rpc", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def engine_side(base: str) -> dict[str, Any]:
    """The engine's mgd totals (steps, waits, lookups) and the language servers' latency per
    lookup (from the gate to the answer, ms), read through ``/collective_rpc``; {} if unavailable."""
    try:
        reports = _rpc(base, "mgd_reports", ["[]"])
        details = _rpc(base, "mgd_details", [])
    except (OSError, ValueError):
        return {}
    answers = reports.get("results", reports) if isinstance(reports, dict) else reports
    totals = next((a.get("totals") for a in answers or () if isinstance(a, dict) and a.get("totals")), {})
    found = details.get("results", details) if isinstance(details, dict) else details
    service = sorted(ms for worker in found or () for p in worker or () for ms in p.get("service_ms", ()))
    out: dict[str, Any] = {"totals": totals}
    if service:
        out["service_ms"] = {"n": len(service), "p50": round(service[len(service) // 2], 1),
                             "p90": round(service[int(len(service) * 0.9)], 1), "max": round(service[-1], 1),
                             "mean": round(statistics.mean(service), 1)}
    return out


async def one(client: Any, model: str, ws: Workspace, hole: int, tokens: int, guided: bool) -> dict[str, Any]:
    prefix, suffix = ws.holes[hole]
    extra: dict[str, Any] = {}
    if guided:
        extra["vllm_xargs"] = {"mgd": json.dumps({"workspace": str(ws.root), "file": "main.py", "suffix": suffix})}
    t0 = time.perf_counter()
    r = await client.completions.create(model=model, prompt=prefix, max_tokens=tokens, temperature=0,
                                        extra_body=extra)
    took = time.perf_counter() - t0
    text = r.choices[0].text
    report = (r.model_extra or {}).get("mgd") if guided else None
    return {"workspace": ws.root.name, "hole": hole, "guided": guided, "text": text,
            "legal": legal(text, ws.members), "tokens": r.usage.completion_tokens if r.usage else 0,
            "latency_s": round(took, 3), "mgd": report}


async def run(model: str, rounds: int, tokens: int, extra: list[str]) -> dict[str, Any]:
    import openai

    with tempfile.TemporaryDirectory(prefix="mgd-serve-load-") as tmp:
        spaces = [make_workspace(Path(tmp), i) for i in range(WORKSPACES)]
        warm = make_workspace(Path(tmp) / "warm-up", WORKSPACES)
        proc, base, startup = start_server(model, [w.root for w in [*spaces, warm]], extra)
        try:
            client = openai.AsyncOpenAI(base_url=base + "/v1", api_key="none", max_retries=0, timeout=600)
            served = (await client.models.list()).data[0].id
            # Warm the engine and mgd's session (tokenizer index) with a guided request in a
            # workspace of its own: the 16 workspaces stay unseen.
            await one(client, served, warm, 0, 4, True)
            results: list[dict[str, Any]] = []
            walls = {True: 0.0, False: 0.0}
            for r in range(rounds):
                for w0 in range(0, WORKSPACES, CONCURRENCY):
                    wave = spaces[w0:w0 + CONCURRENCY]
                    for guided in (True, False):
                        t0 = time.perf_counter()
                        out = await asyncio.gather(*(one(client, served, ws, (r + k) % len(ws.holes), tokens, guided)
                                                     for k, ws in enumerate(wave)))
                        walls[guided] += time.perf_counter() - t0
                        for o in out:
                            o["round"] = r
                        results.extend(out)
            await client.close()
            engine = engine_side(base)
        finally:
            stop_server(proc)
    parts: dict[str, Any] = {}
    for guided, label in ((True, "guided"), (False, "plain")):
        rs = [o for o in results if o["guided"] is guided]
        n_tok = sum(o["tokens"] for o in rs)
        parts[label] = {"requests": len(rs), "valid": sum(o["legal"] for o in rs),
                        "valid_share": round(sum(o["legal"] for o in rs) / len(rs), 4),
                        "first_round_valid_share": round(statistics.mean(o["legal"] for o in rs if o["round"] == 0), 4),
                        "completion_tokens": n_tok, "wall_s": round(walls[guided], 2),
                        "tokens_per_s": round(n_tok / walls[guided], 1),
                        **latency_stats([o["latency_s"] for o in rs])}
    guided_rs = [o for o in results if o["guided"]]
    reported = [o["mgd"] for o in guided_rs if isinstance(o["mgd"], dict)]
    unguided = [int(m.get("unguided_steps", 0)) for m in reported]
    return {
        "workload": f"{WORKSPACES} fresh workspaces, {CONCURRENCY} concurrent requests (openai.AsyncOpenAI), "
                    f"{rounds} rounds, {tokens} tokens, temperature 0, jedi, --lsp-cpus 1",
        "server_args": extra,
        "startup_s": round(startup, 1),
        **parts,
        "throughput_ratio": round(parts["guided"]["tokens_per_s"] / parts["plain"]["tokens_per_s"], 3),
        "responses_with_counts": len(reported),
        "unguided_steps": {"total": sum(unguided), "requests_with_any": sum(1 for u in unguided if u),
                           "per_request": unguided},
        "engine": engine,
        "requests": results,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--model", default=None)
    ap.add_argument("--out", default="serve_load")
    ap.add_argument("server_args", nargs="*", help="more arguments for mgd serve (after --)")
    args = ap.parse_args()
    model = args.model or default_model()
    if not Path(model).exists():
        model = "/work/shared/models/tinycode-27m"
    result = asyncio.run(run(model, args.rounds, args.tokens, args.server_args))
    path = write_result(args.out, result)
    keys = ("valid_share", "first_round_valid_share", "tokens_per_s", "p50_ms", "p95_ms")
    for label in ("guided", "plain"):
        print(label, {k: result[label][k] for k in keys})
    print("ratio", result["throughput_ratio"], "unguided", {k: v for k, v in result["unguided_steps"].items()
                                                             if k != "per_request"}, "->", path)


if __name__ == "__main__":
    main()
