"""Paired statistics: is a configuration's difference from the baseline more than noise?

Every configuration of a run scores the same cases, so comparisons are paired:

- for a binary metric (CR, NIM with one sample per case): ``fixed`` (baseline 0,
  configuration 1) and ``broken`` (1 -> 0) counts, and the exact McNemar p-value,
  the two-sided binomial test of ``fixed`` among ``fixed + broken`` discordant
  pairs at 1/2 (:func:`mcnemar_exact`);
- for every metric: the mean per-case difference and its paired bootstrap 95%
  confidence interval (:func:`paired_bootstrap_ci`: cases resampled with
  replacement, the same resample for both configurations, percentile interval).

Both are a few lines of exact arithmetic and numpy (no statistics package needed);
the tests check them against hand-computed values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from math import comb

import numpy as np

__all__ = ["PairedComparison", "compare", "mcnemar_exact", "paired_bootstrap_ci"]

#: Bootstrap resamples (the CI's Monte-Carlo error is ~0.1 points at this count).
BOOTSTRAP_REPS = 10_000


def mcnemar_exact(fixed: int, broken: int) -> float:
    """Two-sided exact McNemar p-value for ``fixed`` vs ``broken`` discordant pairs."""
    n = fixed + broken
    if n == 0:
        return 1.0
    tail = sum(comb(n, i) for i in range(min(fixed, broken) + 1)) / 2**n
    return min(1.0, 2.0 * tail)


def paired_bootstrap_ci(
    base: Sequence[float], other: Sequence[float], *, reps: int = BOOTSTRAP_REPS, level: float = 0.95, seed: int = 0,
) -> tuple[float, float]:
    """Percentile CI of ``mean(other - base)`` over cases resampled with replacement."""
    if len(base) != len(other):
        raise ValueError("paired samples must have the same length")
    if not base:
        return (float("nan"), float("nan"))
    diff = np.asarray(other, dtype=float) - np.asarray(base, dtype=float)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(reps, len(diff)))
    means = diff[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return (float(lo), float(hi))


@dataclass(frozen=True, slots=True)
class PairedComparison:
    """One metric of one configuration against the baseline, over the cases both have.

    ``delta``, ``ci_low``, ``ci_high`` in points (percent of cases); ``fixed``,
    ``broken`` and ``p_mcnemar`` only for binary per-case values (else None).
    """

    metric: str
    baseline: str
    cases: int
    base_mean: float
    mean: float
    delta: float
    ci_low: float
    ci_high: float
    fixed: int | None = None
    broken: int | None = None
    p_mcnemar: float | None = None

    def to_json(self) -> dict[str, object]:
        out = asdict(self)
        for key in ("base_mean", "mean", "delta", "ci_low", "ci_high"):
            out[key] = round(out[key], 2)
        if self.p_mcnemar is not None:
            out["p_mcnemar"] = round(self.p_mcnemar, 4)
        return out

    def ci_text(self) -> str:
        """``+1.7 [-1.3, +4.7]`` (points)."""
        return f"{self.delta:+.1f} [{self.ci_low:+.1f}, {self.ci_high:+.1f}]"


def compare(
    metric: str, baseline: str, base: Mapping[str, float], other: Mapping[str, float], *, seed: int = 0,
) -> PairedComparison:
    """Compare per-case values (0..1) over the cases present in both."""
    cases = sorted(set(base) & set(other))
    b = [float(base[c]) for c in cases]
    o = [float(other[c]) for c in cases]
    lo, hi = paired_bootstrap_ci(b, o, seed=seed)
    n = len(cases)
    base_mean = 100.0 * sum(b) / n if n else float("nan")
    mean = 100.0 * sum(o) / n if n else float("nan")
    binary = all(v in (0.0, 1.0) for v in (*b, *o))
    fixed = broken = None
    p = None
    if binary:
        fixed = sum(1 for x, y in zip(b, o, strict=True) if x == 0.0 and y == 1.0)
        broken = sum(1 for x, y in zip(b, o, strict=True) if x == 1.0 and y == 0.0)
        p = mcnemar_exact(fixed, broken)
    return PairedComparison(metric, baseline, n, base_mean, mean, mean - base_mean, 100.0 * lo, 100.0 * hi,
                            fixed, broken, p)
