"""The one masking function: keep only the allowed ids in logits rows, never a row empty.

Every engine applies a guide's :class:`~monitors.guide.StepResult` through
:func:`apply_bitmask` (a batch, from the int32 ``(batch, ceil(V/32))`` bitmask the
guides wrote into the engine's buffer: the Hugging Face logits processor),
:func:`mask_rows` (a batch, from id arrays: both vLLM processors) or :func:`mask_row`
(one row: the tree decoder, the editor's decoder). The never-fully-masked guard lives here: ids at or past the row's
width (a tokenizer with more ids than the model's logits) are dropped, and a row
left with no allowed id in range is not touched at all (the step runs free); the
functions say which rows that happened to, so callers count it as a fallback
(:meth:`monitors.guide.SequenceGuide.unmasked`).

A step may also carry a soft preference (``StepResult.boost``/``bonus``, from
expected types): after masking, ``bonus`` is added to the logits of those ids. It
never forbids anything, and it is applied here only, so every engine (and every
tensor-parallel rank) prefers the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from monitors.vocab import VocabIndex

__all__ = ["Boost", "apply_bitmask", "bitmask_buffer", "mask_row", "mask_rows", "mask_rows_in", "masked_copy",
           "step_boost"]

#: A soft preference for one row: (sorted ids, bonus added to their logits).
Boost = tuple[np.ndarray, float]


def step_boost(step: object) -> Boost | None:
    """The preference a guide's ``StepResult`` carries, or None."""
    ids = getattr(step, "boost", None)
    bonus = float(getattr(step, "bonus", 0.0) or 0.0)
    return (ids, bonus) if ids is not None and ids.size and bonus > 0 else None


def _apply_boost(row: torch.Tensor, boost: Boost | None) -> None:
    if boost is None:
        return
    ids = _in_range(boost[0], row.shape[-1])
    if ids.size:
        idx = torch.from_numpy(ids.astype(np.int64)).to(row.device, non_blocking=True)
        row.index_add_(0, idx, torch.full((ids.size,), boost[1], dtype=row.dtype, device=row.device))


def _boost_rows(logits: torch.Tensor, rows: Sequence[int], boosts: Sequence[Boost | None] | None,
                skipped: Sequence[int]) -> None:
    """Add each row's preference, except to the rows the guard left alone."""
    if boosts is not None:
        for r, b in zip(rows, boosts, strict=True):
            if b is not None and r not in skipped:
                _apply_boost(logits[r], b)


def _in_range(ids: np.ndarray, width: int) -> np.ndarray:
    return ids[ids < width] if ids.size and int(ids[-1]) >= width else ids


def mask_row(row: torch.Tensor, ids: np.ndarray, boost: Boost | None = None) -> bool:
    """Keep only ``ids`` (sorted) in the 1-D logits ``row``, in place, then add the
    ``boost`` preference.

    Returns False (row untouched) when no id is inside the row: the guard against
    a fully masked row.
    """
    ids = _in_range(ids, row.shape[-1])
    if ids.size == 0:
        return False
    idx = torch.from_numpy(ids.astype(np.int64)).to(row.device, non_blocking=True)
    keep = row.index_select(0, idx)
    row.fill_(float("-inf"))
    row.index_copy_(0, idx, keep)
    _apply_boost(row, boost)
    return True


def masked_copy(row: torch.Tensor, ids: np.ndarray | None, boost: Boost | None = None) -> torch.Tensor:
    """A masked (and boosted) copy of ``row`` (``ids`` None: the row itself, unmasked)."""
    if ids is None:
        return row
    out = row.clone()
    mask_row(out, ids, boost)
    return out


def mask_rows(logits: torch.Tensor, rows: Sequence[int], ids: Sequence[np.ndarray],
              boosts: Sequence[Boost | None] | None = None) -> list[int]:
    """Keep only ``ids[k]`` in row ``rows[k]`` of the 2-D ``logits`` (in place), all rows
    at once, then add ``boosts[k]`` (optional) to the rows that were masked.

    One gather, one fill and one scatter for the whole batch. Returns the rows left
    alone because none of their ids is inside the row.
    """
    if len(rows) != len(ids):
        raise ValueError(f"{len(rows)} rows but {len(ids)} id arrays")
    if boosts is not None and len(boosts) != len(rows):
        raise ValueError(f"{len(rows)} rows but {len(boosts)} boosts")
    if not rows:
        return []
    if len(rows) == 1:
        return [] if mask_row(logits[rows[0]], ids[0], boosts[0] if boosts else None) else [rows[0]]
    width = logits.shape[-1]
    keep_rows: list[int] = []
    parts: list[np.ndarray] = []
    counts: list[int] = []
    skipped: list[int] = []
    for r, a in zip(rows, ids, strict=True):
        a = _in_range(a, width)
        if a.size:
            keep_rows.append(r)
            parts.append(a)
            counts.append(a.size)
        else:
            skipped.append(r)
    if not keep_rows:
        return skipped
    dev = logits.device
    row_idx = torch.tensor(keep_rows, dtype=torch.int64).to(dev, non_blocking=True)
    cols = torch.from_numpy(np.concatenate(parts).astype(np.int64)).to(dev, non_blocking=True)
    local = torch.repeat_interleave(torch.arange(len(keep_rows)), torch.tensor(counts)).to(dev, non_blocking=True)
    sub = logits.index_select(0, row_idx)
    masked = torch.full_like(sub, float("-inf"))
    masked[local, cols] = sub[local, cols]
    logits.index_copy_(0, row_idx, masked)
    _boost_rows(logits, rows, boosts, skipped)
    return skipped


def bitmask_buffer(batch: int, width: int, current: torch.Tensor | None = None) -> torch.Tensor:
    """The engine's preallocated int32 ``(rows, ceil(width/32))`` bitmask (CPU), at least
    ``batch`` rows: ``current`` when it is that wide and has the rows (a batch that shrinks
    keeps its buffer), else a new one."""
    words = (width + 31) // 32
    if current is not None and current.shape[1] == words and current.shape[0] >= batch:
        return current
    return torch.zeros((batch, words), dtype=torch.int32)


_SHIFTS = torch.arange(32, dtype=torch.int32)


def mask_rows_in(bitmask: torch.Tensor, logits: torch.Tensor, rows: Sequence[int], ids: Sequence[np.ndarray],
                 boosts: Sequence[Boost | None] | None = None) -> list[int]:
    """:func:`mask_rows` through the engine's preallocated ``bitmask`` (:func:`bitmask_buffer`
    with at least as many rows as ``logits``): each row's ids are written into its words
    (:meth:`monitors.vocab.VocabIndex.fill_bitmask`), then :func:`apply_bitmask` masks
    (same guard, same boosts). For engines whose guides answer with ids (vLLM: the leader
    rank's ids, broadcast to the tensor-parallel followers)."""
    if len(rows) != len(ids):
        raise ValueError(f"{len(rows)} rows but {len(ids)} id arrays")
    words = bitmask.numpy()
    for r, a in zip(rows, ids, strict=True):
        VocabIndex.fill_bitmask(np.asarray(a, dtype=np.int64), words[r])
    return apply_bitmask(logits, bitmask, rows, boosts)


def apply_bitmask(logits: torch.Tensor, bitmask: torch.Tensor, rows: Sequence[int],
                  boosts: Sequence[Boost | None] | None = None) -> list[int]:
    """Keep in row ``rows[k]`` of the 2-D ``logits`` (in place) only the ids whose bit is
    set in ``bitmask[rows[k]]`` (int32 words, bit ``i % 32`` of word ``i // 32``: the
    vLLM/XGrammar layout), then add ``boosts[k]`` (optional) to the rows that were masked.

    Bits past the logits' width are ignored and missing bits count as not allowed. A row
    with no allowed id inside its width is left alone (the guard) and returned.
    """
    if boosts is not None and len(boosts) != len(rows):
        raise ValueError(f"{len(rows)} rows but {len(boosts)} boosts")
    if not rows:
        return []
    width = logits.shape[-1]
    words = bitmask.index_select(0, torch.tensor(list(rows), dtype=torch.int64, device=bitmask.device))
    bits = ((words.unsqueeze(-1) >> _SHIFTS.to(words.device)) & 1).bool().reshape(len(rows), -1)
    if bits.shape[1] < width:
        bits = torch.nn.functional.pad(bits, (0, width - bits.shape[1]), value=False)
    allowed = bits[:, :width]
    empty = (~allowed.any(dim=1)).tolist()
    skipped = [r for r, e in zip(rows, empty, strict=True) if e]
    keep = [k for k, e in enumerate(empty) if not e]
    if keep:
        dev = logits.device
        row_idx = torch.tensor([rows[k] for k in keep], dtype=torch.int64).to(dev, non_blocking=True)
        sub = logits.index_select(0, row_idx)
        sub.masked_fill_(~allowed[keep].to(dev, non_blocking=True), float("-inf"))
        logits.index_copy_(0, row_idx, sub)
    _boost_rows(logits, rows, boosts, skipped)
    return skipped
