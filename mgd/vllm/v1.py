"""The V1-runner logits processor (``update_state``/``apply``).

Register with ``LLM(logits_processors=[MgdV1LogitsProcessor])`` or
``vllm serve ... --logits-processors mgd.vllm.v1:MgdV1LogitsProcessor``
(the ``mgd`` entry point registers :class:`mgd.vllm.plugin.MgdLogitsProcessor`,
which picks this class on the V1 runner). Output tokens are read in ``apply()``
through the live ``output_ids`` list vLLM hands over (under GPU async scheduling
it may hold placeholders until just before sampling).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import torch
from vllm.v1.sample.logits_processor import (  # pyright: ignore[reportMissingImports]
    BatchUpdate,
    LogitsProcessor,
    MoveDirectionality,
)

from mgd.config import KEY
from mgd.engines.masking import bitmask_buffer, mask_rows_in, step_boost
from mgd.vllm.common import operator_settings, processor_config, tokenizer_of, validate_sampling_params
from mgd.vllm.core import TAG_KEY, MonitorCore, RequestMonitor
from mgd.vllm.ranks import MaskChannel, MaskDigest, Placement, placement
from monitors.errors import MgdError

__all__ = ["MgdV1LogitsProcessor"]

log = logging.getLogger("mgd.vllm")


@dataclass(slots=True)
class _Row:
    monitor: RequestMonitor | None  # None: a follower's row, or a request mgd could not open
    output_ids: list[int]  # vLLM's live list of the request's output tokens
    max_tokens: int | None = None  # the request ends after this many output tokens


def _close(row: _Row | None) -> None:
    if row is not None and row.monitor is not None:
        row.monitor.close()


class MgdV1LogitsProcessor(LogitsProcessor):
    """Masks the rows of requests with ``mgd`` settings; other rows are untouched.

    Only the leader rank asks language servers; under tensor parallelism it sends
    each step's masks to the other ranks, which apply them (:mod:`mgd.vllm.ranks`).
    """

    #: The masks' preallocated int32 bitmask (grows with the batch; built at the first masked step).
    _bitmask: torch.Tensor | None = None

    def __init__(self, vllm_config: Any, device: torch.device, is_pin_memory: bool, *, enabled: bool = True) -> None:
        self.where = placement() if enabled else Placement("idle")
        self.enabled = enabled and self.where.role != "idle"
        # Guides are built off the engine thread (during the prefill), see RequestMonitor.
        self.core = MonitorCore(tokenizer_of(vllm_config), processor_config(operator_settings(vllm_config)), background=True)
        self.channel = MaskChannel(self.where)
        self.digest = MaskDigest()
        self._rows: dict[int, _Row] = {}

    @classmethod
    def validate_params(cls, sampling_params: Any) -> None:
        validate_sampling_params(sampling_params)

    def is_argmax_invariant(self) -> bool:
        return False  # it masks tokens: greedy results change

    def update_state(self, batch_update: BatchUpdate | None) -> None:
        if not self.enabled:
            return
        if batch_update is not None:
            self._update_rows(batch_update)
        self._prefetch()

    def _prefetch(self) -> None:
        """Feed every row the token sampled last step now, before the forward pass
        (vLLM calls ``update_state`` every step, ahead of the model): a lookup that
        token triggers runs while the model computes instead of starting in ``apply()``.
        Under async scheduling the token is still a placeholder; ``apply()`` feeds it."""
        for row in self._rows.values():
            out = row.output_ids
            if row.monitor is not None and out and out[-1] >= 0:
                row.monitor.sync(out)

    def _update_rows(self, batch_update: BatchUpdate) -> None:
        rows = self._rows
        for index in batch_update.removed:
            _close(rows.pop(index, None))  # finished, aborted or preempted: drop its pending lookups
        for index, params, prompt_ids, output_ids in batch_update.added:
            _close(rows.pop(index, None))
            row = self._open(params, prompt_ids or [], output_ids)
            if row is not None:
                rows[index] = row
        for a, b, direction in batch_update.moved:
            ra, rb = rows.pop(a, None), rows.pop(b, None)
            if ra is not None:
                rows[b] = ra
            if direction == MoveDirectionality.SWAP and rb is not None:
                rows[a] = rb

    def _open(self, params: Any, prompt_ids: list[int], output_ids: list[int]) -> _Row | None:
        """A row for a request with ``mgd`` settings (every rank keeps one: they all join
        the mask exchange on the same steps); only the leader builds its monitor."""
        extra = getattr(params, "extra_args", None) or {}
        if KEY not in extra:
            return None
        row = _Row(None, output_ids, getattr(params, "max_tokens", None))
        if not self.where.asks_servers:
            return row
        try:
            settings = validate_sampling_params(params)
            if settings is not None:
                tag = extra.get(TAG_KEY)
                row.monitor = self.core.open(settings, prompt_ids, None if tag is None else str(tag))
        except (MgdError, ValueError, OSError) as exc:  # never raise into the engine step
            log.warning("mgd: request left unconstrained: %s", exc)
        return row

    def apply(self, logits: torch.Tensor) -> torch.Tensor:
        if not self._rows:
            return logits
        t0 = time.perf_counter()
        n = logits.shape[0]
        active = [(index, row) for index, row in self._rows.items() if index < n]
        if not active:
            return logits
        masked: list[int] = []
        allowed: list[Any] = []
        boosts: list[Any] = []
        for index, row in active:
            if row.monitor is None:
                continue
            out = row.output_ids
            if out and out[-1] < 0:  # async-scheduling placeholder: not known yet
                continue
            row.monitor.sync(out)
            res = row.monitor.step(t0 + row.monitor.wait_s)
            if res.ids is not None:
                masked.append(index)
                allowed.append(res.ids)
                boosts.append(step_boost(res))
            if row.max_tokens is not None and len(out) + 1 >= row.max_tokens:
                # The token sampled now is the request's last: nothing can read its
                # pending lookups any more, so they need not reach the server (vLLM
                # reports the request as removed only when it schedules the next batch).
                row.monitor.close()
        masked, allowed, boosts = self.channel.exchange(masked, allowed, logits.shape[1], boosts)
        self.digest.fold([(len(r.output_ids), r.output_ids[-1] if r.output_ids else -1) for _, r in active],
                         masked, allowed)
        self._bitmask = bitmask_buffer(logits.shape[0], logits.shape[1], self._bitmask)
        for index in mask_rows_in(self._bitmask, logits, masked, allowed, boosts):
            monitor = self._rows[index].monitor
            if monitor is not None:
                monitor.unmasked()
        self.core._applied((time.perf_counter() - t0) * 1000.0)
        return logits

    def close(self) -> None:
        self.core.close()

    def __del__(self) -> None:  # the engine has no shutdown hook for processors
        try:
            self.core.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
