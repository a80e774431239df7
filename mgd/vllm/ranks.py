"""A processor's place among vLLM's ranks, and the one mask every sampling rank applies.

Read from vLLM 0.32 (``vllm/v1/worker/gpu_model_runner.py``, ``sample_tokens``):
under tensor parallelism the logits are all-gathered (``use_all_gather``) and
*every* rank of the last pipeline stage samples for itself, writing its own
sampled ids into its own input batch; nothing but identical logits and identical
sampling keeps the ranks in step. Pipeline stages before the last never sample
(they get the tokens from the last stage or the scheduler). A mask that depends
on timing (a lookup ready on one rank, failed open on another) would therefore
make tensor-parallel ranks sample different tokens and silently desynchronise,
and a processor that asked the servers on every rank would start one set of
language servers per GPU.

So exactly one rank per engine consults the language servers: the
**leader**, tensor-parallel rank 0 of the last pipeline stage. It decides each
step's masks (waiting within the budget, failing open, all of it) and
broadcasts them through the tensor-parallel group (vLLM's shared-memory
message queue within a node); the **followers** (the other ranks of that stage)
apply exactly what they receive and never start a server; earlier pipeline
stages are **idle** (never masked, never asked). Leader and followers join the
broadcast on the same steps: those whose batch holds a request with ``mgd``
settings, a fact every rank sees identically (the same scheduler output), so
the exchange cannot deadlock. Data-parallel engines are separate engines, each
with its own leader and its own language servers.

:class:`MaskDigest` folds every masked row and the rows' output tokens into a
running CRC per rank, so a test (or an operator) can compare ranks.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = ["MaskChannel", "MaskDigest", "Placement", "decode_ids", "encode_ids", "placement"]

Role = Literal["leader", "follower", "idle"]


@dataclass(frozen=True, slots=True)
class Placement:
    """``role`` of this processor; ``tp_rank``/``tp_size`` within its tensor-parallel
    group; ``group``: vLLM's ``GroupCoordinator`` when there are followers."""

    role: Role
    tp_rank: int = 0
    tp_size: int = 1
    group: Any = None

    @property
    def asks_servers(self) -> bool:
        return self.role == "leader"


def placement() -> Placement:
    """Where the calling worker sits (a lone leader outside a distributed vLLM)."""
    try:
        from vllm.distributed import parallel_state as ps  # pyright: ignore[reportMissingImports]

        if not ps.model_parallel_is_initialized():
            return Placement("leader")
        pp, tp = ps.get_pp_group(), ps.get_tp_group()
    except (ImportError, AssertionError, AttributeError):  # unit tests, other vLLM versions
        return Placement("leader")
    if not pp.is_last_rank:
        return Placement("idle", tp.rank_in_group, tp.world_size)
    if tp.world_size == 1:
        return Placement("leader")
    role: Role = "leader" if tp.rank_in_group == 0 else "follower"
    return Placement(role, tp.rank_in_group, tp.world_size, tp)


class MaskChannel:
    """Sends the leader's masks of one step to the followers (a no-op alone).

    Each row's allowed ids travel as int32 ids or as a packed bitmap over the
    vocabulary, whichever is smaller.
    """

    def __init__(self, where: Placement) -> None:
        self.where = where

    @property
    def shared(self) -> bool:
        return self.where.group is not None

    def exchange(self, rows: Sequence[int], allowed: Sequence[np.ndarray], width: int,
                 boosts: Sequence[tuple[np.ndarray, float] | None] | None = None,
                 ) -> tuple[list[int], list[np.ndarray], list[tuple[np.ndarray, float] | None]]:
        """Leader: send ``rows``/``allowed`` (ids below ``width``, the logits row) and the
        soft preferences ``boosts`` and return them. Follower: return the leader's.
        Alone: return them."""
        group = self.where.group
        prefs: list[tuple[np.ndarray, float] | None] = list(boosts) if boosts is not None else [None] * len(rows)
        if group is None:
            return list(rows), list(allowed), prefs
        if self.where.role == "leader":
            group.broadcast_object([(int(r), encode_ids(a, width),
                                     None if b is None else (encode_ids(b[0], width), float(b[1])))
                                    for r, a, b in zip(rows, allowed, prefs, strict=True)], src=0)
            return list(rows), list(allowed), prefs
        message = group.broadcast_object(None, src=0)
        return ([r for r, _, _ in message], [decode_ids(p, width) for _, p, _ in message],
                [None if b is None else (decode_ids(b[0], width), b[1]) for _, _, b in message])


def encode_ids(ids: np.ndarray, width: int) -> tuple[str, bytes]:
    """Token ids as int32 bytes or a packed bitmap of ``width`` bits, whichever is smaller."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size * 4 <= (width + 7) // 8:
        return "ids", ids.astype(np.int32).tobytes()
    bits = np.zeros(width, dtype=bool)
    bits[ids[(ids >= 0) & (ids < width)]] = True
    return "bits", np.packbits(bits).tobytes()


def decode_ids(payload: tuple[str, bytes], width: int) -> np.ndarray:
    """The ids :func:`encode_ids` encoded."""
    kind, data = payload
    if kind == "ids":
        return np.frombuffer(data, dtype=np.int32).astype(np.int64)
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=width)
    return np.flatnonzero(bits).astype(np.int64)


def _sorted_int32(ids: np.ndarray) -> np.ndarray:
    """``ids`` ascending as contiguous int32 (sorted only when they are not already: masks
    usually are, and a whole vocabulary's ids are sorted in milliseconds every step)."""
    a = np.asarray(ids)
    if a.size > 1 and not bool((a[1:] > a[:-1]).all()):
        a = np.sort(a)
    return np.ascontiguousarray(a, dtype=np.int32)


class MaskDigest:
    """A running CRC of what one rank saw and masked (compare it across ranks)."""

    def __init__(self) -> None:
        self.value = 0
        self.steps = 0
        self.masked_rows = 0

    def fold(self, tokens: Sequence[tuple[int, int]], rows: Sequence[int], allowed: Sequence[np.ndarray]) -> None:
        """One step: each gated row's ``(position, last token)``, then the masked rows' ids
        (folded every step, so the whole history of the rows is covered)."""
        crc = self.value
        if tokens:
            crc = zlib.crc32(np.asarray(tokens, dtype=np.int64).tobytes(), crc)
        for r, ids in zip(rows, allowed, strict=True):
            crc = zlib.crc32(np.int64(r).tobytes(), crc)
            crc = zlib.crc32(_sorted_int32(ids).data, crc)
        self.value = crc
        self.steps += 1
        self.masked_rows += len(rows)

    def as_dict(self) -> dict[str, int]:
        return {"digest": self.value, "digest_steps": self.steps, "masked_rows": self.masked_rows}
