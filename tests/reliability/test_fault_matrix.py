"""The fault matrix through the real generation paths (real fake-server processes).

Each broken server stands behind the real tiny model: the Hugging Face generator
(blocking guide) and the vLLM processor's :class:`~mgd.vllm.core.MonitorCore`
(non-blocking guide, driven step by step with the same model). For every fault:
generation completes, the fault shows in the counters (or the log), no decoding
step waits past its budget, and no server process outlives the session.
``hang``, ``crash_mid`` and ``exit_at_start`` through the HF path are in
``tests/test_e2e_faults.py``; the bridge-level behaviour is in ``tests/bridge/test_faults.py``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch

from mgd.engines.generate import GenerateOptions, Prompt
from mgd.session import SessionConfig

from ._procs import children
from .conftest import fake_spec, received_methods

pytestmark = pytest.mark.e2e

TOKENS = 8
#: Prompt tokens the model sees (the language server still gets the whole file).
PROMPT_TOKENS = 64
#: Slack for one decoding step beyond its wait budget (a loaded 2-core machine).
STEP_MARGIN_S = 1.5
CIRCLE = ("area", "radius", "circumference", "scaled")


@dataclass(frozen=True)
class Fault:
    name: str
    script: str
    env: dict[str, str] = field(default_factory=dict)
    request_timeout_s: float = 2.0
    wait_s: float = 2.0
    counter: str = "failed_lookups"  # the HF guide counter that must show the fault
    log: str | None = None  # a warning that must be logged


HF_FAULTS = [
    # would answer after 30 s (deadline 60 s): the step waits 0.3 s and fails open
    Fault("slower than the wait budget", "hang", {"FAKE_DELAY": "30"}, request_timeout_s=60, wait_s=0.3,
          counter="late_lookups"),
    # the malformed reply kills the server at once: nothing waits for the 20 s deadline
    Fault("garbage JSON-RPC body", "malformed", {"FAKE_MODE": "body"}, request_timeout_s=20, wait_s=20,
          log="malformed JSON-RPC"),
    Fault("Content-Length too short", "malformed", {"FAKE_MODE": "short"}, request_timeout_s=20, wait_s=20,
          log="malformed JSON-RPC"),
    # the reader waits for bytes that never come: the request deadline ends it
    Fault("Content-Length too long", "malformed", {"FAKE_MODE": "long"}, request_timeout_s=0.5, wait_s=2),
    # no completionProvider: the bridge does not even ask
    Fault("no completion support", "no_completion", request_timeout_s=20, wait_s=20),
]


def prompt(hole: tuple[Path, Path, str, str], pid: str = "p") -> Prompt:
    ws, path, prefix, suffix = hole
    return Prompt(pid, ws, path, prefix, suffix)


@pytest.mark.parametrize("fault", HF_FAULTS, ids=[f.name for f in HF_FAULTS])
def test_hf_generation_survives(fault: Fault, with_session, demo_hole, tmp_path, caplog) -> None:
    log = tmp_path / "received.jsonl"
    spec = fake_spec(fault.script, log, fault.env, request_timeout_s=fault.request_timeout_s)
    before = children()
    with caplog.at_level(logging.WARNING, logger="lsp_bridge"):
        with with_session(SessionConfig(server=spec, wait_ms=fault.wait_s * 1000)) as gen:
            started = time.perf_counter()
            (res,) = gen.generate([prompt(demo_hole)], GenerateOptions(max_new_tokens=TOKENS, max_prompt_tokens=PROMPT_TOKENS))
            elapsed = time.perf_counter() - started
    assert res.error is None and res.tokens == TOKENS and res.completion
    stats = res.stats
    assert stats["triggers"] >= 1
    assert stats.get(fault.counter, 0) >= 1, stats
    # No step waited past its budget (lsp_ms: time decoding actually waited).
    assert stats["lsp_ms"] <= 1000 * (stats["triggers"] * fault.wait_s + STEP_MARGIN_S), stats
    assert elapsed < stats["triggers"] * fault.wait_s + 60
    if fault.wait_s >= 20:  # the fault was recognized, not waited out
        assert stats["lsp_ms"] < 10_000, stats
    if fault.log is not None:
        assert any(fault.log in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
    if fault.script == "no_completion":
        assert "textDocument/completion" not in received_methods(log)
    assert children() - before == set(), "a server process outlived the session"


def test_hf_server_killed_mid_generation_is_restarted(with_session, demo_hole, tmp_path) -> None:
    """The server answers once, is SIGKILLed on the next request, and is restarted."""
    spec = fake_spec("die_after", tmp_path / "received.jsonl", {"FAKE_ANSWERS": "1"}, request_timeout_s=5)
    options = GenerateOptions(max_new_tokens=TOKENS, stop=("\n",), max_prompt_tokens=PROMPT_TOKENS)
    before = children()
    with with_session(SessionConfig(server=spec, wait_ms=5000)) as gen:
        pool = gen.session.pool
        (first,) = gen.generate([prompt(demo_hole, "first")], options)
        assert first.error is None and first.stats["constrained_steps"] >= 1
        assert first.completion.startswith(CIRCLE), first.completion
        [server] = pool.servers()
        gen.session.request_cache.clear()  # the same document again: ask the server, not the session's cache
        (second,) = gen.generate([prompt(demo_hole, "second")], options)  # the server dies here
        assert second.error is None and second.tokens >= 1 and second.completion
        assert second.stats["failed_lookups"] >= 1
        assert not server.alive and server.returncode == -9
        time.sleep(0.6)  # past the restart backoff
        (third,) = gen.generate([prompt(demo_hole, "third")], options)
        assert third.error is None and third.stats["constrained_steps"] >= 1
        [restarted] = pool.servers()
        assert restarted.pid != server.pid
    assert children() - before == set()


# -- the vLLM processor's core (non-blocking guide), driven with the same model ------------

CORE_FAULTS = [
    Fault("hangs", "hang", request_timeout_s=1.0, wait_s=0.2),
    Fault("slower than the wait budget", "hang", {"FAKE_DELAY": "30"}, request_timeout_s=60, wait_s=0.2),
    Fault("killed on request", "crash_mid", wait_s=0.2),
    Fault("garbage JSON-RPC body", "malformed", {"FAKE_MODE": "body"}, wait_s=0.2),
    Fault("exits at start", "exit_at_start", wait_s=0.2),
    Fault("no completion support", "no_completion", wait_s=0.2),
]


def drive_core(core: Any, model: Any, tokenizer: Any, settings: Any, steps: int) -> tuple[list[int], list[float], Any]:
    """What the vLLM processor does per step, with an HF forward pass as the engine."""
    from mgd.engines.masking import mask_row

    ids = tokenizer(settings.prefix, verbose=False).input_ids[-PROMPT_TOKENS:]
    monitor = core.open(settings, ids)
    out: list[int] = []
    waits: list[float] = []
    for _ in range(steps):
        monitor.sync(out)
        started = time.perf_counter()
        res = monitor.step(started + settings.wait_ms / 1000.0)
        waits.append(time.perf_counter() - started)
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([ids + out])).logits[0, -1]
            if res.ids is not None:  # (Python's default monitors include the syntax guard: every step)
                mask_row(logits, res.ids)
        out.append(int(logits.argmax()))
        time.sleep(0.05)  # model time on a real engine: lookups run meanwhile
    return out, waits, monitor


@pytest.mark.parametrize("fault", CORE_FAULTS, ids=[f.name for f in CORE_FAULTS])
def test_vllm_core_survives(fault: Fault, generator, demo_hole, tmp_path) -> None:
    from mgd.vllm.core import MonitorCore

    ws, path, prefix, suffix = demo_hole
    spec = fake_spec(fault.script, tmp_path / "received.jsonl", fault.env, request_timeout_s=fault.request_timeout_s)
    before = children()
    # The generator's vocabulary index stands in for the tokenizer (MgdSession takes either).
    from mgd.config import SessionConfig

    # The server's monitor only: the syntax guard (in Python's defaults) constrains without a server.
    core = MonitorCore(generator.session.index, SessionConfig(allowed_roots=(ws,), server=spec,
                                                              monitors=("dereference",)))
    try:
        settings = core.parse({"workspace": str(ws), "file": path.name, "prefix": prefix, "suffix": suffix,
                               "wait_ms": fault.wait_s * 1000})
        out, waits, monitor = drive_core(core, generator.model, generator.tokenizer, settings, TOKENS)
        report = core.report()
        guide = monitor.report()
    finally:
        core.close()
    assert len(out) == TOKENS
    assert max(waits) <= fault.wait_s + STEP_MARGIN_S, waits
    assert guide["triggers"] >= 1
    assert report["open_steps"] + guide["failed_lookups"] >= 1, (report, guide)
    assert report["constrained_steps"] == 0  # nothing usable ever came back
    assert children() - before == set(), "a server process outlived the processor"
