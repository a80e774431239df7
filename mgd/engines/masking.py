"""The one masking function: keep only the allowed ids in logits rows, never a row empty.

Every engine applies a guide's :class:`~monitors.guide.StepResult` through
:func:`mask_rows` (a batch) or :func:`mask_row` (one row): the Hugging Face
logits processor, the tree decoder, the editor's decoder and both vLLM
processors. The never-fully-masked guard lives here: ids at or past the row's
width (a tokenizer with more ids than the model's logits) are dropped, and a row
left with no allowed id in range is not touched at all (the step runs free); the
functions say which rows that happened to, so callers count it as a fallback
(:meth:`monitors.guide.SequenceGuide.unmasked`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["mask_row", "mask_rows", "masked_copy"]


def _in_range(ids: np.ndarray, width: int) -> np.ndarray:
    return ids[ids < width] if ids.size and int(ids[-1]) >= width else ids


def mask_row(row: torch.Tensor, ids: np.ndarray) -> bool:
    """Keep only ``ids`` (sorted) in the 1-D logits ``row``, in place.

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
    return True


def masked_copy(row: torch.Tensor, ids: np.ndarray | None) -> torch.Tensor:
    """A masked copy of ``row`` (``ids`` None: the row itself, unmasked)."""
    if ids is None:
        return row
    out = row.clone()
    mask_row(out, ids)
    return out


def mask_rows(logits: torch.Tensor, rows: Sequence[int], ids: Sequence[np.ndarray]) -> list[int]:
    """Keep only ``ids[k]`` in row ``rows[k]`` of the 2-D ``logits`` (in place), all rows at once.

    One gather, one fill and one scatter for the whole batch. Returns the rows left
    alone because none of their ids is inside the row.
    """
    if len(rows) != len(ids):
        raise ValueError(f"{len(rows)} rows but {len(ids)} id arrays")
    if not rows:
        return []
    if len(rows) == 1:
        return [] if mask_row(logits[rows[0]], ids[0]) else [rows[0]]
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
    return skipped
