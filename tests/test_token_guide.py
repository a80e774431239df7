"""The guide's engine interface (``TokenGuide``: accept, validate, rollback, fill a bitmask,
is terminated) and the bitmask path of the one masking function."""

from __future__ import annotations

import concurrent.futures

import numpy as np
import pytest
import torch

from mgd.engines.hf import MonitorLogitsProcessor
from mgd.engines.masking import apply_bitmask, bitmask_buffer, mask_rows, mask_rows_in
from monitors.base import CompletionFacts, CompletionNeed
from monitors.dereference import DereferenceMonitor
from monitors.guide import SequenceGuide, TokenGuide
from monitors.languages import get_language
from monitors.vocab import VocabIndex

PY = get_language("python")


class Names:
    """Answers every need at once with fixed names."""

    def __init__(self, names: set[str]) -> None:
        self.names = frozenset(names)

    def start(self, need: CompletionNeed) -> concurrent.futures.Future[CompletionFacts]:
        return answered(CompletionFacts(need.serial, self.names))


def answered(facts: CompletionFacts) -> concurrent.futures.Future[CompletionFacts]:
    fut: concurrent.futures.Future[CompletionFacts] = concurrent.futures.Future()
    fut.set_result(facts)
    return fut


@pytest.fixture(scope="module")
def index(tiny_tokenizer) -> VocabIndex:
    return VocabIndex.from_tokenizer(tiny_tokenizer)


def _guide(index: VocabIndex, prompt: str = "x = c.") -> SequenceGuide:
    return SequenceGuide([DereferenceMonitor(PY, prompt)], Names({"area", "radius"}), index)


def _bits(ids_per_row: list[np.ndarray | None], width: int) -> torch.Tensor:
    out = bitmask_buffer(len(ids_per_row), width)
    words = out.numpy()
    for r, ids in enumerate(ids_per_row):
        if ids is None:
            words[r] = -1
        else:
            VocabIndex.fill_bitmask(ids, words[r])
    return out


@pytest.mark.parametrize("seed", range(8))
def test_apply_bitmask_masks_like_mask_rows(seed: int) -> None:
    """Same rows kept, same values, same guard (ids only past the width), same boosts."""
    rng = np.random.default_rng(seed)
    width, batch = 70, 5
    ids = [np.unique(rng.integers(0, width + 40, size=int(rng.integers(1, 12)))).astype(np.int32)
           for _ in range(batch)]
    ids[1] = np.array([width + 3, width + 9], dtype=np.int32)  # nothing inside the row
    boosts = [(ids[r][:1], 2.5) if r % 2 == 0 else None for r in range(batch)]
    rows = [0, 1, 2, 4]
    logits = torch.from_numpy(rng.standard_normal((batch, width)).astype(np.float32))
    want, got = logits.clone(), logits.clone()
    skipped = mask_rows(want, rows, [ids[r] for r in rows], [boosts[r] for r in rows])
    # a buffer wider than the row (padding), as an engine allocates for a bigger tokenizer
    assert 1 in skipped
    assert apply_bitmask(got, _bits(ids, width + 40), rows, [boosts[r] for r in rows]) == skipped
    assert torch.equal(got, want)


def test_a_narrow_bitmask_allows_nothing_past_it() -> None:
    logits = torch.zeros((1, 64))
    assert apply_bitmask(logits, _bits([np.array([3], dtype=np.int32)], 32), [0]) == []
    assert torch.isfinite(logits[0]).nonzero().flatten().tolist() == [3]


def test_fill_bitmask_writes_the_step_into_the_engines_row(index: VocabIndex) -> None:
    guide = _guide(index)
    buffer = bitmask_buffer(3, index.size + 64)
    words = buffer.numpy()
    step = guide.fill_bitmask(words, 1)
    c = guide.constraints()[0]
    assert step.ids is not None
    assert np.array_equal(words[1], index.bitmask(c, index.size + 64))
    free = _guide(index, "x = 1")
    assert free.fill_bitmask(words, 2).ids is None and (words[2] == -1).all()
    assert (words[0] == 0).all()  # other rows untouched


def test_the_processor_reuses_one_buffer_and_masks_as_before(index: VocabIndex) -> None:
    guides = [_guide(index), _guide(index, "x = 1")]
    proc = MonitorLogitsProcessor(guides, prompt_length=3)
    scores = torch.randn((2, index.size + 64))
    expected = scores.clone()
    reference = [_guide(index), _guide(index, "x = 1")]
    steps = [g.allowed() for g in reference]
    mask_rows(expected, [0], [steps[0].ids])
    out = proc(torch.zeros((2, 3), dtype=torch.long), scores.clone())
    assert torch.equal(out, expected)
    buffer = proc.bitmask
    assert buffer is not None and buffer.dtype == torch.int32 and buffer.shape == (2, (index.size + 64 + 31) // 32)
    proc(torch.zeros((2, 3), dtype=torch.long), torch.randn((2, index.size + 64)))
    assert proc.bitmask is buffer  # preallocated once, written in place


def test_accept_validate_rollback_terminate(index: VocabIndex, tiny_tokenizer) -> None:
    guide: TokenGuide = _guide(index)
    area = tiny_tokenizer("area", add_special_tokens=False).input_ids
    bad = tiny_tokenizer("zzz", add_special_tokens=False).input_ids
    assert guide.validate_tokens(area) == area
    assert guide.validate_tokens(bad) == []  # not a member: refused at the first token
    assert guide.validate_tokens(area + [bad[0]]) == area  # "area" + "z..." names no member
    assert guide.accept_tokens(area) and not guide.is_terminated()
    assert isinstance(guide, SequenceGuide) and guide.generated_ids == area
    guide.rollback(len(area))
    assert guide.generated_ids == []
    fresh = _guide(index)
    assert np.array_equal(guide.allowed().ids, fresh.allowed().ids)  # back at the trigger
    eos = next(iter(index.eos_ids))
    guide.accept_tokens([eos])
    assert guide.is_terminated()


def test_session_guides_share_one_memo_and_the_real_waiter(index: VocabIndex, tmp_path) -> None:
    """The session, not the guide, owns the clock and the kept answers (the index keeps none)."""
    from mgd.concurrency import FutureWaiter, SharedMemo
    from mgd.config import SessionConfig
    from mgd.session import MgdSession

    (tmp_path / "m.py").write_text("")
    with MgdSession(index, SessionConfig(monitors=("syntax",))) as session:
        guides = [session.guide(tmp_path, "m.py", "x = f(1, ") for _ in range(2)]
        assert isinstance(session.memo, SharedMemo) and isinstance(session.waiter, FutureWaiter)
        first = guides[0].allowed()
        hits = session.memo.info()["hits"]
        second = guides[1].allowed()
        assert session.memo.info()["hits"] > hits  # the second guide's constraint was kept by the first
        assert first.ids is not None and np.array_equal(first.ids, second.ids)


@pytest.mark.parametrize("seed", range(6))
def test_mask_rows_in_a_reused_buffer_masks_like_mask_rows(seed: int) -> None:
    """The vLLM processors' path: ids written into one buffer kept across steps (a batch
    that shrinks reuses it; stale rows from the last step never leak into this one)."""
    rng = np.random.default_rng(seed)
    width = 70
    buffer = None
    for batch in (6, 3, 5):
        ids = [np.unique(rng.integers(0, width + 10, size=int(rng.integers(1, 12)))).astype(np.int32)
               for _ in range(batch)]
        boosts = [(ids[r][:1], 1.5) if r % 2 else None for r in range(batch)]
        rows = sorted(rng.choice(batch, size=int(rng.integers(1, batch + 1)), replace=False).tolist())
        logits = torch.from_numpy(rng.standard_normal((batch, width)).astype(np.float32))
        want, got = logits.clone(), logits.clone()
        skipped = mask_rows(want, rows, [ids[r] for r in rows], [boosts[r] for r in rows])
        before = buffer
        buffer = bitmask_buffer(batch, width, buffer)
        assert before is None or batch > before.shape[0] or buffer is before
        assert mask_rows_in(buffer, got, rows, [ids[r] for r in rows], [boosts[r] for r in rows]) == skipped
        assert torch.equal(got, want)
