"""Hugging Face ``generate`` integration: a ``LogitsProcessor`` driven by guides."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from transformers import LogitsProcessor, StoppingCriteria

from mgd.engines.masking import apply_bitmask, bitmask_buffer, step_boost
from monitors.guide import SequenceGuide

__all__ = ["MonitorLogitsProcessor", "MonitorPrefetch"]


class MonitorLogitsProcessor(LogitsProcessor):
    """Masks each row of the batch with its own :class:`SequenceGuide`.

    ``prompt_length`` is the (padded) length of ``input_ids`` when generation
    starts; row ``b`` of the batch is followed by ``guides[b]`` (with
    ``num_return_sequences`` the rows are the expanded ones). Works for greedy
    and sampling; beam reordering is handled by replaying the row's tokens.

    The guides write their masks into one preallocated int32 bitmask
    (:attr:`bitmask`, ``(batch, ceil(V/32))``, through
    :meth:`~monitors.guide.SequenceGuide.fill_bitmask`), applied by
    :func:`~mgd.engines.masking.apply_bitmask`.
    """

    def __init__(self, guides: Sequence[SequenceGuide], prompt_length: int) -> None:
        self.guides = list(guides)
        self.prompt_length = prompt_length
        self.bitmask: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if input_ids.shape[0] != len(self.guides):
            raise ValueError(
                f"batch has {input_ids.shape[0]} rows but {len(self.guides)} guides were given"
            )
        generated = input_ids[:, self.prompt_length :].tolist()
        self.bitmask = bitmask = bitmask_buffer(len(self.guides), scores.shape[-1], self.bitmask)
        words = bitmask.numpy()
        rows: list[int] = []
        boosts = []
        for b, guide in enumerate(self.guides):
            guide.sync(generated[b])
            step = guide.fill_bitmask(words, b)
            if step.ids is not None:
                rows.append(b)
                boosts.append(step_boost(step))
        for b in apply_bitmask(scores, bitmask, rows, boosts):
            self.guides[b].unmasked()
        return scores


class MonitorPrefetch(StoppingCriteria):
    """Feeds each row's newly sampled token to its guide right after sampling.

    ``generate`` calls stopping criteria after appending the sampled token and
    before the next forward pass, so a lookup the token triggers (a ``(``, a dot,
    an import site) runs on the server *while* the model computes the next logits;
    :class:`MonitorLogitsProcessor` then finds the guide already in sync and waits
    only for what is left. Never stops a row. No sync after the last token
    (``max_new_tokens``): nobody would read that answer.
    """

    def __init__(self, guides: Sequence[SequenceGuide], prompt_length: int, max_new_tokens: int) -> None:
        self.guides = list(guides)
        self.prompt_length = prompt_length
        self.max_new_tokens = max_new_tokens

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: object) -> torch.BoolTensor:
        if input_ids.shape[1] - self.prompt_length < self.max_new_tokens:
            generated = input_ids[:, self.prompt_length :].tolist()
            for guide, row in zip(self.guides, generated, strict=False):
                guide.sync(row)
        return cast(torch.BoolTensor, torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device))
