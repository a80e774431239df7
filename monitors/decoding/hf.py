"""Hugging Face ``generate`` integration: a ``LogitsProcessor`` driven by guides."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import LogitsProcessor

from monitors.decoding.guide import SequenceGuide

__all__ = ["MonitorLogitsProcessor", "apply_allowed"]


def apply_allowed(row: torch.Tensor, ids: torch.Tensor) -> None:
    """Keep only ``ids`` in one logits row (in place); ids beyond the row are dropped."""
    ids = ids[ids < row.shape[-1]]
    keep = row.index_select(0, ids)
    row.fill_(float("-inf"))
    row.index_copy_(0, ids, keep)


class MonitorLogitsProcessor(LogitsProcessor):
    """Masks each row of the batch with its own :class:`SequenceGuide`.

    ``prompt_length`` is the (padded) length of ``input_ids`` when generation
    starts; row ``b`` of the batch is followed by ``guides[b]`` (with
    ``num_return_sequences`` the rows are the expanded ones). Works for greedy
    and sampling; beam reordering is handled by replaying the row's tokens.
    """

    def __init__(self, guides: Sequence[SequenceGuide], prompt_length: int) -> None:
        self.guides = list(guides)
        self.prompt_length = prompt_length

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[0] != len(self.guides):
            raise ValueError(
                f"batch has {input_ids.shape[0]} rows but {len(self.guides)} guides were given"
            )
        generated = input_ids[:, self.prompt_length :].tolist()
        for b, guide in enumerate(self.guides):
            guide.sync(generated[b])
            step = guide.allowed()
            if step.ids is not None:
                ids = torch.from_numpy(step.ids.astype(np.int64)).to(scores.device, non_blocking=True)
                apply_allowed(scores[b], ids)
        return scores
