"""The processor core's batch paths: one mask operation for many rows, lookups shared across requests."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from monitors.vllm.core import MonitorCore, mask_row, mask_rows
from monitors.vllm.settings import MgdSettings


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
