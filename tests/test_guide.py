"""The per-sequence glue without a server: a static lookup stands in for the bridge.

(The bridge itself is tested against real servers in tests/bridge and end to end.)
"""

from __future__ import annotations

import concurrent.futures

import numpy as np
import pytest
import torch

from mgd.concurrency import FutureWaiter
from mgd.engines.hf import MonitorLogitsProcessor
from mgd.engines.masking import mask_row
from monitors.base import CompletionFacts, CompletionNeed
from monitors.dereference import DereferenceMonitor
from monitors.guide import SequenceGuide
from monitors.languages import get_language
from monitors.vocab import VocabIndex

PY = get_language("python")


class StaticLookup:
    """Answers every need with fixed names (or never, to model a hung server)."""

    def __init__(self, names: set[str] | None, *, ok: bool = True, hang: bool = False) -> None:
        self.names = frozenset(names or ())
        self.ok = ok
        self.hang = hang
        self.needs: list[CompletionNeed] = []

    def start(self, need: CompletionNeed) -> concurrent.futures.Future[CompletionFacts]:
        self.needs.append(need)
        fut: concurrent.futures.Future[CompletionFacts] = concurrent.futures.Future()
        if not self.hang:
            fut.set_result(CompletionFacts(need.serial, self.names, ok=self.ok))
        return fut


@pytest.fixture(scope="module")
def index(tiny_tokenizer) -> VocabIndex:
    return VocabIndex.from_tokenizer(tiny_tokenizer)


def decode(index: VocabIndex, ids) -> list[bytes]:
    return [index.token_bytes(int(i)) for i in ids]


def test_prompt_ending_with_dot_constrains_first_token(index, tiny_tokenizer) -> None:
    lookup = StaticLookup({"radius", "area"})
    guide = SequenceGuide([DereferenceMonitor(PY, "def f(c):\n    return c.")], lookup, index)
    step = guide.allowed()
    assert step.ids is not None and len(step.ids) > 0
    texts = decode(index, step.ids)
    assert all(b"radius".startswith(t) or b"area".startswith(t) or t.startswith((b"radius", b"area")) for t in texts)
    rad = tiny_tokenizer.convert_tokens_to_ids("radius")
    assert rad in set(step.ids.tolist()) or any(t == b"rad" for t in texts)
    assert lookup.needs and lookup.needs[0].offset == 0
    assert guide.stats.constrained_steps == 1


def test_identifier_then_free(index, tiny_tokenizer) -> None:
    guide = SequenceGuide([DereferenceMonitor(PY, "x = c.")], StaticLookup({"area"}), index)
    ids = tiny_tokenizer("area()", add_special_tokens=False).input_ids
    assert guide.allowed().ids is not None
    guide.advance(ids)
    assert guide.allowed().ids is None  # identifier done, no opinion
    assert guide.report()["accepted"] == 1


def test_failed_lookup_fails_open(index) -> None:
    guide = SequenceGuide([DereferenceMonitor(PY, "x = c.")], StaticLookup(None, ok=False), index)
    assert guide.allowed().ids is None
    assert guide.report()["failed_lookups"] == 1


def test_hung_lookup_waits_only_the_budget(index) -> None:
    import time

    guide = SequenceGuide([DereferenceMonitor(PY, "x = c.")], StaticLookup(None, hang=True), index, wait_s=0.05,
                          waiter=FutureWaiter())
    t0 = time.perf_counter()
    assert guide.allowed().ids is None
    assert 0.04 <= time.perf_counter() - t0 < 1.0
    rep = guide.report()
    assert rep["late_lookups"] == 1 and rep["failed_lookups"] == 1


class StepClock:
    """A waiter on a pretend clock: each wait answers the pending lookup after
    ``answer_after`` seconds (or never) and moves the clock by what it waited."""

    def __init__(self, answer_after: float | None, lookup: StaticLookup) -> None:
        self.t = 100.0
        self.answer_after = answer_after
        self.lookup = lookup
        self.budgets: list[float] = []

    def now(self) -> float:
        return self.t

    def wait(self, pending, budget_s: float) -> None:
        self.budgets.append(budget_s)
        if self.answer_after is not None and self.answer_after <= budget_s:
            self.t += self.answer_after
            pending.set_result(CompletionFacts(self.lookup.needs[-1].serial, frozenset({"area"})))
        else:
            self.t += budget_s


@pytest.mark.parametrize("answer_after", [0.2, None])
def test_the_guide_waits_only_through_the_waiter_it_is_given(index, answer_after) -> None:
    """No wall clock in the guide: the injected waiter decides; its clock measures the wait."""
    lookup = StaticLookup(None, hang=True)
    clock = StepClock(answer_after, lookup)
    guide = SequenceGuide([DereferenceMonitor(PY, "x = c.")], lookup, index, wait_s=1.5, waiter=clock)
    step = guide.allowed()
    assert clock.budgets == [1.5]
    rep = guide.report()
    if answer_after is None:
        assert step.ids is None and rep["late_lookups"] == 1
        assert rep["lsp_ms"] == pytest.approx(1500.0)
    else:
        assert step.ids is not None and rep["constrained_steps"] == 1
        assert rep["lsp_ms"] == pytest.approx(200.0)


def test_without_a_waiter_nothing_is_waited_for(index) -> None:
    guide = SequenceGuide([DereferenceMonitor(PY, "x = c.")], StaticLookup(None, hang=True), index, wait_s=60.0)
    assert guide.allowed().ids is None
    assert guide.report()["late_lookups"] == 1


def test_unspellable_candidates_are_a_counted_fallback() -> None:
    # A vocabulary that cannot spell "zz": the row would be fully masked, so the
    # guide leaves it free and counts a fallback.
    tiny = VocabIndex.from_token_bytes([b"a", b"b", b".", b"(", None], eos_ids=[4])
    guide = SequenceGuide([DereferenceMonitor(PY, "x = c.")], StaticLookup({"zz"}), tiny)
    step = guide.allowed()
    assert step.ids is None and step.fallback
    assert guide.report()["fallbacks"] == 1
    guide2 = SequenceGuide([DereferenceMonitor(PY, "x = c.")], StaticLookup({"ab"}), tiny)
    assert guide2.allowed().ids.tolist() == [0]


def test_sync_replays_after_reorder(index, tiny_tokenizer) -> None:
    guide = SequenceGuide([DereferenceMonitor(PY, "x = c.")], StaticLookup({"area", "radius"}), index)
    a = tiny_tokenizer("area", add_special_tokens=False).input_ids
    r = tiny_tokenizer("radius", add_special_tokens=False).input_ids
    guide.sync(a)
    assert guide.generated_ids == a
    guide.sync(r)  # a different history: replay from the start
    assert guide.generated_ids == r


def test_mask_row_keeps_only_ids() -> None:
    row = torch.arange(10, dtype=torch.float32)
    assert mask_row(row, np.array([2, 7, 12]))  # 12 is beyond the row: ignored
    assert row[2] == 2 and row[7] == 7
    assert torch.isinf(row[[0, 1, 3, 4, 5, 6, 8, 9]]).all()


def test_processor_masks_each_row(index) -> None:
    guides = [
        SequenceGuide([DereferenceMonitor(PY, "x = c.")], StaticLookup({"area"}), index),
        SequenceGuide([DereferenceMonitor(PY, "x = 1")], StaticLookup({"area"}), index),
    ]
    proc = MonitorLogitsProcessor(guides, prompt_length=3)
    scores = torch.zeros((2, index.size + 64))  # padded vocabulary
    out = proc(torch.zeros((2, 3), dtype=torch.long), scores)
    finite = torch.isfinite(out[0]).nonzero().flatten().numpy()
    assert set(finite.tolist()) == set(index.allowed_ids(guides[0]._monitors[0].constraint()).tolist())
    assert torch.isfinite(out[1]).all()  # the second row has no trigger
    with pytest.raises(ValueError):
        proc(torch.zeros((3, 3), dtype=torch.long), torch.zeros((3, 8)))
    assert np.all(finite < index.size)
