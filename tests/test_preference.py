"""The soft preference (expected types): guide -> StepResult.boost -> the one masking function."""

from __future__ import annotations

import concurrent.futures

import numpy as np
import torch

from mgd.engines.hf import MonitorLogitsProcessor
from mgd.engines.masking import mask_row, mask_rows, masked_copy, step_boost
from monitors.base import CompletionEntry, CompletionFacts, CompletionNeed, ItemKind
from monitors.dereference import PREFER_BONUS, DereferenceMonitor
from monitors.guide import SequenceGuide
from monitors.languages import get_language
from monitors.vocab import VocabIndex

JAVA = get_language("java")
ITEMS = (("year", "Book.year() : int"), ("title", "Book.title() : String"),
         ("copy", "Book.copy() : Book"), ("print", "Book.print() : void"))


class TypedLookup:
    """Answers with JDT-LS-like items (names and ``detail`` types)."""

    def start(self, need: CompletionNeed) -> concurrent.futures.Future[CompletionFacts]:
        fut: concurrent.futures.Future[CompletionFacts] = concurrent.futures.Future()
        entries = tuple(CompletionEntry(n, int(ItemKind.Method), d, n) for n, d in ITEMS)
        fut.set_result(CompletionFacts(need.serial, frozenset(n for n, _ in ITEMS), entries=entries))
        return fut


def test_mask_row_adds_the_bonus_to_preferred_ids_only() -> None:
    row = torch.zeros(10)
    assert mask_row(row, np.array([1, 3, 5]), (np.array([3]), 2.5))
    assert row[3] == 2.5 and row[1] == 0 and row[5] == 0
    assert torch.isinf(row[[0, 2, 4, 6, 7, 8, 9]]).all()
    assert masked_copy(torch.zeros(10), None, (np.array([3]), 2.5)).sum() == 0  # unmasked: untouched


def test_mask_rows_batch_equals_rows_one_by_one() -> None:
    torch.manual_seed(0)
    logits = torch.randn(3, 12)
    rows, ids = [0, 2], [np.array([1, 2, 3]), np.array([4, 11])]
    boosts = [(np.array([2]), 1.5), (np.array([11, 20]), 3.0)]  # 20 is past the row: dropped
    expected = logits.clone()
    for r, a, b in zip(rows, ids, boosts, strict=True):
        mask_row(expected[r], a, b)
    assert mask_rows(logits, rows, ids, boosts) == []
    assert torch.equal(logits, expected)


def test_guide_prefers_members_of_the_expected_type(tiny_tokenizer) -> None:
    index = VocabIndex.from_tokenizer(tiny_tokenizer)
    prompt = "class A {\n  int f(Book b) {\n    int n = b."
    guide = SequenceGuide([DereferenceMonitor(JAVA, prompt, expected_types=True)], TypedLookup(), index)
    step = guide.allowed()
    boost = step_boost(step)
    assert boost is not None and boost[1] == PREFER_BONUS
    allowed = {index.token_bytes(int(i)) for i in step.ids}
    preferred = {index.token_bytes(int(i)) for i in boost[0]}
    assert preferred < allowed  # a strict subset: nothing is forbidden by a preference
    # Tokens that spell the start of ``year`` only (a token shared by several names would
    # make the preference a no-op until the names diverge).
    assert all(b"year".startswith(t) or t.startswith(b"year") for t in preferred)
    assert not any(t.startswith(b"pr") for t in allowed)  # void at a value site: dropped
    # The HF processor applies exactly that: the greedy pick spells (the start of) year.
    scores = torch.zeros(1, len(tiny_tokenizer))
    proc = MonitorLogitsProcessor([guide], prompt_length=0)
    out = proc(torch.zeros(1, 0, dtype=torch.long), scores)
    assert index.token_bytes(int(out[0].argmax())) in preferred
    assert guide.report()["preferred_steps"] >= 1


def test_no_boost_at_a_statement(tiny_tokenizer) -> None:
    index = VocabIndex.from_tokenizer(tiny_tokenizer)
    guide = SequenceGuide([DereferenceMonitor(JAVA, "class A {\n  void f(Book b) {\n    b.", expected_types=True)],
                          TypedLookup(), index)
    step = guide.allowed()
    assert step.ids is not None and step_boost(step) is None
