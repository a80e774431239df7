"""The processor core's sharing: lookups shared across requests, one cancel path when requests end."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch

from mgd.config import MgdSettings, SessionConfig
from mgd.vllm.core import MonitorCore


@pytest.fixture(scope="module")
def core(tiny_model: Path, click_project: Path):
    # The dereference monitor only: these tests follow its lookups (Python's default monitors
    # include the syntax guard, which constrains every step without a server).
    c = MonitorCore(tiny_model, SessionConfig(allowed_roots=(click_project,), server="jedi", request_timeout_s=30.0,
                                              monitors=("dereference",)))
    yield c
    c.close()


def stat(core: MonitorCore, key: str) -> float:
    return core.report()[key]


def _settings(click_project: Path, suffix: str) -> MgdSettings:
    prefix = "from click.core import Context\n\n\ndef f(ctx: Context):\n    return ctx."
    return MgdSettings.parse({"workspace": str(click_project), "file": "click/_mgd_shared_probe.py",
                              "prefix": prefix, "suffix": suffix, "wait_ms": 30_000}, (click_project,))


@pytest.mark.e2e
def test_identical_requests_share_one_lookup(core: MonitorCore, click_project: Path) -> None:
    a = core.open(_settings(click_project, "\n"), [])
    b = core.open(_settings(click_project, "\n"), [])  # same document state: no second request
    assert (stat(core, "lookups"), stat(core, "shared_lookups")) == (1, 1)
    assert stat(core, "forked_monitors") == 1  # the second request's monitors are a fork, not a re-parse
    ra = a.step(time.perf_counter() + 30)
    rb = b.step(time.perf_counter() + 30)
    assert ra.ids is not None and rb.ids is not None and np.array_equal(ra.ids, rb.ids)
    assert rb.ids.size < core.session.index.size  # really constrained (Context members only)
    core.open(_settings(click_project, "\nx = 1\n"), [])  # another suffix: another document
    assert stat(core, "lookups") == 2
    core.forget_lookups()
    c = core.open(_settings(click_project, "\n"), [])
    assert (stat(core, "lookups"), stat(core, "shared_lookups")) == (3, 1)
    assert c.step(time.perf_counter() + 30).ids is not None
    assert core.report()["apply_ms"] == 0.0  # only apply() counts processor time


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
    cancelled0, lookups0 = stat(core, "cancelled_lookups"), stat(core, "lookups")
    a = core.open(_settings(click_project, "\n# a\n"), [])  # sent at once
    b = core.open(_settings(click_project, "\n# b\n"), [])  # another text of the same file: queued behind a
    b.close()  # b finished before its lookup could run
    assert stat(core, "lookups") == lookups0 + 2
    assert stat(core, "cancelled_lookups") == cancelled0 + 1
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
    assert stat(core, "cancelled_lookups") == cancelled0 + 1
    assert d.step(time.perf_counter() + 30).ids is not None
    d.close()
    assert stat(core, "cancelled_lookups") == cancelled0 + 1  # answered lookups are never cancelled


@pytest.mark.e2e
def test_v1_last_step_lets_go_of_pending_lookups(core: MonitorCore, click_project: Path) -> None:
    """At a request's last token (``max_tokens``) its unanswered lookups are cancelled
    right away, not when vLLM reports the request removed (at the next batch)."""
    from mgd.vllm.ranks import MaskChannel, MaskDigest, Placement
    from mgd.vllm.v1 import MgdV1LogitsProcessor, _Row

    def quick(suffix: str) -> MgdSettings:
        s = _settings(click_project, suffix)
        return MgdSettings.parse({"workspace": str(click_project), "file": "click/_mgd_shared_probe.py",
                                  "prefix": s.prefix, "suffix": suffix, "wait_ms": 0}, (click_project,))

    core.forget_lookups()
    proc = MgdV1LogitsProcessor.__new__(MgdV1LogitsProcessor)  # the engine's constructor needs a vllm_config
    proc.enabled, proc.core, proc.where = True, core, Placement("leader")
    proc.channel, proc.digest = MaskChannel(proc.where), MaskDigest()
    try:
        last = core.open(quick("\n# last\n"), [])
        more = core.open(quick("\n# more\n"), [])
        proc._rows = {0: _Row(last, [], 1), 1: _Row(more, [], 16)}
        c0 = stat(core, "cancelled_lookups")
        logits = torch.zeros(2, core.session.index.size)
        proc.apply(logits)
        assert torch.isfinite(logits).all()  # nothing ready within 0 ms: both rows ran free
        assert stat(core, "cancelled_lookups") == c0 + 1  # only the finishing request's lookup
        deadline = time.perf_counter() + 30
        while (res := more.step(deadline)).ids is None and time.perf_counter() < deadline:
            time.sleep(0.05)  # its budget is 0 ms: poll until its answer is there
        assert res.ids is not None  # the other request's lookup was left running and answers
    finally:
        proc.core = None  # the fixture owns the core (the processor's __del__ would close it)


@pytest.mark.e2e
def test_a_requests_lookup_finds_its_warm_up_answer(core: MonitorCore, click_project: Path) -> None:
    """The warm-up (``mgd serve`` starts it from the prompt text as a request arrives) asks the
    question the request's guide asks from the prompt's token ids: one lookup, shared."""
    core.forget_lookups()
    prompt = "from click.core import Context\n\n\ndef g(ctx: Context):\n    return ctx."
    settings = MgdSettings.parse({"workspace": str(click_project), "file": "click/_mgd_warm_probe.py",
                                  "suffix": "\n", "wait_ms": 30_000}, (click_project,))
    lookups0, shared0 = stat(core, "lookups"), stat(core, "shared_lookups")
    token = core.warm(settings, prompt, prompt=True)
    assert stat(core, "lookups") == lookups0 + 1
    ids = core._tokenize(prompt)  # as vLLM tokenizes a completion prompt
    request = core.open(settings, ids)
    assert (stat(core, "lookups"), stat(core, "shared_lookups")) == (lookups0 + 1, shared0 + 1)
    res = request.step(time.perf_counter() + 30)
    assert res.ids is not None and res.ids.size < core.session.index.size
    deadline = time.monotonic() + 10
    while not core.warmed(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert core.warmed(token)  # answered: the warm-up is closed
    request.close()
