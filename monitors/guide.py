"""Per-sequence glue: monitors + lookups + the vocabulary index -> allowed token ids.

One :class:`SequenceGuide` follows one generated sequence. The engine calls
:meth:`SequenceGuide.advance` with the token ids it has sampled and
:meth:`SequenceGuide.allowed` before sampling the next one (or the
:class:`TokenGuide` interface: ``accept_tokens``, ``fill_bitmask``, ...). The guide
feeds token bytes to its monitors, starts a lookup as soon as a monitor needs facts
(so the server works while the model runs), and turns the monitors' constraints into
allowed token ids through the shared :class:`~monitors.vocab.VocabIndex`. The
monitors of a sequence read one :class:`~monitors.document.Document` (built together:
:func:`monitors.registry.build_monitors`); the guide feeds them each token in turn (the
first appends its text, once), and forks, replays and restores them as a group
(:func:`monitors.base.fork_monitors`): one document per guide and per fork
(:attr:`SequenceGuide.documents`).

Pure: a lookup's answer is a :class:`Pending` value, and how long a step waits for
one is asked of the :class:`Waiter` the engine injects (``mgd.concurrency.FutureWaiter``
waits on real futures against the wall clock; the default, :class:`NoWait`, never
waits). Nothing here blocks longer than its wait budget: a late or failed lookup
makes the monitor fail open for that trigger, and it is counted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np

from monitors.base import (
    CompletionFacts,
    Facts,
    IdentifierConstraint,
    Monitor,
    MonitorStats,
    Need,
    documents_of,
    failed_facts,
    fork_monitors,
)
from monitors.document import Document
from monitors.vocab import IdsMemo, VocabIndex

__all__ = ["Lookup", "NoWait", "Pending", "SequenceGuide", "StepResult", "TokenGuide", "Waiter"]

T_co = TypeVar("T_co", covariant=True)


class Pending(Protocol[T_co]):
    """An answer on its way (``concurrent.futures.Future`` is one)."""

    def done(self) -> bool:
        """Answered, failed or cancelled."""
        ...

    def result(self) -> T_co:
        """The answer (raises when it failed or was cancelled); asked only once ``done()``."""
        ...

    def cancel(self) -> bool:
        """Give it up (no effect once done)."""
        ...


class Waiter(Protocol):
    """The engine's clock and its way of waiting (the guide has neither)."""

    def now(self) -> float:
        """Seconds on a monotonic clock."""
        ...

    def wait(self, pending: Pending[object], budget_s: float) -> None:
        """Return once ``pending`` is done or ``budget_s`` seconds have passed."""
        ...


class NoWait:
    """A waiter that never waits (its clock stands still): what is not done at a
    step is late. For guides without a server, or tests with answered lookups."""

    def now(self) -> float:
        return 0.0

    def wait(self, pending: Pending[object], budget_s: float) -> None:
        return None


class Lookup(Protocol):
    """Starts fetching the facts a monitor needs; never blocks.

    A lookup may also offer ``provisional(need) -> Facts | None``: facts to use
    while the real answer is pending (see ``SequenceGuide(provisional=True)``),
    and ``eta_s(pending) -> float | None``: when the answer is expected (a
    non-blocking guide does not wait for one that cannot come within its budget).
    """

    def start(self, need: Need) -> Pending[Facts]: ...


class TokenGuide(Protocol):
    """The guide as an engine drives it: the shape of vLLM's structured-output grammar
    (``StructuredOutputGrammar``), with masks written into the engine's buffer.

    The bitmask is int32 ``(batch, ceil(V / 32))``: bit ``i % 32`` of word ``i // 32``
    of a row is set when id ``i`` is allowed (the vLLM/XGrammar layout); the engine
    applies it with ``mgd.engines.masking.apply_bitmask``.
    """

    def accept_tokens(self, tokens: Sequence[int]) -> bool:
        """Feed sampled tokens (in order); True when they were taken."""
        ...

    def validate_tokens(self, tokens: Sequence[int]) -> list[int]:
        """The longest prefix of ``tokens`` the guide allows, known without waiting
        (the state is not changed)."""
        ...

    def rollback(self, num_tokens: int) -> None:
        """Forget the last ``num_tokens`` accepted tokens."""
        ...

    def fill_bitmask(self, bitmask: np.ndarray, row: int, wait_s: float | None = None) -> StepResult:
        """Write the next token's allowed ids into ``bitmask[row]`` (every bit set when
        anything goes) and return the step they came from (its preference, fallback)."""
        ...

    def is_terminated(self) -> bool:
        """The sequence ended (an end-of-sequence token was accepted)."""
        ...

    def close(self) -> None:
        """The sequence is over: give up what is pending."""
        ...


class _Never:
    """An answer that never comes (until it is cancelled, like a future nobody sets)."""

    __slots__ = ("_cancelled",)

    def __init__(self) -> None:
        self._cancelled = False

    def done(self) -> bool:
        return self._cancelled

    def result(self) -> Facts:
        raise RuntimeError("cancelled" if self._cancelled else "never answered")

    def cancel(self) -> bool:
        self._cancelled = True
        return True


class _NoLookup:
    """A lookup that never answers (forks that must not reach the server)."""

    def start(self, need: Need) -> Pending[Facts]:
        return _Never()


@dataclass(frozen=True, slots=True)
class StepResult:
    """What the guide allows for the next token: ``None`` means anything.
    ``provisional``: the ids come (in part) from provisional facts, not the server's."""

    ids: np.ndarray | None
    fallback: bool = False
    provisional: bool = False
    #: A soft preference: ids (a subset of ``ids``) whose logits get ``bonus`` added
    #: (:attr:`monitors.base.IdentifierConstraint.preferred`); None: no preference.
    boost: np.ndarray | None = None
    bonus: float = 0.0


class SequenceGuide:
    """Monitors of one sequence, their pending lookups, and the masking rule."""

    def __init__(
        self,
        monitors: Sequence[Monitor],
        lookup: Lookup,
        index: VocabIndex,
        *,
        wait_s: float = 0.0,
        blocking: bool = True,
        provisional: bool = False,
        max_tokens: int | None = None,
        waiter: Waiter | None = None,
        memo: IdsMemo | None = None,
    ) -> None:
        """``wait_s``: how long a step may wait for lookups, the engine's choice (the
        session passes its ``wait_ms``); ``waiter``: the engine's clock and wait (None:
        :class:`NoWait`); ``memo``: where constraint answers are kept (None: one of its
        own; a session shares one)."""
        self._initial = fork_monitors(monitors)
        # The engine samples at most this many tokens: monitors with ``set_budget`` (the
        # syntax guard) hear before each step how many remain, this one included.
        self._max_tokens = max_tokens
        # Non-blocking mode: a lookup not ready within the wait budget fails open for
        # this step only and keeps running; a later step uses its answer. With
        # ``provisional`` that step is constrained by the lookup's provisional facts
        # instead (when it has any), from a fork of the monitor; the monitor itself
        # keeps waiting for the real answer.
        self._blocking = blocking
        self._use_provisional = provisional and not blocking
        self._provisional: dict[tuple[int, int], Facts | None] = {}
        self._overrides: dict[int, Monitor] = {}
        self._root = True  # False for forks: they never cancel the futures they share
        self._monitors = list(monitors)
        self._lookup = lookup
        self._index = index
        self._wait_s = wait_s
        self._waiter: Waiter = waiter if waiter is not None else NoWait()
        self._memo = memo if memo is not None else IdsMemo()
        self._pending: dict[int, tuple[int, Pending[Facts]]] = {}
        self._fed: list[int] = []
        self._examined: set[tuple[int, int]] = set()  # (monitor, serial) of lookups a step has needed
        #: How many tokens had been generated when each lookup started (in order).
        self.lookup_positions: list[int] = []
        self.stats = MonitorStats()
        self._start_lookups()

    # -- feeding -----------------------------------------------------------------
    def advance(self, token_ids: Sequence[int]) -> None:
        """Feed newly sampled tokens (in order)."""
        for tid in token_ids:
            data = self._index.token_bytes(int(tid))
            self._fed.append(int(tid))
            if data:
                for m in self._monitors:
                    m.feed(data)
        self._start_lookups()

    def sync(self, all_generated: Sequence[int]) -> None:
        """Bring the guide to exactly ``all_generated`` (replays after a reorder)."""
        n = len(self._fed)
        if len(all_generated) >= n and list(all_generated[:n]) == self._fed:
            if len(all_generated) > n:
                self.advance(all_generated[n:])
            return
        # The engine rewrote the history (beam reordering, preemption): replay from the start.
        self._drop_pending()
        self._monitors = fork_monitors(self._initial)
        self._fed = []
        self._examined = set()
        self._provisional = {}  # serials may repeat after a replay
        self.advance(all_generated)

    def close(self) -> None:
        """The sequence ended: give up its pending lookups (a lookup no other sequence
        waits for is cancelled, or never sent). Idempotent; the guide stays usable."""
        self._drop_pending()

    def _drop_pending(self) -> None:
        pending, self._pending = self._pending, {}
        for _serial, fut in pending.values():
            fut.cancel()

    @property
    def documents(self) -> list[Document]:
        """The documents the monitors read: one per sequence when they were built together
        (:func:`monitors.registry.build_monitors`), forked with the guide."""
        return documents_of(self._monitors)

    @property
    def generated_ids(self) -> list[int]:
        return list(self._fed)

    # -- the TokenGuide interface ------------------------------------------------------
    def accept_tokens(self, tokens: Sequence[int]) -> bool:
        """Feed sampled tokens. Always True: the guide fails open, it never refuses a
        token the engine sampled (a step it could not constrain was counted)."""
        self.advance(tokens)
        return True

    def validate_tokens(self, tokens: Sequence[int]) -> list[int]:
        """The longest prefix of ``tokens`` allowed step by step, on a fork that asks no
        server: a state whose facts are not known yet (a lookup outstanding) allows any
        token. Counts nothing."""
        probe = self.fork(start_lookups=False)
        taken: list[int] = []
        for tid in tokens:
            step = probe.ready_allowed()
            if step is not None and step.ids is not None:
                at = int(np.searchsorted(step.ids, tid))
                if at >= step.ids.size or int(step.ids[at]) != int(tid):
                    break
            taken.append(int(tid))
            probe.advance([tid])
        return taken

    def rollback(self, num_tokens: int) -> None:
        """Forget the last ``num_tokens`` tokens (replayed from the start, like :meth:`sync`)."""
        if num_tokens > 0:
            self.sync(self._fed[: max(len(self._fed) - num_tokens, 0)])

    def fill_bitmask(self, bitmask: np.ndarray, row: int, wait_s: float | None = None) -> StepResult:
        """:meth:`allowed`, written into ``bitmask[row]`` (int32 words; all bits set when
        the step is free). Ids past the row's width are dropped: the engine's guard sees
        a row with no bit inside its logits and leaves it alone."""
        step = self.allowed(wait_s)
        if step.ids is None:
            bitmask[row] = -1
        else:
            self._index.fill_bitmask(step.ids, bitmask[row])
        return step

    def is_terminated(self) -> bool:
        return bool(self._fed) and self._fed[-1] in self._index.eos_ids

    # -- masking -----------------------------------------------------------------
    def allowed(self, wait_s: float | None = None) -> StepResult:
        """Allowed ids for the next token (waits at most ``wait_s`` for lookups)."""
        self._collect(self._wait_s if wait_s is None else wait_s)
        if self._max_tokens is not None:
            self._tell_budget(self._max_tokens - len(self._fed))
        overrides, self._overrides = self._overrides, {}
        result, prefers = self._intersect(overrides)
        if result is not None and result.size == 0 and self._max_tokens is not None:
            # The budget's closers and another monitor's rule (an identifier being
            # spelled) have nothing in common: the other rule wins this step.
            self._tell_budget(None)
            result, prefers = self._intersect(overrides)
            self.stats.extra["budget_yielded"] = self.stats.extra.get("budget_yielded", 0) + 1
        if result is None:
            return StepResult(None)
        if result.size == 0:
            self.stats.fallbacks += 1
            return StepResult(None, fallback=True)
        boost, bonus = self._preference(result, prefers)
        if boost is not None:
            self.stats.extra["preferred_steps"] = self.stats.extra.get("preferred_steps", 0) + 1
        if overrides:
            self.stats.extra["provisional_steps"] = self.stats.extra.get("provisional_steps", 0) + 1
            return StepResult(result, provisional=True, boost=boost, bonus=bonus)
        self.stats.constrained_steps += 1
        return StepResult(result, boost=boost, bonus=bonus)

    def _tell_budget(self, left: int | None) -> None:
        for m in self._monitors:
            tell = getattr(m, "set_budget", None)
            if tell is not None:
                tell(left)

    def unmasked(self, provisional: bool = False) -> None:
        """The engine could not apply the last allowed set (no allowed id lies inside
        its logits row), so that step ran free: count it as a fallback."""
        key = "provisional_steps"
        if provisional:
            self.stats.extra[key] = max(self.stats.extra.get(key, 0) - 1, 0)
        else:
            self.stats.constrained_steps = max(self.stats.constrained_steps - 1, 0)
        self.stats.fallbacks += 1

    def _failed(self, i: int, serial: int) -> Facts:
        """The fail-open answer for monitor ``i``'s need ``serial``."""
        need = self._monitors[i].need()
        if need is not None and need.serial == serial:
            return failed_facts(need)
        return CompletionFacts(serial=serial, names=frozenset(), ok=False)

    def _intersect(self, overrides: dict[int, Monitor] | None = None,
                   ) -> tuple[np.ndarray | None, IdentifierConstraint | None]:
        """Ids every monitor with an opinion allows (None: no monitor has one), and the
        first constraint that states a preference; ``overrides`` stand in for some
        monitors this step (provisional forks)."""
        result: np.ndarray | None = None
        prefers: IdentifierConstraint | None = None
        for i, m in enumerate(self._monitors):
            if overrides and i in overrides:
                m = overrides[i]
            c = m.constraint()
            if c is None:
                continue
            if prefers is None and isinstance(c, IdentifierConstraint) and c.preferred and c.bonus > 0:
                prefers = c
            ids = self._index.allowed_ids(c, memo=self._memo)
            result = ids if result is None else np.intersect1d(result, ids, assume_unique=True)
        return result, prefers

    def _preference(self, allowed: np.ndarray, c: IdentifierConstraint | None) -> tuple[np.ndarray | None, float]:
        """The allowed ids ``c`` prefers (soft, :attr:`IdentifierConstraint.preferred`) and
        their bonus; (None, 0.0) when there is no preference or it covers every allowed id."""
        if c is None:
            return None, 0.0
        ids = np.intersect1d(allowed, self._index.allowed_ids(IdentifierConstraint(c.preferred, c.typed), memo=self._memo),
                             assume_unique=True)
        return (ids, c.bonus) if 0 < ids.size < allowed.size else (None, 0.0)

    def _provisionally(self, i: int, serial: int) -> bool:
        """Stand in for monitor ``i`` this step with a fork given the provisional
        facts of its pending need ``serial``; False when there are none (or they
        leave the monitor without an opinion)."""
        if not self._use_provisional:
            return False
        key = (i, serial)
        if key not in self._provisional:
            offer = getattr(self._lookup, "provisional", None)
            need = self._monitors[i].need()
            facts = offer(need) if offer is not None and need is not None and need.serial == serial else None
            self._provisional[key] = facts
        facts = self._provisional[key]
        if facts is None:
            return False
        fork = self._monitors[i].fork()
        fork.provide(facts)
        if fork.constraint() is None:
            return False
        self._overrides[i] = fork
        return True

    def _start_lookups(self) -> None:
        for i, m in enumerate(self._monitors):
            need = m.need()
            current = self._pending.get(i)
            if current is not None and (need is None or current[0] != need.serial):
                # The monitor no longer waits for it (the identifier ended before the
                # answer came, or a newer need replaced it): no step waits for it any
                # more, and a root guide gives it up (forks share their parent's futures).
                del self._pending[i]
                if self._root:
                    current[1].cancel()
                current = None
            if need is None or current is not None:
                continue
            self._pending[i] = (need.serial, self._lookup.start(need))
            self.lookup_positions.append(len(self._fed))

    def _collect(self, wait_s: float) -> None:
        if not self._pending:
            return
        clock = self._waiter
        deadline = clock.now() + max(wait_s, 0.0)
        provided = False
        eta_of = None if self._blocking else getattr(self._lookup, "eta_s", None)
        for i, (serial, fut) in list(self._pending.items()):
            remaining = deadline - clock.now()
            if eta_of is not None and remaining > 0 and not fut.done():
                eta = eta_of(fut)
                if eta is not None and eta > remaining:
                    remaining = 0.0  # it cannot answer within the budget: do not wait for it
            t_wait = clock.now()
            first = (i, serial) not in self._examined  # the first step that needs this lookup
            if first:
                self._examined.add((i, serial))
                self.stats.extra["needed_lookups"] = self.stats.extra.get("needed_lookups", 0) + 1
            if remaining > 0 and not fut.done():
                clock.wait(fut, remaining)
            if fut.done():
                try:
                    facts = fut.result()
                except Exception:  # failed or cancelled (the lookup converts errors; a safety net)
                    facts = self._failed(i, serial)
            elif not self._blocking:
                # Not ready: the lookup keeps running; this step is free, or
                # constrained by the lookup's provisional facts.
                self.stats.lsp_ms += (clock.now() - t_wait) * 1000.0
                extra = self.stats.extra
                if self._provisionally(i, serial):
                    if first:
                        extra["provisional_lookups"] = extra.get("provisional_lookups", 0) + 1
                    continue
                extra["open_steps"] = extra.get("open_steps", 0) + 1
                if first:  # not ready when first needed: the trigger's first token ran free
                    extra["open_lookups"] = extra.get("open_lookups", 0) + 1
                continue
            else:
                # Not ready within the budget: fail open for this trigger.
                fut.cancel()
                facts = self._failed(i, serial)
                self.stats.extra["late_lookups"] = self.stats.extra.get("late_lookups", 0) + 1
            # Time decoding actually waited (lookups overlap model compute).
            self.stats.lsp_ms += (clock.now() - t_wait) * 1000.0
            del self._pending[i]
            self._monitors[i].provide(facts)
            provided = True
        if not provided:
            return
        self._start_lookups()
        if self._pending:  # a re-request (incomplete list) was needed right away
            self._collect(max(deadline - clock.now(), 0.0))

    # -- fork / rollback (speculative trees) -----------------------------------------
    def fork(self, *, start_lookups: bool = True) -> SequenceGuide:
        """An independent copy at the same state (monitors forked, pending lookups shared).

        ``stats`` is shared, so only the states an engine actually samples from are
        counted. With ``start_lookups=False`` the copy never starts a lookup: its
        new needs stay unanswered (used to check draft-tree nodes without asking
        the server about text that may never be generated).
        """
        new = SequenceGuide.__new__(SequenceGuide)
        new._initial = self._initial
        new._blocking = self._blocking
        new._max_tokens = self._max_tokens
        new._monitors = fork_monitors(self._monitors)
        new._lookup = self._lookup if start_lookups else _NoLookup()
        new._index = self._index
        new._wait_s = self._wait_s
        new._waiter = self._waiter
        new._memo = self._memo
        new._root = False
        new._use_provisional = self._use_provisional
        new._provisional = self._provisional  # facts per need: the same for every fork
        new._overrides = {}
        new._pending = dict(self._pending)
        new._fed = list(self._fed)
        new._examined = set(self._examined)
        new.lookup_positions = list(self.lookup_positions)
        new.stats = self.stats
        return new

    def restore(self, other: SequenceGuide) -> None:
        """Roll back (or forward) to the state of ``other`` (a fork of this guide)."""
        self._monitors = fork_monitors(other._monitors)
        self._pending = dict(other._pending)
        self._fed = list(other._fed)
        self._examined = set(other._examined)

    def ready_allowed(self) -> StepResult | None:
        """Allowed ids if they are known without waiting (no lookup outstanding), else None.

        Counts nothing; answers already delivered are handed to the monitors.
        """
        if any(not fut.done() for _s, fut in self._pending.values()):
            return None
        for i, (serial, fut) in list(self._pending.items()):
            try:
                facts = fut.result()
            except Exception:  # cancelled or failed: the monitor fails open
                facts = self._failed(i, serial)
            del self._pending[i]
            self._monitors[i].provide(facts)
        self._start_lookups()
        if self._pending:
            return None
        result, prefers = self._intersect()
        if result is None or result.size == 0:
            return StepResult(None, fallback=result is not None)
        boost, bonus = self._preference(result, prefers)
        return StepResult(result, boost=boost, bonus=bonus)

    def constraints(self) -> list[object]:
        """The monitors' current constraints (None left out); call after :meth:`allowed`."""
        return [c for c in (m.constraint() for m in self._monitors) if c is not None]

    def report(self) -> dict[str, float | int]:
        """Counters of the guide and its monitors, merged."""
        out = self.stats.as_dict()
        for key in ("requests", "shared"):  # BridgeLookup: requests sent / answered by another's
            n = getattr(self._lookup, key, None)
            if isinstance(n, int):
                out[f"lsp_{key}"] = n
        sent = getattr(self._lookup, "sent", None)  # BridgeLookup: requests sent per kind
        if isinstance(sent, dict):
            for kind, n in sent.items():
                out[f"lsp_requests_{kind}"] = n
        for m in self._monitors:
            for k, v in m.stats.as_dict().items():
                if k in ("constrained_steps", "fallbacks", "lsp_ms"):
                    continue
                out[k] = out.get(k, 0) + v
        return out
