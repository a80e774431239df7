"""Token healing: back off the prompt's last tokens and make the model re-spell them.

A prompt that ends mid-token (``x = obj.ap``, ``foo(``, an indentation run) shows
the model a token boundary it rarely saw in training. :func:`heal_prompt` removes
the last prompt tokens that could be part of a longer token, and
:class:`HealingMonitor` then constrains the next generated tokens with a hard mask
(:class:`~monitors.base.PrefixConstraint`) to tokens whose bytes extend the
removed text exactly, until it is covered; the model is free to pick the
tokenization (``.append`` in one token instead of ``.`` + ``ap``).

How far to back off (the rule of guidance/llguidance ``chop_tokens``): take the
longest suffix ``s`` of the prompt's bytes, at most as long as the vocabulary's
longest token, that some token strictly extends; remove the fewest whole tokens
that cover ``s`` (several if needed), never a special token, and never leave a
UTF-8 character split between the kept and the removed bytes. A prompt whose
end no token extends is left alone (``removed == b""``).

Composition: engines build their other monitors on the *original* prompt and
wrap each in ``HealingMonitor(removed, inner=m)``; the wrapper feeds ``m`` only
the bytes past the removed text and folds ``m``'s constraint into the healing one
(``PrefixConstraint(rest, then=...)``), so after ``obj.`` or ``obj.ap`` even the
first token (``.append``) must spell a legal member. The simpler composition
(monitors on the *kept* prompt plus a bare ``HealingMonitor``, intersected by the
guide) is also correct; it only leaves a token that spans the removed text and
the next identifier unchecked by the other monitor.

The completion relative to the user's original prompt is the generated text
minus its first ``len(removed_text)`` characters (:func:`completion_after`).

Pure: no I/O, no torch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from monitors.base import (
    Constraint,
    DefinitionConstraint,
    Facts,
    IdentifierConstraint,
    Monitor,
    MonitorState,
    MonitorStats,
    Need,
    PrefixConstraint,
)
from monitors.document import Document
from monitors.vocab import VocabIndex

__all__ = [
    "HealedPrompt",
    "HealingMonitor",
    "completion_after",
    "heal_prompt",
    "heal_prompt_of",
    "removed_bytes",
    "wrap_healing",
]

_TAIL = 64  # bytes of a kept prompt matched against the original text (removed_bytes)


@dataclass(frozen=True, slots=True)
class HealedPrompt:
    """The kept prompt ids and the bytes the model must generate first."""

    ids: tuple[int, ...]
    removed: bytes

    @property
    def removed_text(self) -> str:
        """``removed`` as text (it never splits a UTF-8 character)."""
        return self.removed.decode("utf-8", "surrogateescape")

    @property
    def healed(self) -> bool:
        return bool(self.removed)


def _is_continuation(byte: int) -> bool:
    return 0x80 <= byte < 0xC0


def heal_prompt(
    index: VocabIndex, prompt_ids: Sequence[int], *, max_tokens: int | None = None
) -> HealedPrompt:
    """Back off the last tokens of ``prompt_ids`` (see the module docstring).

    ``max_tokens`` caps how many tokens may be removed (None: only the byte bound,
    the longest token of the vocabulary, applies).
    """
    ids = tuple(int(i) for i in prompt_ids)
    if max_tokens is not None and max_tokens < 0:
        raise ValueError("max_tokens must be >= 0")
    limit = index.max_token_bytes
    special = index.special_ids
    # The tail that may be removed: whole tokens, no specials, enough bytes to
    # cover the longest suffix plus a split UTF-8 character.
    lengths: list[int] = []  # bytes of the last 1, 2, ... tokens (cumulative)
    parts: list[bytes] = []
    total = 0
    cap = len(ids) if max_tokens is None else min(len(ids), max_tokens)
    for tid in reversed(ids[len(ids) - cap :]):
        if tid in special:
            break
        data = index.token_bytes(tid)
        if not data:
            break
        parts.append(data)
        total += len(data)
        lengths.append(total)
        if total >= limit + 3:
            break
    if not parts:
        return HealedPrompt(ids, b"")
    tail = b"".join(reversed(parts))
    n = len(lengths)
    for k in range(min(len(tail), limit), 0, -1):
        if not index.has_strict_extension(tail[-k:]):
            continue
        j = next(t for t in range(n) if lengths[t] >= k)
        while j < n and _is_continuation(tail[-lengths[j]]):
            j += 1
        if j >= n:
            continue  # cannot cut at a character boundary within the bounds
        chop = j + 1
        return HealedPrompt(ids[: len(ids) - chop], tail[len(tail) - lengths[j] :])
    return HealedPrompt(ids, b"")


def heal_prompt_of(index: VocabIndex, prefix: str, prompt_ids: Sequence[int]) -> HealedPrompt:
    """:func:`heal_prompt` for a prompt tokenized from the text ``prefix``, with the guard
    every engine needs: the prompt is left alone (``removed == b""``) when the removed
    bytes are not the end of ``prefix`` as typed (a tokenizer that normalizes text, a
    synthetic leading space on the first token) or when nothing would be left of it."""
    healed = heal_prompt(index, prompt_ids)
    if healed.removed and (not healed.ids or not prefix.endswith(healed.removed_text)):
        return HealedPrompt(tuple(prompt_ids), b"")
    return healed


def removed_bytes(index: VocabIndex, prefix: str, kept_ids: Sequence[int]) -> bytes:
    """The bytes of ``prefix`` past a healed prompt's kept ids (b"" if it cannot be told).

    For engines that receive an already healed prompt (vLLM requests): the kept ids'
    bytes are matched against the end of ``prefix`` (the original text), trying at
    most four longest tokens' worth of removed bytes. An empty kept prompt, or an
    empty match, gives b"" (nothing to re-spell).
    """
    kept = b"".join(index.token_bytes(int(t)) for t in kept_ids if 0 <= int(t) < index.size)
    full = prefix.encode("utf-8", "surrogatepass")
    tail = kept[-_TAIL:]
    if not tail:
        return b""
    for r in range(0, min(len(full), 4 * index.max_token_bytes) + 1):
        if full[: len(full) - r].endswith(tail):
            return full[len(full) - r :]
    return b""


def wrap_healing(monitors: Sequence[Monitor], removed: bytes) -> list[Monitor]:
    """Monitors that make the model re-spell ``removed`` first (see the module
    docstring); unchanged when nothing was removed, a bare :class:`HealingMonitor`
    when there are no other monitors."""
    if not removed:
        return list(monitors)
    if not monitors:
        return [HealingMonitor(removed)]
    return [HealingMonitor(removed, inner=m) for m in monitors]


def completion_after(generated_text: str, healed: HealedPrompt) -> str:
    """The completion relative to the original prompt: ``generated_text`` minus the
    re-spelled removed text (empty while the removed text is not yet covered)."""
    removed = healed.removed_text
    if generated_text.startswith(removed):
        return generated_text[len(removed) :]
    return ""


@dataclass(slots=True, init=False, eq=False, repr=False)
class HealingMonitor(MonitorState):
    """Constrains generation to re-spell ``removed`` first (a :class:`Monitor`).

    ``constraint()`` is ``PrefixConstraint(rest)`` until ``removed`` is covered, then
    None. With ``inner`` (a monitor built on the *original* prompt) the wrapper
    feeds ``inner`` only the bytes past ``removed``, forwards its needs and facts,
    folds its identifier constraint into the healing one while healing, and is
    ``inner`` itself afterwards.

    Counters (``extra``): ``healed_bytes`` (len of ``removed``), ``heal_steps``
    (tokens fed while healing) and ``heal_off`` (a fed token that did not follow
    the required text: the engine ignored the mask; healing stops).
    """

    _removed: bytes
    _rest: bytes
    _inner: Monitor | None  # forked with the wrapper
    _stats: MonitorStats

    def __init__(self, removed: bytes, *, inner: Monitor | None = None) -> None:
        self._removed = bytes(removed)
        self._rest = self._removed
        self._inner = inner
        self._stats = MonitorStats.counting(("healed_bytes", "heal_steps", "heal_off"))
        self._stats.extra["healed_bytes"] = len(self._removed)

    @property
    def removed(self) -> bytes:
        return self._removed

    @property
    def remaining(self) -> bytes:
        """What is still to be re-spelled (b"" once covered)."""
        return self._rest

    @property
    def inner(self) -> Monitor | None:
        return self._inner

    @property
    def document(self) -> Document | None:
        """The document ``inner`` reads (None: none)."""
        return getattr(self._inner, "document", None)

    def feed(self, data: bytes) -> None:
        rest = self._rest
        if rest:
            self._stats.extra["heal_steps"] += 1
            if rest.startswith(data):
                self._rest = rest[len(data) :]
                return
            if not data.startswith(rest):
                self._stats.extra["heal_off"] += 1
                self._rest = b""
                return  # the text no longer matches the prompt: inner stays untouched
            self._rest = b""
            data = data[len(rest) :]
        if self._inner is not None and data:
            self._inner.feed(data)

    def need(self) -> Need | None:
        return self._inner.need() if self._inner is not None else None

    def provide(self, facts: Facts) -> None:
        if self._inner is not None:
            self._inner.provide(facts)

    def set_budget(self, left: int | None) -> None:
        """Forward the token budget to ``inner`` (the syntax guard has one)."""
        tell = getattr(self._inner, "set_budget", None)
        if tell is not None:
            tell(left)

    def constraint(self) -> Constraint | None:
        inner = self._inner.constraint() if self._inner is not None else None
        if not self._rest:
            return inner
        if not isinstance(inner, IdentifierConstraint | DefinitionConstraint):  # nested healing, call rules
            inner = None
        return PrefixConstraint(self._rest, inner)

    @property
    def stats(self) -> MonitorStats:
        """The inner monitor's counters (if any) plus the healing counters."""
        if self._inner is None:
            return self._stats
        s = self._inner.stats
        return dataclasses.replace(s, extra={**s.extra, **self._stats.extra})
