"""The processor core's batch paths: one mask operation for many rows, lookups shared across requests."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from mgd.vllm.core import MonitorCore, mask_row, mask_rows
from mgd.vllm.settings import MgdSettings


def test_mask_rows_matches_masking_each_row() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 300, generator=gen)
    want = logits.clone()
    rows = [0, 2, 5]
    ids = [np.array([3, 7, 299]), np.array([0, 350, 400]), np.array([10, 11, 12, 13])]  # 350/400: out of range
    for r, a in zip(rows, ids, strict=True):
        mask_row(want[r], a)
    mask_rows(logits, rows, ids)
    assert torch.equal(logits, want)
    assert torch.isfinite(logits[2]).sum() == 1 and torch.isfinite(logits[1]).all()  # untouched row
    only_out = logits.clone()
    mask_rows(only_out, [1, 3], [np.array([999]), np.array([1000])])  # nothing in range: rows left alone
    assert torch.equal(only_out, logits)


@pytest.fixture(scope="module")
def core(tiny_model: Path, click_project: Path):
    c = MonitorCore(tiny_model, allowed_roots=(click_project,), server="jedi", request_timeout_s=30.0)
    yield c
    c.close()


def _settings(click_project: Path, suffix: str) -> MgdSettings:
    prefix = "from click.core import Context\n\n\ndef f(ctx: Context):\n    return ctx."
    return MgdSettings.parse({"workspace": str(click_project), "file": "click/_mgd_shared_probe.py",
                              "prefix": prefix, "suffix": suffix, "wait_ms": 30_000}, (click_project,))


@pytest.mark.e2e
def test_identical_requests_share_one_lookup(core: MonitorCore, click_project: Path) -> None:
    a = core.open(_settings(click_project, "\n"), [])
    b = core.open(_settings(click_project, "\n"), [])  # same document state: no second request
    assert (core.stats.lookups, core.stats.shared_lookups) == (1, 1)
    assert core.stats.forked_monitors == 1  # the second request's monitors are a fork, not a re-parse
    ra = a.step(time.perf_counter() + 30)
    rb = b.step(time.perf_counter() + 30)
    assert ra.ids is not None and rb.ids is not None and np.array_equal(ra.ids, rb.ids)
    assert rb.ids.size < core.session.index.size  # really constrained (Context members only)
    core.open(_settings(click_project, "\nx = 1\n"), [])  # another suffix: another document
    assert core.stats.lookups == 2
    core.forget_lookups()
    c = core.open(_settings(click_project, "\n"), [])
    assert (core.stats.lookups, core.stats.shared_lookups) == (3, 1)
    assert c.step(time.perf_counter() + 30).ids is not None
    assert core.report()["apply_ms"] == 0.0  # only apply() counts processor time


def test_shared_lookup_is_cancelled_only_when_its_last_reader_ends() -> None:
    import concurrent.futures

    from mgd.vllm.core import SharedLookups

    shared = SharedLookups()
    fut: concurrent.futures.Future[object] = concurrent.futures.Future()
    shared.put(("k",), fut)
    shared.hold(fut)
    shared.hold(fut)  # a second request reads the same lookup
    assert not shared.release(fut) and not fut.cancelled()  # one reader left
    assert shared.release(fut) and fut.cancelled() and shared.cancelled == 1
    assert shared.get(("k",)) is None  # a cancelled lookup is not shared any more
    done: concurrent.futures.Future[object] = concurrent.futures.Future()
    shared.hold(done)
    done.set_result(None)
    assert not shared.release(done) and not done.cancelled()  # answered: nothing to cancel
    assert not shared.release(done)  # releasing again is harmless


def _jedi_server(core: MonitorCore):
    return next(s for s in core.session.pool.servers() if s.spec.name == "jedi" and s.alive)


@pytest.mark.e2e
def test_ended_request_cancels_its_unanswered_lookup(core: MonitorCore, click_project: Path) -> None:
    """A request that leaves the batch before its lookup ran never reaches the server."""
    core.forget_lookups()
    warm = core.open(_settings(click_project, "\n# warm\n"), [])
    assert warm.step(time.perf_counter() + 30).ids is not None  # server up, file analysed once
    warm.close()
    path = click_project / "click" / "_mgd_shared_probe.py"
    server = _jedi_server(core)
    v0 = server.document_version(path)
    cancelled0, lookups0 = core.stats.cancelled_lookups, core.stats.lookups
    a = core.open(_settings(click_project, "\n# a\n"), [])  # sent at once
    b = core.open(_settings(click_project, "\n# b\n"), [])  # another text of the same file: queued behind a
    b.close()  # b finished before its lookup could run
    assert core.stats.lookups == lookups0 + 2
    assert core.stats.cancelled_lookups == cancelled0 + 1
    ra = a.step(time.perf_counter() + 30)
    assert ra.ids is not None and ra.ids.size < core.session.index.size  # a unaffected
    time.sleep(0.5)
    assert server.document_version(path) == v0 + 1  # only a's text was ever sent (b's would be +2)
    assert core.report()["unsent_lookups"] >= 1  # b waited in mgd's gate, not in the server's pipe
    assert b.step(time.perf_counter() + 0.05).ids is None  # b itself fails open, never raises
    # An identical request shares a's lookup; it survives the end of the request that started it.
    core.forget_lookups()
    c = core.open(_settings(click_project, "\n# c\n"), [])
    d = core.open(_settings(click_project, "\n# c\n"), [])
    c.close()
    assert core.stats.cancelled_lookups == cancelled0 + 1
    assert d.step(time.perf_counter() + 30).ids is not None
    d.close()
    assert core.stats.cancelled_lookups == cancelled0 + 1  # answered lookups are never cancelled


@pytest.mark.e2e
def test_v1_last_step_lets_go_of_pending_lookups(core: MonitorCore, click_project: Path) -> None:
    """At a request's last token (``max_tokens``) its unanswered lookups are cancelled
    right away, not when vLLM reports the request removed (at the next batch)."""
    from mgd.vllm.v1 import MgdV1LogitsProcessor, _Row

    def quick(suffix: str) -> MgdSettings:
        s = _settings(click_project, suffix)
        return MgdSettings.parse({"workspace": str(click_project), "file": "click/_mgd_shared_probe.py",
                                  "prefix": s.prefix, "suffix": suffix, "wait_ms": 0}, (click_project,))

    core.forget_lookups()
    proc = MgdV1LogitsProcessor.__new__(MgdV1LogitsProcessor)  # the engine's constructor needs a vllm_config
    proc.enabled, proc.core = True, core
    try:
        last = core.open(quick("\n# last\n"), [])
        more = core.open(quick("\n# more\n"), [])
        proc._rows = {0: _Row(last, [], 1), 1: _Row(more, [], 16)}
        c0 = core.stats.cancelled_lookups
        logits = torch.zeros(2, core.session.index.size)
        proc.apply(logits)
        assert torch.isfinite(logits).all()  # nothing ready within 0 ms: both rows ran free
        assert core.stats.cancelled_lookups == c0 + 1  # only the finishing request's lookup
        deadline = time.perf_counter() + 30
        while (res := more.step(deadline)).ids is None and time.perf_counter() < deadline:
            time.sleep(0.05)  # its budget is 0 ms: poll until its answer is there
        assert res.ids is not None  # the other request's lookup was left running and answers
    finally:
        proc.core = None  # the fixture owns the core (the processor's __del__ would close it)
