"""Stop rules shared by every engine: where a growing completion must be cut.

A :class:`StopRule` is fed the completion text so far: :meth:`StopRule.cut` says
where to cut it (generation stops there) or None; :meth:`StopRule.finish` gives
the final text. :class:`StopTexts` is the rule of ``mgd generate --stop`` and
vLLM's ``stop`` (cut before the first stop string); the editor's shape-aware rule
(:class:`mgd.editor.completion_shape.ShapeStop`) implements the same protocol. The Hugging
Face generator, the tree decoder and the editor's decoder all stop through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from monitors.errors import ConfigError

__all__ = ["FirstStop", "StopRule", "StopTexts", "cut_at_stop"]


class StopRule(Protocol):
    """Where to cut a completion."""

    def cut(self, text: str) -> int | None:
        """Offset in ``text`` where the completion ends (generation stops), or None."""
        ...

    def finish(self, text: str) -> str:
        """The final completion text (already cut)."""
        ...


@dataclass(frozen=True, slots=True)
class StopTexts:
    """Cut before the earliest occurrence of any of ``stops`` (the stop is not returned)."""

    stops: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if any(not s for s in self.stops):
            raise ConfigError("stop texts must be non-empty")

    @property
    def window(self) -> int:
        """Characters at the end of a text that can hold a stop that just appeared."""
        return max((len(s) for s in self.stops), default=0)

    def cut(self, text: str) -> int | None:
        return min((i for i in (text.find(s) for s in self.stops) if i >= 0), default=None)

    def finish(self, text: str) -> str:
        return text


@dataclass(frozen=True, slots=True)
class FirstStop:
    """Several rules as one: cut where the first of them cuts (e.g. ``--stop`` texts and a
    case's method end); the text is finished by each rule in turn."""

    rules: tuple[StopRule, ...]

    def cut(self, text: str) -> int | None:
        return min((c for c in (r.cut(text) for r in self.rules) if c is not None), default=None)

    def finish(self, text: str) -> str:
        for r in self.rules:
            text = r.finish(text)
        return text


def cut_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Text up to the first stop string (excluded), and whether one was found."""
    cut = StopTexts(tuple(stop)).cut(text)
    return (text[:cut], True) if cut is not None else (text, False)
