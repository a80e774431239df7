"""Per error class, the paired change vs the baseline with its bootstrap CI (issue 20)."""

from __future__ import annotations

from mgd.evaluation.diagnostics import Diagnostic
from mgd.evaluation.report import error_table
from mgd.evaluation.scoring import ConfigSummary, RunResult, SampleScore, error_changes


def sample(case: int, *kinds: str) -> SampleScore:
    errors = tuple(Diagnostic(k, "rule", "msg") for k in kinds)
    return SampleScore(f"c{case}", 0, not kinds, False, 0.0, 0.0, True, 1, errors)


def test_error_class_deltas_and_intervals() -> None:
    n = 40
    plain = [sample(i, "unknown_member") if i < 20 else sample(i) for i in range(n)]
    # Guided: every unknown member gone; 10 files gain a wrong call.
    guided = [sample(i, "wrong_call") if i < 10 else sample(i) for i in range(n)]
    summaries = [ConfigSummary("plain", n, n, error_samples={"unknown_member": 20}),
                 ConfigSummary("mgd", n, n, error_samples={"wrong_call": 10})]
    result = RunResult({}, (1,), summaries,
                       {"plain": plain, "mgd": guided}, "python", baseline="plain")
    ch = error_changes(result)["mgd"]
    assert ch["unknown_member"]["delta"] == -50.0
    lo, hi = ch["unknown_member"]["ci95"]
    assert lo < hi < 0  # removed: entirely below 0
    assert ch["wrong_call"]["delta"] == 25.0
    lo, hi = ch["wrong_call"]["ci95"]
    assert 0 < lo < 25.0 < hi  # added: entirely above 0, the failing case
    assert ch["syntax"]["delta"] == 0.0 and ch["syntax"]["ci95"] == [0.0, 0.0]
    table = error_table(result)
    row = next(line for line in table.splitlines() if line.startswith("| mgd | -50.0 ["))
    assert "+25.0 [" in row
