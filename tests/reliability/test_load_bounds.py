"""1,000 completion requests through the bridge against a real jedi-language-server:
every answer is right, and open file descriptors, child processes and memory stay
bounded (measured after a warm-up, asserted against fixed bounds)."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import pytest

from lsp_bridge import ServerPool, preset

from ._procs import children, open_fds, rss_mb

pytestmark = pytest.mark.e2e

REQUESTS = 1000
CONCURRENCY = 8  # one document each: requests to one document are serialized by design
WARMUP = 40
#: Bounds (measured growth on the reference machine: fds 0, RSS < 5 MiB).
MAX_FD_GROWTH = 20
MAX_RSS_GROWTH_MB = 40.0
CIRCLE = {"area", "radius", "circumference", "scaled"}
RECTANGLE = {"area", "length", "breadth", "perimeter"}


def document(i: int, n: int) -> tuple[str, int, set[str]]:
    """Text of document ``i`` at its ``n``-th request (it changes every time), the
    offset after its final dot, and the members that must be offered there."""
    members = CIRCLE if (i + n) % 2 == 0 else RECTANGLE
    body = "".join(f"    {m} = 1.0\n" for m in sorted(members))
    text = f"class Shape:\n{body}\nvalue_{n} = {n}\nshape = Shape()\nshape."
    return text, len(text), members


async def run(pool: ServerPool, workspace: Path, start: int, count: int) -> int:
    """``count`` requests, CONCURRENCY documents at a time; how many were right."""
    spec = preset("jedi")
    right = 0

    async def one(i: int, n: int) -> bool:
        text, offset, members = document(i, n)
        res = await pool.complete(spec, workspace, workspace / f"load_{i}.py", text, offset, timeout=60)
        return members <= set(res.names)

    for n in range(start, start + count, CONCURRENCY):
        batch = range(min(CONCURRENCY, start + count - n))
        right += sum(await asyncio.gather(*(one(i, n) for i in batch)))
    return right


async def test_thousand_requests_stay_bounded(tmp_path: Path) -> None:
    before_children = children()
    async with ServerPool() as pool:
        assert await run(pool, tmp_path, 0, WARMUP) == WARMUP
        [server] = pool.servers()
        gc.collect()
        fds0, rss0, kids0 = open_fds(), rss_mb(), children()
        assert kids0 - before_children == {server.pid} | children(server.pid)
        right = await run(pool, tmp_path, WARMUP, REQUESTS)
        gc.collect()
        fds1, rss1, kids1 = open_fds(), rss_mb(), children()
        assert pool.servers() == [server] and server.alive  # one server throughout
    assert right == REQUESTS
    assert fds1 - fds0 < MAX_FD_GROWTH, (fds0, fds1)
    assert kids1 == kids0, "child processes changed under load"
    assert rss1 - rss0 < MAX_RSS_GROWTH_MB, (rss0, rss1)
    assert children() - before_children == set()
    print(f"\n1000 requests: fds {fds0}->{fds1}, rss {rss0:.1f}->{rss1:.1f} MiB, children {len(kids0)}")
