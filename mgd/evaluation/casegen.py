"""Dereference cases from real source: positions right after member-access dots.

(And Rust ``::`` path separators: see :func:`monitors.triggers.trigger_chars`.)

Pure functions over text (no I/O): used by the demo, the tests and the
benchmarks to cut real files into ``mgd generate --cases`` holes. A site's hole
runs from just after the dot to the end of its line; ``target`` is the
original text of the hole and ``name`` the identifier that followed the dot.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from monitors.identifiers import IDENTIFIER
from monitors.languages import LanguageSpec
from monitors.triggers import TriggerDetector

__all__ = ["DotSite", "dot_sites", "sample_sites"]



@dataclass(frozen=True, slots=True)
class DotSite:
    prefix_end: int  # just after the dot
    suffix_start: int  # end of the line (before the newline)
    name: str  # the identifier that followed the dot
    target: str  # original text of the hole


def dot_sites(language: LanguageSpec, text: str, *, indented_only: bool = True) -> list[DotSite]:
    """Every member-access dot followed by an identifier (inside blocks by default)."""
    detector = TriggerDetector(language, text)
    sites: list[DotSite] = []
    triggers = detector.trigger_chars
    for pos, ch in enumerate(text):
        if ch not in triggers:
            continue
        m = IDENTIFIER.match(text, pos + 1)
        if m is None:
            continue
        line_start = text.rfind("\n", 0, pos) + 1
        if indented_only and not text[line_start : line_start + 1].isspace():
            continue
        if not detector.is_member_access(pos):
            continue
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        if end > pos and text[end - 1] == "\r":
            end -= 1
        sites.append(DotSite(pos + 1, end, m.group(0), text[pos + 1 : end]))
    return sites


def sample_sites(sites: list[DotSite], k: int | None, seed: int = 0) -> list[DotSite]:
    """A deterministic sample of ``k`` sites, in file order."""
    if k is None or k >= len(sites):
        return list(sites)
    rng = random.Random(seed)
    return sorted(rng.sample(sites, k), key=lambda s: s.prefix_end)
