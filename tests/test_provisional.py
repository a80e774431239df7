"""Provisional names while a lookup runs, and lookups given up when their need is gone.

Pure parts (receivers, scopes, document names) on hand-written text and on a
real click file; the guide with a lookup that never answers (a hung server)
plus provisional facts; a real jedi session for the receiver memory.
"""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path

import pytest

from lsp_bridge.provisional import ReceiverMemory, document_members, receiver_at, scope_of
from mgd.concurrency import FutureWaiter
from monitors.base import CompletionFacts, CompletionNeed
from monitors.dereference import DereferenceMonitor
from monitors.guide import SequenceGuide
from monitors.languages import get_language
from monitors.vocab import VocabIndex

PY = get_language("python")
WAIT = FutureWaiter()  # the engine's wait: on the futures, by the wall clock

SOURCE = '''class Circle:
    def __init__(self, r):
        self.radius = r

    def area(self):
        return 3.14 * self.radius ** 2

    def grow(self):
        self.radius += 1
        return self.


class Square:
    def __init__(self, w):
        self.width = w


def use(c: Circle):
    print(c.area(), c.radius)
    return c.
'''


@pytest.mark.parametrize(("before", "receiver"), [
    ("x = self.", "self"), ("ctx.", "ctx"), ("self.ctx.na", "self.ctx"), ("a.b.c", "a.b"),
    ("foo().", None), ("x[0].", None), ('"s".', None), ("no dot", None), ("3.", None),
])
def test_receiver_at(before: str, receiver: str | None) -> None:
    assert receiver_at(before) == receiver


def test_self_is_scoped_to_its_class() -> None:
    cursor = SOURCE.index("return self.") + len("return self.")
    start, end, key = scope_of(SOURCE, cursor, "self", "python")
    assert key == "class Circle:"
    assert document_members(SOURCE, "self", start, end) == {"radius"}
    assert "width" in document_members(SOURCE, "self")  # the whole file mixes classes


def test_other_receivers_use_the_file_keyed_by_function() -> None:
    cursor = SOURCE.rindex("return c.") + len("return c.")
    start, end, key = scope_of(SOURCE, cursor, "c", "python")
    assert (start, end, key) == (0, len(SOURCE), "def use(c: Circle):")
    assert document_members(SOURCE, "c", start, end) == {"area", "radius"}
    assert scope_of(SOURCE, cursor, "c", "java") == (0, len(SOURCE), "")


def test_memory_is_a_bounded_lru() -> None:
    memory = ReceiverMemory(2)
    memory.put("a", frozenset({"x"}))
    memory.put("b", frozenset({"y"}))
    assert memory.get("a") == {"x"}
    memory.put("c", frozenset({"z"}))  # evicts b, the least recently used
    assert memory.get("b") is None and memory.get("a") == {"x"} and memory.get("c") == {"z"}


class HungLookup:
    """Never answers (a slow server); offers provisional names and records cancels."""

    def __init__(self, provisional: set[str] | None) -> None:
        self.names = None if provisional is None else frozenset(provisional)
        self.futures: list[concurrent.futures.Future[CompletionFacts]] = []

    def start(self, need: CompletionNeed) -> concurrent.futures.Future[CompletionFacts]:
        fut: concurrent.futures.Future[CompletionFacts] = concurrent.futures.Future()
        self.futures.append(fut)
        return fut

    def provisional(self, need: CompletionNeed) -> CompletionFacts | None:
        return None if self.names is None else CompletionFacts(need.serial, self.names)


@pytest.fixture(scope="module")
def index(tiny_tokenizer) -> VocabIndex:
    return VocabIndex.from_tokenizer(tiny_tokenizer)


def test_a_pending_lookup_constrains_provisionally(index) -> None:
    lookup = HungLookup({"radius", "area"})
    guide = SequenceGuide([DereferenceMonitor(PY, "def f(c):\n    return c.")], lookup, index, waiter=WAIT,
                          wait_s=0.0, blocking=False, provisional=True)
    step = guide.allowed()
    assert step.provisional and step.ids is not None
    texts = [index.token_bytes(int(i)) for i in step.ids]
    assert all(b"radius".startswith(t) or b"area".startswith(t) or t.startswith((b"radius", b"area"))
               for t in texts)
    report = guide.report()
    assert report["provisional_steps"] == 1 and report["provisional_lookups"] == 1
    assert report.get("open_steps", 0) == 0 and report["constrained_steps"] == 0
    assert not lookup.futures[0].done()  # the real lookup keeps running


def test_without_provisional_names_the_step_runs_free(index) -> None:
    for lookup, provisional in ((HungLookup(None), True), (HungLookup({"radius"}), False)):
        guide = SequenceGuide([DereferenceMonitor(PY, "x = c.")], lookup, index, waiter=WAIT, wait_s=0.0, blocking=False,
                              provisional=provisional)
        step = guide.allowed()
        assert step.ids is None and not step.provisional
        assert guide.report()["open_steps"] == 1 and guide.report()["open_lookups"] == 1


def test_the_real_answer_replaces_the_provisional_names(index, tiny_tokenizer) -> None:
    lookup = HungLookup({"radius"})
    guide = SequenceGuide([DereferenceMonitor(PY, "x = c.")], lookup, index, waiter=WAIT, wait_s=0.0, blocking=False,
                          provisional=True)
    assert guide.allowed().provisional
    need_serial = guide._monitors[0].need().serial
    lookup.futures[0].set_result(CompletionFacts(need_serial, frozenset({"area"})))
    step = guide.allowed(0.5)
    assert not step.provisional and step.ids is not None
    area = tiny_tokenizer("area", add_special_tokens=False).input_ids[0]
    assert area in set(step.ids.tolist())


def test_an_abandoned_lookup_is_given_up_and_not_waited_for(index, tiny_tokenizer) -> None:
    """The identifier ended before the answer came: the step after that waits for nothing."""
    lookup = HungLookup(None)
    guide = SequenceGuide([DereferenceMonitor(PY, "x = c.")], lookup, index, waiter=WAIT, wait_s=0.2, blocking=False)
    guide.allowed(0.0)  # open step, lookup pending
    guide.advance(tiny_tokenizer("width)\n", add_special_tokens=False).input_ids)  # the name ended
    assert lookup.futures[0].cancelled()
    t0 = time.perf_counter()
    assert guide.allowed().ids is None
    assert time.perf_counter() - t0 < 0.1  # did not wait 0.2 s for the abandoned lookup
    fork = SequenceGuide([DereferenceMonitor(PY, "x = c.")], lookup, index, waiter=WAIT, wait_s=0.0, blocking=False).fork()
    fork.advance(tiny_tokenizer("width)\n", add_special_tokens=False).input_ids)
    assert not lookup.futures[-1].cancelled()  # a fork never cancels what it shares with its parent


@pytest.mark.e2e
def test_session_remembers_the_last_answer_per_receiver(tmp_path: Path, tiny_tokenizer) -> None:
    from mgd.config import SessionConfig
    from mgd.session import MgdSession

    (tmp_path / "shapes.py").write_text(SOURCE)
    with MgdSession(tiny_tokenizer, SessionConfig(server="jedi", request_timeout_s=30.0)) as s:
        prefix = SOURCE[: SOURCE.rindex("return c.") + len("return c.")]
        guide = s.guide(tmp_path, "shapes.py", prefix, "\n", wait_s=30.0, blocking=False, provisional=True)
        assert guide.allowed(30.0).ids is not None and not guide.report().get("provisional_steps")
        need = CompletionNeed(0, "", 1)
        other = s.guide(tmp_path, "shapes.py", prefix, "\n", wait_s=0.0, blocking=False, provisional=True)
        remembered = other._lookup.provisional(need)
        assert remembered is not None and {"area", "radius", "grow"} <= remembered.names  # the server's answer:
        assert "width" not in remembered.names  # grow is never written after c. in the document
        s.forget()
        fresh = other._lookup.provisional(need)
        assert fresh is not None and fresh.names == {"area", "radius"}  # back to the document's names


def test_no_wait_for_an_answer_that_cannot_come_in_time(index) -> None:
    """A lookup whose gate expects it in 10 s is not waited for within a 0.3 s budget;
    one expected within the budget is."""

    class Late(HungLookup):
        eta = 10.0

        def eta_s(self, future):
            return self.eta

    for eta, at_least, at_most in ((10.0, 0.0, 0.1), (0.01, 0.25, 5.0)):
        lookup = Late(None)
        lookup.eta = eta
        guide = SequenceGuide([DereferenceMonitor(PY, "x = c.")], lookup, index, waiter=WAIT, wait_s=0.3, blocking=False)
        t0 = time.perf_counter()
        assert guide.allowed().ids is None  # (it never answers either way)
        assert at_least <= time.perf_counter() - t0 < at_most
