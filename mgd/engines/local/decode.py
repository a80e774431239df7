"""The local engine's decode loop: masked greedy/sampled steps on a KV cache, with
speculation while the language server thinks.

One step: the model's logits row for the next token, masked by the
:class:`~monitors.guide.SequenceGuide` (the one masking rule, through
``VocabIndex``), a pick, the stop rule. The cancel flag and the deadline are
checked before every forward pass and every pick.

**Decoding during the lookup wait** (greedy only, ``speculate``): at ``obj.`` the
first masked step needs the language server's answer. Instead of idling, the loop
keeps decoding with the *unmasked* argmax and remembers each row. When the answer
arrives every provisional token is checked in order against the mask of its own
step: a token the mask allows is exactly what masked greedy decoding picks (masking
only removes ids, so an allowed argmax stays the argmax); the first one it does not
allow is replaced by the masked argmax of the remembered row and the rest is
dropped (the KV cache is cropped). The text is therefore the same as waiting; only
the wait is used.

**Prefill before the debounce ends** (``decode_after``): the prompt is run at once,
in chunks of :data:`PREFILL_CHUNK` tokens with the cancel flag checked between
them (a superseded request stops within one chunk and what it ran stays in the
KV cache for the next prompt), and the first token is picked no earlier than
``decode_after``.

**The first token** waits for the language server's answer at the cursor until the
deadline, not just ``wait_s``: a step that failed open right after the user's dot
would write unchecked text (``t_class``) where the completion matters most; out of
time, the request answers what it has (nothing). Later triggers fail open after
``wait_s`` as everywhere.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from mgd.engines.kvcache import crop_cache
from mgd.engines.local.forward import Forward
from mgd.engines.masking import mask_row, masked_copy, step_boost
from mgd.engines.sampling import Sampling
from mgd.engines.stopping import StopRule
from monitors.guide import SequenceGuide

__all__ = ["PREFILL_CHUNK", "Clock", "DecodeLoop", "DecodeOutcome"]

#: Prompt tokens per forward pass of a long prefill (the cancel flag is checked between chunks).
PREFILL_CHUNK = 128


class Clock:
    """Wall time per phase (ms): each :meth:`lap` charges the time since the previous one."""

    def __init__(self) -> None:
        self._last = time.perf_counter()
        self.ms: dict[str, float] = {}

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.ms[phase] = self.ms.get(phase, 0.0) + (now - self._last) * 1000.0
        self._last = now

    def report(self) -> dict[str, float]:
        return {k: round(v, 2) for k, v in self.ms.items()}


@dataclass(slots=True)
class DecodeOutcome:
    """What the loop produced: committed ids after the prompt, text, why it stopped."""

    tokens: list[int]
    text: str
    stopped: str
    cache: Any  # holds seq[: cache.get_seq_length()]
    seq: list[int]  # prompt + committed tokens
    stats: dict[str, Any] = field(default_factory=dict)


class DecodeLoop:
    """One request's decoding (single use; the caller holds the model's lock)."""

    def __init__(
        self,
        forward: Forward,
        *,
        guide: SequenceGuide | None,
        rule: StopRule,
        token_bytes: Any,  # id -> bytes
        stop_ids: frozenset[int],
        cancel: threading.Event,
        deadline: float,
        max_new_tokens: int,
        wait_s: float,
        sampling: Sampling,
        speculate: int,
        clock: Clock,
        generator: torch.Generator | None = None,
        decode_after: float = 0.0,
    ) -> None:
        self.forward, self.guide, self.rule = forward, guide, rule
        self.token_bytes, self.stop_ids, self.cancel = token_bytes, stop_ids, cancel
        self.deadline, self.max_new, self.wait_s = deadline, max_new_tokens, wait_s
        self.sampling, self.generator, self.clock = sampling, generator, clock
        self.decode_after = decode_after
        self.greedy = sampling.greedy
        self.speculate = speculate if self.greedy and guide is not None else 0
        self.seq: list[int] = []
        self.new: list[int] = []
        self.gen_bytes = bytearray()
        self.text = ""
        self.stopped: str | None = None
        self.passes = 0
        self.spec_tokens = 0
        self.spec_kept = 0

    # -- one committed token ---------------------------------------------------------
    def _interrupted(self) -> bool:
        if self.cancel.is_set():
            self.stopped = "cancelled"
        elif time.perf_counter() >= self.deadline:
            self.stopped = "budget"
        return self.stopped is not None

    def _commit(self, tid: int) -> bool:
        """Append a picked token; True when decoding must stop (eos, stop rule, length)."""
        if tid in self.stop_ids:
            self.stopped = "eos"
            return True
        self.new.append(tid)
        self.seq.append(tid)
        if self.guide is not None:
            self.guide.advance([tid])
        self.gen_bytes += self.token_bytes(tid)
        self.text = self.gen_bytes.decode("utf-8", "ignore")
        cut = self.rule.cut(self.text)
        self.clock.lap("stop_ms")
        if cut is not None:
            self.text = self.text[:cut]
            self.stopped = "stop"
            return True
        if len(self.new) >= self.max_new:
            self.stopped = "length"
            self.text = self.gen_bytes.decode("utf-8", "replace")
            return True
        return False

    def _masked_pick(self, row: torch.Tensor, wait_s: float) -> int | None:
        """Mask ``row`` with the guide (waiting at most ``wait_s``) and pick; None if interrupted."""
        if self.guide is not None:
            step = self.guide.allowed(wait_s=min(wait_s, max(0.0, self.deadline - time.perf_counter())))
            if step.ids is not None:
                mask_row(row, step.ids, step_boost(step))
        self.clock.lap("guide_step_ms")
        if self._interrupted():
            # Out of time (a late lookup may have left this step unguided): stop rather
            # than return a token the monitors could not check.
            return None
        return self.sampling.pick(row, self.generator)

    def _run(self, ids: list[int], cache: Any) -> tuple[torch.Tensor, Any]:
        self.clock.lap("other_ms")
        phase = "prefill_ms" if self.passes == 0 else "decode_ms"
        while len(ids) > PREFILL_CHUNK:  # a long prompt: in chunks, stoppable between them
            _, cache = self.forward.run(ids[:PREFILL_CHUNK], cache)
            ids = ids[PREFILL_CHUNK:]
            if self.cancel.is_set():
                raise _Stopped(cache)
        rows, cache = self.forward.run(ids, cache)
        self.clock.lap(phase)
        self.passes += 1
        return rows[0], cache

    def _hold(self) -> None:
        """Wait (cancellably) until ``decode_after``: the debounce window."""
        left = self.decode_after - time.perf_counter()
        if left > 0:
            self.cancel.wait(left)
            self.clock.lap("debounce_ms")

    def _crop(self, cache: Any) -> None:
        """Drop cached positions of tokens that were not committed (keeps seq[:-1] at most)."""
        crop_cache(cache, len(self.seq) - 1)

    # -- the loop ----------------------------------------------------------------------
    def run(self, prompt: list[int], cache: Any, reused: int) -> DecodeOutcome:
        self.seq = list(prompt)
        pending = prompt[reused:]
        if self.max_new <= 0:
            self.stopped = "length"
        while self.stopped is None:
            if self._interrupted():
                break
            try:
                row, cache = self._run(pending, cache)
            except _Stopped as stop:
                cache = stop.cache
                self.stopped = "cancelled"
                break
            if self.passes == 1:
                self._hold()
                if self._interrupted():
                    break
            if self.speculate and self.guide is not None and self.guide.ready_allowed() is None:
                got = self._speculate(row, cache)
                if got is None:
                    break
                row, cache, tid = got
                if tid is not None:  # a provisional token was replaced: run it next
                    if self._commit(tid):
                        break
                    self._crop(cache)
                    pending = [tid]
                    continue
                if self.stopped is not None:
                    break
            # The first token waits for the lookup at the cursor as long as the budget allows:
            # unchecked text right after the user's dot is worse than none (a cold language
            # server's first answer can take longer than wait_s).
            wait = self.wait_s if self.new else max(self.wait_s, self.deadline - time.perf_counter())
            tid = self._masked_pick(row, wait)
            if tid is None or self._commit(tid):
                break
            pending = [tid]
        if cache is not None:
            self._crop(cache)
        stats = {"forward_passes": self.passes}
        if self.speculate:
            stats["spec_tokens"], stats["spec_kept"] = self.spec_tokens, self.spec_kept
        return DecodeOutcome(self.new, self.text, self.stopped or "length", cache, self.seq, stats)

    def _speculate(self, row: torch.Tensor, cache: Any) -> tuple[torch.Tensor, Any, int | None] | None:
        """Decode unmasked while a lookup is outstanding, then check every provisional token.

        Returns the row to continue from, the cache, and the id that replaced a
        provisional token (None if all were kept); None when interrupted.
        """
        assert self.guide is not None
        started = time.perf_counter()
        spec: list[tuple[int, torch.Tensor]] = []
        text = bytearray(self.gen_bytes)
        room = min(self.speculate, self.max_new - len(self.new) - 1)
        while len(spec) < room and self.guide.ready_allowed() is None:
            if self._interrupted():
                return None
            tid = int(torch.argmax(row))
            if tid in self.stop_ids:
                break
            text += self.token_bytes(tid)
            if self.rule.cut(text.decode("utf-8", "ignore")) is not None:
                break  # it would stop here: check it first
            spec.append((tid, row.clone()))
            row, cache = self._run([tid], cache)
            self.seq.append(tid)  # provisional: the cache now holds it
        self.clock.lap("spec_ms")
        del self.seq[len(self.seq) - len(spec) :]
        self.spec_tokens += len(spec)
        wait_left = max(0.0, self.wait_s - (time.perf_counter() - started))
        for tid, old_row in spec:
            step = self.guide.allowed(wait_s=min(wait_left, max(0.0, self.deadline - time.perf_counter())))
            self.clock.lap("guide_step_ms")
            wait_left = self.wait_s
            if self._interrupted():
                return None
            boost = step_boost(step)
            if step.ids is None or (_contains(step.ids, tid) and (
                    boost is None or int(torch.argmax(masked_copy(old_row, step.ids, boost))) == tid)):
                self.spec_kept += 1
                if self._commit(tid):
                    return row, cache, None
                continue
            mask_row(old_row, step.ids, boost)
            return row, cache, self.sampling.pick(old_row, self.generator)
        return row, cache, None


class _Stopped(Exception):  # noqa: N818 - control flow inside the loop
    """Cancelled between prefill chunks; ``cache`` holds the chunks that ran."""

    def __init__(self, cache: Any) -> None:
        super().__init__("cancelled during the prefill")
        self.cache = cache


def _contains(sorted_ids: np.ndarray, tid: int) -> bool:
    i = int(np.searchsorted(sorted_ids, tid))
    return i < sorted_ids.size and int(sorted_ids[i]) == tid
