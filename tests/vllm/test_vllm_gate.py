"""LookupGate: at most ``limit`` lookups in flight; cancelled waiters are never started."""

from __future__ import annotations

import concurrent.futures

import pytest

from lsp_bridge.gate import LookupGate


class _Starts:
    """Records which lookups were started and hands out their (controllable) futures."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.futures: dict[str, concurrent.futures.Future[object]] = {}

    def __call__(self, name: str):
        def start() -> concurrent.futures.Future[object]:
            self.started.append(name)
            fut: concurrent.futures.Future[object] = concurrent.futures.Future()
            self.futures[name] = fut
            return fut

        return start


def test_gate_admits_one_at_a_time_in_order_and_skips_cancelled() -> None:
    gate, starts = LookupGate(1), _Starts()
    a, b, c = (gate.submit(starts(n)) for n in "abc")
    assert starts.started == ["a"] and gate.waiting == 2
    assert b.cancel()  # its request ended while it waited: it must never start
    starts.futures["a"].set_result("A")
    assert a.result(timeout=1) == "A"
    assert starts.started == ["a", "c"] and gate.never_sent == 1
    starts.futures["c"].set_exception(TimeoutError("slow"))
    with pytest.raises(TimeoutError):
        c.result(timeout=1)
    d = gate.submit(starts("d"))  # the slot is free again
    assert starts.started[-1] == "d" and not d.done()


def test_cancelling_an_admitted_lookup_cancels_it_and_frees_the_slot() -> None:
    gate, starts = LookupGate(1), _Starts()
    a = gate.submit(starts("a"))
    b = gate.submit(starts("b"))
    assert a.cancel()
    assert starts.futures["a"].cancelled()  # passed on to the running request
    assert starts.started == ["a", "b"] and not b.done()


def test_a_start_that_raises_fails_only_its_own_lookup() -> None:
    gate, starts = LookupGate(2), _Starts()

    def broken() -> concurrent.futures.Future[object]:
        raise RuntimeError("loop closed")

    bad = gate.submit(broken)
    with pytest.raises(RuntimeError):
        bad.result(timeout=1)
    x, y = gate.submit(starts("x")), gate.submit(starts("y"))
    assert starts.started == ["x", "y"] and gate.waiting == 0  # both slots were free
    assert not x.done() and not y.done()
    with pytest.raises(ValueError):
        LookupGate(0)


def test_gate_estimates_when_a_lookup_answers() -> None:
    import time

    gate, starts = LookupGate(1, smoothing=1.0), _Starts()
    a = gate.submit(starts("a"))
    assert gate.eta_s(a) is None  # nothing finished yet: no estimate
    time.sleep(0.05)
    starts.futures["a"].set_result("A")
    assert gate.service_s is not None and 0.04 < gate.service_s < 1.0
    service = gate.service_s
    b, c = gate.submit(starts("b")), gate.submit(starts("c"))
    eta_b, eta_c = gate.eta_s(b), gate.eta_s(c)
    assert eta_b is not None and eta_c is not None
    assert eta_b <= service and service <= eta_c <= 2 * service  # c waits behind b
    assert gate.eta_s(a) == 0.0  # answered
    starts.futures["b"].set_result("B")
    starts.futures["c"].set_result("C")
