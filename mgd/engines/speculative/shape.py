"""How big a draft tree to verify: measured acceptance against the device's cost curve.

* :class:`Acceptance` (DySpec-style, adaptive): each drafted node carries a tag
  ``(source, kind, bucket of the source's own estimate)``. After every
  verification the decoder records, for each node whose parent was accepted,
  whether the node was accepted too; a node's conditional acceptance estimate is
  the measured rate of its tag, shrunk towards the source's raw estimate while
  few were seen. The tree's node values multiply these along paths.
* :class:`CostCurve` (PPD-style, hardware-aware): the time of one forward over
  ``q`` tree tokens relative to a one-token step. ``measure`` times the model on
  this device once; ``flat`` says every tree up to the budget costs one step;
  the ``h200-*`` profiles are the H200 tables of shared/docs/anchors.md.
* :func:`best_size`: the number of drafted nodes (taken best value first)
  that maximises expected tokens per unit of time,
  ``(1 + sum of the kept nodes' values) / cost(1 + nodes)``; 0 when no tree
  beats a plain step.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from monitors.errors import ConfigError

__all__ = ["COST_PROFILES", "Acceptance", "CostCurve", "best_size"]

#: Forward time (ms) for q tree tokens on one H200 (HF eager, bf16, 1,024-token cache),
#: from shared/docs/anchors.md ("Measured on one H200", 2026-11-28).
COST_PROFILES: dict[str, dict[int, float]] = {
    "h200-27m": {1: 5.8, 4: 6.1, 16: 6.2, 64: 6.3, 128: 6.0, 256: 6.3},
    "h200-1.5b": {1: 17.5, 4: 20.8, 16: 21.7, 64: 21.8, 128: 24.0, 256: 23.8},
    "h200-7b": {1: 20.1, 4: 22.5, 16: 23.8, 64: 23.2, 128: 23.2, 256: 27.2},
}


@dataclass(frozen=True, slots=True)
class CostCurve:
    """Forward time by tree tokens ``q`` (root included), relative to ``q = 1``."""

    points: tuple[tuple[int, float], ...]  # (q, seconds or ms), sorted by q, q=1 first
    name: str = "custom"

    def __post_init__(self) -> None:
        if not self.points or self.points[0][0] != 1 or any(t <= 0 for _q, t in self.points):
            raise ConfigError("a cost curve needs positive times and q = 1 first")

    @classmethod
    def from_times(cls, times: Mapping[int, float], name: str = "custom", *, monotone: bool = False) -> CostCurve:
        """A curve through ``{q: time}``; ``monotone``: a point below an earlier one
        (timing noise) is raised to it."""
        points = sorted((int(q), float(t)) for q, t in times.items())
        if monotone:
            top = 0.0
            for i, (q, t) in enumerate(points):
                top = max(top, t)
                points[i] = (q, top)
        return cls(tuple(points), name)

    @classmethod
    def flat(cls) -> CostCurve:
        return cls(((1, 1.0),), "flat")

    @classmethod
    def profile(cls, name: str) -> CostCurve:
        if name == "flat":
            return cls.flat()
        if name not in COST_PROFILES:
            raise ConfigError(f"unknown cost profile {name!r}; known: measure, flat, {', '.join(COST_PROFILES)}")
        return cls.from_times(COST_PROFILES[name], name)

    def ratio(self, q: int) -> float:
        """Cost of a ``q``-token forward over a one-token step: linear between the
        points, the last segment's slope past the end (never below the last point)."""
        qs = [p[0] for p in self.points]
        ts = [p[1] for p in self.points]
        if q <= 1 or len(qs) == 1:
            return 1.0
        i = bisect.bisect_left(qs, q)
        if i >= len(qs):  # extrapolate
            slope = (ts[-1] - ts[-2]) / (qs[-1] - qs[-2])
            return max(ts[-1] + slope * (q - qs[-1]), ts[-1]) / ts[0]
        if qs[i] == q:
            return ts[i] / ts[0]
        q0, q1, t0, t1 = qs[i - 1], qs[i], ts[i - 1], ts[i]
        return (t0 + (t1 - t0) * (q - q0) / (q1 - q0)) / ts[0]

    def observe(self, q: int, seconds: float, up: float = 0.1, down: float = 0.5) -> CostCurve:
        """The curve after one more timed forward of ``q`` tokens (online refinement of a
        measured curve): the nearest point within a factor of 2 moves towards the time
        the observation implies for it, by ``down`` when faster (a measurement taken
        during a burst of other load recovers at once), by ``up`` when slower."""
        qs = [p[0] for p in self.points]
        near = min(range(len(qs)), key=lambda i: abs(math.log2(qs[i]) - math.log2(max(q, 1))))
        if abs(math.log2(qs[near]) - math.log2(max(q, 1))) > 1.0:
            return self
        scale = self.ratio(qs[near]) / self.ratio(q)
        times = dict(self.points)
        implied = seconds * scale
        weight = down if implied < times[qs[near]] else up
        times[qs[near]] = (1 - weight) * times[qs[near]] + weight * implied
        return CostCurve.from_times(times, self.name, monotone=True)

    def above(self, q: int) -> int | None:
        """The first point of the curve past ``q`` tokens (None: none)."""
        return next((p for p, _t in self.points if p > q), None)

    def as_dict(self) -> dict[str, float]:
        return {str(q): round(t / self.points[0][1], 3) for q, t in self.points}


def best_size(values: Sequence[float], cost: CostCurve, budget: int) -> int:
    """How many of ``values`` (drafted nodes, best first) to verify: the count that
    maximises ``(1 + sum(values[:k])) / cost.ratio(1 + k)``, ``0 <= k <= budget``."""
    best_k, best_rate, gain = 0, 1.0, 1.0
    for k, v in enumerate(values[:budget], start=1):
        gain += v
        rate = gain / cost.ratio(1 + k)
        if rate > best_rate + 1e-9:
            best_k, best_rate = k, rate
    return best_k


def _bucket(raw: float) -> int:
    return min(max(int(raw * 10), 0), 9)


@dataclass(slots=True)
class Acceptance:
    """Measured conditional acceptance per node tag; the adaptive half of the shape.

    ``prior``: how many observations the source's raw estimate is worth.
    """

    prior: float = 2.0
    _seen: dict[tuple[str, int, int], list[float]] = field(default_factory=dict)

    @staticmethod
    def tag(source: str, kind: int, raw: float) -> tuple[str, int, int]:
        return (source, int(kind), _bucket(raw))

    def estimate(self, source: str, kind: int, raw: float) -> tuple[float, tuple[str, int, int]]:
        """``(conditional acceptance estimate, tag)`` of a node a source rates ``raw``."""
        raw = min(max(float(raw), 0.0), 1.0)
        tag = self.tag(source, kind, raw)
        seen = self._seen.get(tag)
        if seen is None:
            return raw, tag
        offered, accepted = seen
        return (accepted + self.prior * raw) / (offered + self.prior), tag

    def record(self, tag: object, accepted: bool) -> None:
        """One node whose parent was accepted: was it accepted too?"""
        if not isinstance(tag, tuple):
            return
        seen = self._seen.setdefault(tag, [0.0, 0.0])
        seen[0] += 1.0
        seen[1] += 1.0 if accepted else 0.0

    def rates(self) -> dict[str, tuple[int, float]]:
        """``"source/kind/bucket" -> (offered, measured rate)`` (for reports)."""
        return {
            f"{s}/{k}/{b}": (int(o), round(a / o, 3))
            for (s, k, b), (o, a) in sorted(self._seen.items())
            if o
        }
