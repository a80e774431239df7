"""Paired statistics against hand-computed values."""

from __future__ import annotations

from math import comb

import pytest

from mgd.evaluation.stats import compare, mcnemar_exact, paired_bootstrap_ci


def test_mcnemar_exact_matches_the_binomial_tail() -> None:
    # 13 fixed vs 8 broken (Python NIM, mgd alone, in the committed 0.2 run): p ~ 0.38
    assert mcnemar_exact(13, 8) == pytest.approx(2 * sum(comb(21, i) for i in range(9)) / 2**21)
    assert mcnemar_exact(13, 8) == pytest.approx(0.3833, abs=1e-4)
    assert mcnemar_exact(5, 0) == pytest.approx(0.0625)  # 5 of 130 with none broken: not < 0.05
    assert mcnemar_exact(8, 13) == mcnemar_exact(13, 8)
    assert mcnemar_exact(0, 0) == 1.0 and mcnemar_exact(3, 3) == 1.0


def test_bootstrap_ci_brackets_the_delta_and_is_deterministic() -> None:
    base = [0, 1, 0, 1, 0, 0, 1, 0, 1, 0] * 10
    other = [1, 1, 0, 1, 1, 0, 1, 0, 1, 1] * 10
    lo, hi = paired_bootstrap_ci(base, other)
    assert lo < 0.3 < hi and lo > 0  # delta 0.3, clearly positive on 100 cases
    assert (lo, hi) == paired_bootstrap_ci(base, other)  # seeded
    assert paired_bootstrap_ci(base, base) == (0.0, 0.0)
    with pytest.raises(ValueError):
        paired_bootstrap_ci([1.0], [1.0, 0.0])


def test_compare_pairs_by_case_and_counts_fixed_and_broken() -> None:
    base = {"a": 1.0, "b": 0.0, "c": 0.0, "d": 1.0, "only-base": 1.0}
    other = {"a": 1.0, "b": 1.0, "c": 1.0, "d": 0.0, "only-other": 0.0}
    c = compare("NIM@1", "plain", base, other)
    assert c.cases == 4 and (c.fixed, c.broken) == (2, 1)
    assert c.delta == pytest.approx(25.0) and c.ci_low <= c.delta <= c.ci_high
    assert c.p_mcnemar == pytest.approx(1.0)
    graded = compare("ISM@1", "plain", {"a": 0.5, "b": 0.25}, {"a": 0.75, "b": 0.25})
    assert graded.fixed is None and graded.p_mcnemar is None and graded.delta == pytest.approx(12.5)
