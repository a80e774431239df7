"""The Model-Runner-V2 logits processor (``add_request``/``apply(logits, ctx)``).

Register with ``vllm serve ... --logits-processors mgd.vllm.v2:MgdV2LogitsProcessor``
on the V2 runner (``VLLM_USE_V2_MODEL_RUNNER=1``, GPU), or through the ``mgd``
entry point. Rows are logits rows, not requests: under speculative decoding a
request owns one row per draft token plus the bonus row. Row ``j`` of a request
(``ctx.expanded_local_pos == j``) is masked from a tentative fork of the
request's monitors fed the drafts before it (``ctx.input_ids`` of rows 1..j); the
committed state only ever advances by committed tokens (positions before the
first row's, read from ``req_states.all_token_ids``, plus the first row's input).
A draft row holding a placeholder (-1: the padded first step after a KV transfer,
which vLLM's verification rejects) is never fed to the guide: it and the rows after
it are left as they are.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from vllm.v1.worker.gpu.sample.logits_processor import (  # pyright: ignore[reportMissingImports]
    LogitsContext,
    LogitsProcessor,
    LogitsProcRequestState,
)

from mgd.config import KEY, MgdSettings
from mgd.engines.masking import bitmask_buffer, mask_rows_in, step_boost
from mgd.vllm.common import operator_settings, processor_config, tokenizer_of, validate_sampling_params
from mgd.vllm.core import TAG_KEY, MonitorCore, RequestMonitor
from mgd.vllm.ranks import MaskChannel, MaskDigest, Placement, placement
from monitors.errors import MgdError

__all__ = ["MgdV2LogitsProcessor"]

log = logging.getLogger("mgd.vllm")


@dataclass(slots=True)
class _Slot:
    settings: MgdSettings | None  # None on a follower rank (it never opens monitors)
    monitor: RequestMonitor | None = None
    committed: list[int] = field(default_factory=list)  # output tokens known to be final
    failed: bool = False
    tag: str | None = None


class MgdV2LogitsProcessor(LogitsProcessor):
    """Masks the rows of slots whose request has ``mgd`` settings.

    Only the leader rank asks language servers; under tensor parallelism it sends
    each step's masks to the other ranks, which apply them (:mod:`mgd.vllm.ranks`).
    """

    #: The masks' preallocated int32 bitmask (grows with the batch; built at the first masked step).
    _bitmask: torch.Tensor | None = None

    def __init__(self, vllm_config: Any, req_states: LogitsProcRequestState, *, enabled: bool = True) -> None:
        self.where = placement() if enabled else Placement("idle")
        self.enabled = enabled and self.where.role != "idle"
        self.req_states = req_states
        self.core = MonitorCore(tokenizer_of(vllm_config), processor_config(operator_settings(vllm_config)))
        self.channel = MaskChannel(self.where)
        self.digest = MaskDigest()
        self._slots: dict[int, _Slot] = {}

    @classmethod
    def validate_params(cls, sampling_params: Any) -> None:
        validate_sampling_params(sampling_params)

    def add_request(self, req_idx: int, sampling_params: Any) -> bool:
        old = self._slots.pop(req_idx, None)  # slots are recycled: the old request has ended
        if old is not None and old.monitor is not None:
            old.monitor.close()
        extra = getattr(sampling_params, "extra_args", None) or {}
        if not self.enabled or KEY not in extra:
            return False
        if not self.where.asks_servers:  # a follower: joins the exchange, applies the leader's masks
            self._slots[req_idx] = _Slot(None, failed=True)
            return True
        settings = None
        try:
            settings = validate_sampling_params(sampling_params)
        except (MgdError, ValueError) as exc:
            log.warning("mgd: request left unconstrained: %s", exc)
        tag = extra.get(TAG_KEY)
        # Kept even when it failed: every rank joins the exchange for the same slots.
        self._slots[req_idx] = _Slot(settings, tag=None if tag is None else str(tag), failed=settings is None)
        return True

    def apply(self, logits: torch.Tensor, ctx: LogitsContext) -> torch.Tensor:
        slots = self._slots
        if not slots or not any(int(s) in slots for s in ctx.idx_mapping_np):
            return logits
        t0 = time.perf_counter()
        mapping = ctx.expanded_idx_mapping.tolist()
        local = ctx.expanded_local_pos.tolist()
        tokens = ctx.input_ids.tolist()
        pos = ctx.pos.tolist()
        rows: dict[int, list[int]] = {}
        masked: list[int] = []
        allowed: list[Any] = []
        boosts: list[Any] = []
        owner: dict[int, RequestMonitor] = {}
        for r, s in enumerate(mapping):
            if s in slots:
                rows.setdefault(s, []).append(r)
        for s, rs in rows.items():
            rs.sort(key=lambda r: local[r])
            slot = slots[s]
            monitor = self._monitor(s, slot)
            if monitor is None:
                continue
            first = rs[0]
            if tokens[first] < 0:  # not a token: leave the request's rows (and its state) alone
                continue
            self._commit(s, slot, pos[first], tokens[first])
            monitor.sync(slot.committed)
            for k, r in enumerate(rs):
                if k and tokens[r] < 0:
                    # A placeholder draft (the padded first step after a KV transfer): vLLM rejects
                    # it, so this row and the later ones are never sampled from.
                    break
                draft = [tokens[rs[j]] for j in range(1, k + 1)]
                res = monitor.step(t0 + monitor.wait_s, draft)
                if res.ids is not None:
                    masked.append(r)
                    allowed.append(res.ids)
                    boosts.append(step_boost(res))
                    owner[r] = monitor
        masked, allowed, boosts = self.channel.exchange(masked, allowed, logits.shape[1], boosts)
        self.digest.fold([(pos[r], tokens[r]) for rs in rows.values() for r in rs], masked, allowed)
        self._bitmask = bitmask_buffer(logits.shape[0], logits.shape[1], self._bitmask)
        for r in mask_rows_in(self._bitmask, logits, masked, allowed, boosts):
            if r in owner:
                owner[r].unmasked()
        self.core._applied((time.perf_counter() - t0) * 1000.0)
        return logits

    def _monitor(self, s: int, slot: _Slot) -> RequestMonitor | None:
        if slot.monitor is None and not slot.failed and slot.settings is not None:
            prompt_len = int(self.req_states.prompt_len.np[s])
            prompt = self.req_states.all_token_ids.gpu[s, :prompt_len].tolist()
            try:
                slot.monitor = self.core.open(slot.settings, prompt, slot.tag)
            except (MgdError, ValueError, OSError) as exc:
                log.warning("mgd: request left unconstrained: %s", exc)
                slot.failed = True
        return slot.monitor

    def _commit(self, s: int, slot: _Slot, first_pos: int, first_token: int) -> None:
        """Committed output = tokens at prompt_len..first_pos-1, then the first row's input."""
        prompt_len = int(self.req_states.prompt_len.np[s])
        n = first_pos - prompt_len  # committed tokens before the first row's position
        if n < 0:  # the row is the prompt's last position: nothing generated yet
            slot.committed = []
            return
        have = slot.committed[:n]
        if len(have) < n:
            start = prompt_len + len(have)
            have = have + self.req_states.all_token_ids.gpu[s, start : prompt_len + n].tolist()
        slot.committed = [*have, int(first_token)]

    def close(self) -> None:
        self.core.close()

    def __del__(self) -> None:
        try:
            self.core.close()
        except Exception:  # noqa: BLE001
            pass
