"""vLLM throughput with vs without the mgd processor, at batch 1, 8 and 32, one run.

    .venv-vllm/bin/python benchmarks/vllm_throughput.py [--model PATH] [--prompts 32] [--tokens 16] [--wait-ms 20]

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

from monitors.casegen import dot_sites, sample_sites  # noqa: E402
from monitors.decoding.generate import GenerateOptions, Prompt  # noqa: E402
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
    c0, p0 = children_cpu_s(), time.process_time()
    tokens, seconds = run(gen, ps, options, batch, wait_ms)
    return {"tokens": tokens, "seconds": seconds, "tok_s": tokens / seconds,
            "cpu_s": time.process_time() - p0, "server_cpu_s": children_cpu_s() - c0}


def run(gen, ps: list[Prompt], options: GenerateOptions, batch: int, wait_ms: float) -> tuple[int, float]:
    from vllm.inputs import TokensPrompt

    gen.wait_ms = wait_ms
    tokens, seconds = 0, 0.0
    for start in range(0, len(ps), batch):
        chunk = ps[start : start + batch]
        inputs = [TokensPrompt(prompt_token_ids=gen.prompt_ids(p.prefix, options)) for p in chunk]
        params = []
        for p in chunk:
            sp = gen.sampling_params(p, options, None, False)
            sp.ignore_eos = True
            params.append(sp)
        t0 = time.perf_counter()
        outs = gen.llm.generate(inputs, params, use_tqdm=False)
        seconds += time.perf_counter() - t0
        tokens += sum(len(o.outputs[0].token_ids) for o in outs)
    return tokens, seconds


def delta(after: dict, before: dict) -> dict:
    d = {k: after.get(k, 0) - before.get(k, 0) for k in ("steps", "constrained_steps", "open_steps", "fallbacks",
                                                          "lookups", "shared_lookups", "lsp_ms", "waited_ms",
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
    args = ap.parse_args()

    from monitors.vllm.offline import VllmGenerator

    ps = prompts(args.prompts)
    opts = dict(max_new_tokens=args.tokens, max_prompt_tokens=512)
    plain_o, mgd_o = GenerateOptions(monitors=False, **opts), GenerateOptions(monitors=True, **opts)
    rows = []
    with VllmGenerator(args.model, server=args.server, allowed_workspaces=[PROJECT], dtype="float32",
                       enforce_eager=True, max_model_len=2048, max_num_seqs=max(32, args.prompts)) as gen:
        # Warm-up (not measured): model, and one analysed file per server (long waits allowed).
        t0 = time.perf_counter()
        run(gen, ps, GenerateOptions(monitors=True, max_new_tokens=2, max_prompt_tokens=512), 32, 30_000)
        print(f"warm-up {time.perf_counter() - t0:.1f} s", flush=True)
        run(gen, ps[:4], plain_o, 4, args.wait_ms)
        for batch in [int(b) for b in args.batches.split(",")]:
            plain = measured(gen, ps, plain_o, batch, args.wait_ms)
            before = gen.reports()["totals"]
            mgd = measured(gen, ps, mgd_o, batch, args.wait_ms)
            stats = delta(gen.reports()["totals"], before)
            print(f"batch {batch}: plain {plain['tok_s']:.1f} tok/s, mgd {mgd['tok_s']:.1f} tok/s", flush=True)
            row = {"batch": batch, "plain_tok_s": round(plain["tok_s"], 1), "mgd_tok_s": round(mgd["tok_s"], 1),
                   "ratio": round(mgd["tok_s"] / plain["tok_s"], 3), "tokens": mgd["tokens"],
                   "plain_cpu_ms_per_token": round(plain["cpu_s"] * 1000 / plain["tokens"], 2),
                   "mgd_cpu_ms_per_token": round(mgd["cpu_s"] * 1000 / mgd["tokens"], 2),
                   "server_cpu_s": round(mgd["server_cpu_s"], 2),
                   "server_cpu_ms_per_lookup": round(mgd["server_cpu_s"] * 1000 / max(stats["lookups"], 1), 1),
                   **stats}
            rows.append(row)
            print(row, flush=True)
    out = write_result("vllm_throughput", {
        "model": args.model, "prompts": len(ps), "tokens_per_request": args.tokens, "wait_ms": args.wait_ms,
        "server": args.server, "engine": "vllm-cpu 0.32.0 (V1 runner), in-process", "results": rows,
    })
    print(f"-> {out}")


if __name__ == "__main__":
    main()
