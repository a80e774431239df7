"""Generation never hangs on a broken language server (real processes standing in).

A server that never answers, one that dies on the first completion request, and
one that cannot start: generation completes, the fault is counted, and no server
process is left behind.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from lsp_bridge import ServerSpec
from mgd.engines.generate import GenerateOptions, HFGenerator, Prompt
from mgd.session import SessionConfig

pytestmark = pytest.mark.e2e

FAKES = Path(__file__).resolve().parent / "fake_servers"


def fake(script: str, **kw) -> ServerSpec:
    return ServerSpec(
        name=f"fake-{script}",
        language_id="python",
        command=(sys.executable, str(FAKES / f"{script}.py")),
        start_timeout_s=5.0,
        **kw,
    )


def demo_prompt(demo_project: Path) -> Prompt:
    path = demo_project / "report.py"
    text = path.read_text()
    at = text.index("total += c.") + len("total += c.")
    return Prompt("hang", demo_project, path, text[:at], text[at:])


@pytest.mark.parametrize(
    ("script", "counter"),
    [("hang", "failed_lookups"), ("crash_mid", "failed_lookups"), ("exit_at_start", "failed_lookups")],
)
def test_generation_completes_despite_server(script, counter, tiny_model, demo_project) -> None:
    spec = fake(script, request_timeout_s=0.5, first_request_timeout_s=0.5)
    gen = HFGenerator(tiny_model, config=SessionConfig(server=spec, wait_ms=2000))
    try:
        t0 = time.perf_counter()
        (res,) = gen.generate([demo_prompt(demo_project)], GenerateOptions(max_new_tokens=8))
        elapsed = time.perf_counter() - t0
        assert res.error is None
        assert res.tokens == 8 and res.completion
        assert res.stats["triggers"] >= 1
        assert res.stats[counter] >= 1
        assert elapsed < 10.0, f"generation took {elapsed:.1f}s with a broken server"
        pids = [s.pid for s in gen.session.pool.servers()]
    finally:
        gen.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
