"""Load: N concurrent requests with monitors through ``mgd serve`` (vLLM CPU engine) and ``mgd lsp``.

(a) ``mgd serve`` (in the vLLM venv, engine in the server process) on the demo
project; N ``/v1/completions`` requests with ``vllm_xargs.mgd`` fired at once from
N threads, then the same N without mgd settings (side by side, same server).
(b) ``mgd lsp`` over stdio (pygls's LanguageClient, tiny model, jedi); N buffer-only
documents, one ``textDocument/inlineCompletion`` each, all sent at once (the server
generates them one after another in its worker thread).

Every request must come back, and the member after the dot must be one the class
has (``correct``). Reported per part: wall time, throughput (requests/s, completion
tokens/s for vLLM), latency p50/p95/max, and for the server's process tree (server
plus language servers) the peak RSS and open file descriptors (before, peak, after),
sampled every 50 ms from /proc.

    python benchmarks/load.py [--requests 64] [--tokens 8] [--model PATH] [--only vllm|lsp]

Writes benchmarks/results/load.json.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._common import default_model, stop_server, write_result  # noqa: E402

DEMO = ROOT / "examples" / "demo_project"
VLLM_PYTHON = ROOT / ".venv-vllm" / "bin" / "python"
MEMBERS = {
    "Circle": {"area", "radius", "circumference", "scaled"},
    "Rectangle": {"area", "length", "breadth", "perimeter"},
}
#: Holes in report.py: the text up to and including the dot, and the class there.
HOLES = (("total += c.", "Circle"), ("if r.", "Rectangle"), ("radius {c.", "Circle"),
         ("rectangle {r.", "Rectangle"), ("return c.", "Circle"))


@dataclass(frozen=True)
class Hole:
    prefix: str
    suffix: str
    members: frozenset[str]


def holes() -> list[Hole]:
    text = (DEMO / "report.py").read_text()
    out = []
    for pattern, cls in HOLES:
        at = text.index(pattern) + len(pattern)
        out.append(Hole(text[:at], text[at:], frozenset(MEMBERS[cls])))
    return out


def legal(completion: str, members: frozenset[str]) -> bool:
    """The identifier right after the dot is a member (or a prefix of one, if cut short)."""
    name = ""
    for ch in completion:
        if not (ch.isalnum() or ch == "_"):
            break
        name += ch
    return bool(name) and any(m.startswith(name) for m in members)


# -- process-tree sampling -------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """``pid`` and its live descendants."""
    by_parent: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z":
                by_parent.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [pid], [pid]
    while todo:
        for child in by_parent.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def usage(pid: int) -> tuple[float, int, int]:
    """(RSS MiB, open fds, processes) summed over the tree of ``pid``."""
    rss_kb = fds = procs = 0
    for p in tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss_kb += int(line.split()[1])
            fds += len(os.listdir(f"/proc/{p}/fd"))
            procs += 1
        except OSError:
            continue
    return rss_kb / 1024.0, fds, procs


@dataclass
class Sampler:
    """Samples a process tree every 50 ms while running (``with sampler.running():``)."""

    pid: int
    peak_rss_mb: float = 0.0
    peak_fds: int = 0
    peak_procs: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> tuple[float, int, int]:
        rss, fds, procs = usage(self.pid)
        self.peak_rss_mb = max(self.peak_rss_mb, rss)
        self.peak_fds = max(self.peak_fds, fds)
        self.peak_procs = max(self.peak_procs, procs)
        return rss, fds, procs

    def report(self, before: tuple[float, int, int], after: tuple[float, int, int]) -> dict[str, float | int]:
        """RSS, open fds and processes of the tree: before, peak while running, after."""
        return {
            "rss_mb_before": round(before[0], 1), "rss_mb_peak": round(self.peak_rss_mb, 1),
            "rss_mb_after": round(after[0], 1),
            "fds_before": before[1], "fds_peak": self.peak_fds, "fds_after": after[1],
            "processes_before": before[2], "processes_peak": self.peak_procs, "processes_after": after[2],
        }

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        def loop() -> None:
            while not self._stop.wait(0.05):
                self.sample()

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield
        finally:
            self._stop.set()
            thread.join()
            self._stop.clear()


def latency_stats(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000.0 for s in seconds)
    p95 = ms[min(len(ms) - 1, max(0, round(0.95 * len(ms)) - 1))]
    return {"p50_ms": round(statistics.median(ms), 1), "p95_ms": round(p95, 1), "max_ms": round(ms[-1], 1)}


# -- (a) mgd serve -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(url: str, body: dict[str, Any], timeout: float = 600) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def fire(base: str, model: str, bodies: list[dict[str, Any]]) -> tuple[float, list[tuple[float, int, dict]]]:
    """All requests at once (a barrier releases N threads); wall time and per-request results."""
    barrier = threading.Barrier(len(bodies) + 1)

    def one(body: dict[str, Any]) -> tuple[float, int, dict[str, Any]]:
        barrier.wait()
        t0 = time.perf_counter()
        status, out = post(base + "/v1/completions", {"model": model, **body})
        return time.perf_counter() - t0, status, out

    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        futures = [pool.submit(one, b) for b in bodies]
        barrier.wait()
        t0 = time.perf_counter()
        results = [f.result() for f in futures]
        return time.perf_counter() - t0, results


def run_vllm(model: str, n: int, tokens: int) -> dict[str, Any]:
    port = free_port()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_ENABLE_V1_MULTIPROCESSING": "0",
           "MGD_ALLOWED_WORKSPACES": ""}
    cmd = [str(VLLM_PYTHON), "-m", "mgd.cli", "serve", model, "--allow-workspace", str(DEMO),
           "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--enforce-eager",
           "--max-model-len", "2048", "--max-num-seqs", str(n)]
    t_start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 600
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mgd serve exited: {proc.stderr.read().decode()[-3000:]}")  # type: ignore[union-attr]
            with contextlib.suppress(OSError):
                with urllib.request.urlopen(base + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            if time.time() > deadline:
                raise RuntimeError("mgd serve did not become healthy in 600 s")
            time.sleep(1)
        startup_s = time.perf_counter() - t_start
        hs = holes()

        def body(i: int, mgd: bool) -> dict[str, Any]:
            h = hs[i % len(hs)]
            b: dict[str, Any] = {"prompt": h.prefix, "max_tokens": tokens, "temperature": 0}
            if mgd:
                settings = {"workspace": str(DEMO), "file": "report.py", "suffix": h.suffix, "wait_ms": 30000}
                b["vllm_xargs"] = {"mgd": json.dumps(settings)}
            return b

        # Warm-up: starts jedi and compiles nothing else (enforce-eager).
        status, out = post(base + "/v1/completions", {"model": model, **body(0, True)})
        assert status == 200, out
        sampler = Sampler(proc.pid)
        before = sampler.sample()
        parts: dict[str, Any] = {}
        for label, mgd in (("mgd", True), ("plain", False)):
            with sampler.running():
                wall, results = fire(base, model, [body(i, mgd) for i in range(n)])
            ok = [r for r in results if r[1] == 200]
            texts = [r[2]["choices"][0]["text"] for r in ok]
            correct = sum(legal(t, hs[i % len(hs)].members) for i, t in enumerate(texts))
            gen_tokens = sum(r[2].get("usage", {}).get("completion_tokens", 0) for r in ok)
            parts[label] = {
                "requests": n,
                "completed": len(ok),
                "correct": correct,
                "wall_s": round(wall, 2),
                "requests_per_s": round(n / wall, 2),
                "completion_tokens_per_s": round(gen_tokens / wall, 1),
                **latency_stats([r[0] for r in results]),
            }
        after = sampler.sample()
        return {
            "server": "mgd serve (vLLM CPU, engine in process, jedi)",
            "startup_s": round(startup_s, 1),
            **parts,
            "mgd_vs_plain_wall": round(parts["mgd"]["wall_s"] / parts["plain"]["wall_s"], 2),
            "process_tree": sampler.report(before, after),
        }
    finally:
        stop_server(proc)


# -- (b) mgd lsp --------------------------------------------------------------------------------


async def run_lsp(model: str, n: int, tokens: int) -> dict[str, Any]:
    from lsprotocol import types
    from pygls.lsp.client import LanguageClient

    client = LanguageClient("mgd-load", "0")
    t_start = time.perf_counter()
    await client.start_io(sys.executable, "-m", "mgd.cli", "lsp", "--model", model, cwd=str(ROOT))
    pid = client._server.pid  # type: ignore[union-attr]
    init = {"debounce_ms": 0, "latency_budget_ms": 600_000, "wait_ms": 30_000,
            "max_tokens_single": tokens, "server": "jedi"}
    try:
        await asyncio.wait_for(client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(), root_uri=DEMO.as_uri(),
            workspace_folders=[types.WorkspaceFolder(DEMO.as_uri(), DEMO.name)], initialization_options=init)), 300)
        client.initialized(types.InitializedParams())
        hs = holes()

        def position(text: str) -> types.Position:
            return types.Position(text.count("\n"), len(text) - (text.rfind("\n") + 1))

        def request(i: int) -> tuple[str, types.InlineCompletionParams]:
            h = hs[i % len(hs)]
            uri = (DEMO / f"load_{i}.py").as_uri()  # buffer only: never written to disk
            client.text_document_did_open(types.DidOpenTextDocumentParams(
                types.TextDocumentItem(uri=uri, language_id="python", version=1, text=h.prefix + h.suffix)))
            return uri, types.InlineCompletionParams(
                context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Invoked),
                text_document=types.TextDocumentIdentifier(uri), position=position(h.prefix))

        async def timed(params: types.InlineCompletionParams) -> tuple[float, Any]:
            t0 = time.perf_counter()
            res = await asyncio.wait_for(client.text_document_inline_completion_async(params), 1200)
            return time.perf_counter() - t0, res

        warm_uri, warm = request(n)  # warm-up: loads the model, starts jedi
        await timed(warm)
        startup_s = time.perf_counter() - t_start
        sampler = Sampler(pid)
        before = sampler.sample()
        params = [request(i)[1] for i in range(n)]
        with sampler.running():
            t0 = time.perf_counter()
            results = await asyncio.gather(*(timed(p) for p in params))
            wall = time.perf_counter() - t0
        after = sampler.sample()
        texts = [r[1].items[0].insert_text if r[1] is not None and r[1].items else None for r in results]
        correct = sum(t is not None and legal(str(t), hs[i % len(hs)].members) for i, t in enumerate(texts))
        return {
            "server": "mgd lsp (tiny model on CPU, one worker thread, jedi)",
            "startup_s": round(startup_s, 1),
            "requests": n,
            "completed": sum(t is not None for t in texts),
            "correct": correct,
            "wall_s": round(wall, 2),
            "requests_per_s": round(n / wall, 2),
            **latency_stats([r[0] for r in results]),
            "process_tree": sampler.report(before, after),
        }
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.shutdown_async(None), 60)
            client.exit(None)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.stop(), 30)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=default_model())
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=8)
    ap.add_argument("--only", choices=("vllm", "lsp"), default=None)
    args = ap.parse_args()
    out: dict[str, Any] = {"requests": args.requests, "max_tokens": args.tokens}
    if args.only in (None, "vllm"):
        out["vllm_serve"] = run_vllm(args.model, args.requests, args.tokens)
        print(json.dumps(out["vllm_serve"], indent=2), flush=True)
    if args.only in (None, "lsp"):
        out["mgd_lsp"] = asyncio.run(run_lsp(args.model, args.requests, args.tokens))
        print(json.dumps(out["mgd_lsp"], indent=2), flush=True)
    failures = [k for k in ("vllm_serve", "mgd_lsp") if k in out and out[k].get("completed", out[k].get(
        "mgd", {}).get("completed")) != args.requests]
    out["all_completed"] = not failures
    path = write_result("load", out)
    print(f"wrote {path}")
    if failures:
        sys.exit(f"not every request completed: {failures}")


if __name__ == "__main__":
    main()
