"""Definition sites (Python): a new name after ``self.`` only where it is assigned. No server."""

from __future__ import annotations

import pytest

from monitors.base import CompletionFacts, DefinitionConstraint, IdentifierConstraint
from monitors.definitions import assignment_state
from monitors.dereference import MAX_NEW_NAME, DereferenceMonitor
from monitors.languages import get_language
from monitors.registry import build_monitors
from monitors.vocab import VocabIndex

PY = get_language("python")
JAVA = get_language("java")
CLASS = "class Cart:\n    def __init__(self):\n        self.items = []\n\n    def add(self, x):\n        "
LISTED = frozenset({"items", "add"})


@pytest.mark.parametrize(
    ("after", "state"),
    [(b" = 0", "ok"), (b"=", "partial"), (b" ", "partial"), (b"+", "partial"), (b" +=", "ok"), (b"//=", "ok"),
     (b": int", "ok"), (b"==", "bad"), (b" == 1", "bad"), (b".append", "bad"), (b"(", "bad"), (b"\n", "bad"),
     (b"[0] = 1", "bad"), (b" >", "partial"), (b" >>=", "ok"), (b" > 1", "bad")],
)
def test_assignment_state(after: bytes, state: str) -> None:
    assert assignment_state(after) == state


def _site(prefix: str, *, on: bool = True, names=LISTED) -> DereferenceMonitor:
    m = DereferenceMonitor(PY, prefix, definition_sites=on)
    need = m.need()
    assert need is not None
    m.provide(CompletionFacts(need.serial, frozenset(names)))
    return m


def test_new_name_must_be_assigned() -> None:
    m = _site(CLASS + "self.")
    assert m.constraint() == DefinitionConstraint(frozenset({b"items", b"add"}))
    m.feed(b"total")
    assert m.constraint() == DefinitionConstraint(frozenset(), b"total")
    m.feed(b" ")
    assert m.state == "pending" and m.constraint() == DefinitionConstraint(frozenset(), b"", b" ")
    m.feed(b"=")
    assert m.constraint() == DefinitionConstraint(frozenset(), b"", b" =")  # "==" is still possible
    m.feed(b" x\n        self.")
    assert m.stats.extra["definitions"] == 1 and m.state == "waiting"  # the next site
    m.provide(CompletionFacts(m.need().serial, frozenset({"items", "add", "total"})))
    m.feed(b"total.append(x)")  # listed now: accepted
    assert m.stats.extra["accepted"] == 1 and m.stats.extra["violations"] == 0


def test_listed_names_and_violations() -> None:
    m = _site(CLASS + "self.")
    m.feed(b"items.append(x)")
    assert m.stats.extra["accepted"] == 1
    m = _site(CLASS + "self.")
    m.feed(b"total.append(x)")  # a new name used, not assigned (the engine did not mask)
    assert m.stats.extra["violations"] == 1 and m.state == "idle"
    m = _site(CLASS + "self.")
    m.feed(b"total == 1")
    assert m.stats.extra["violations"] == 1


def test_only_after_self_and_only_when_on() -> None:
    other = _site(CLASS + "x = other.")
    assert isinstance(other.constraint(), IdentifierConstraint)  # not a definition site
    off = _site(CLASS + "self.", on=False)
    assert isinstance(off.constraint(), IdentifierConstraint)
    myself = _site(CLASS + "x = myself.")
    assert isinstance(myself.constraint(), IdentifierConstraint)
    java = DereferenceMonitor(JAVA, "class A { void f() { this.", definition_sites=True)
    java.provide(CompletionFacts(java.need().serial, frozenset({"x"})))
    assert isinstance(java.constraint(), IdentifierConstraint)


def test_only_at_a_statement_start() -> None:
    for expr in ("x = self.", "return self.", "f(a, self.", "y = 1; z = g(self."):
        assert isinstance(_site(CLASS + expr).constraint(), IdentifierConstraint), expr
    for stmt in ("self.", "x = 1; self."):
        assert isinstance(_site(CLASS + stmt).constraint(), DefinitionConstraint), stmt


def test_a_long_new_name_must_be_assigned_now() -> None:
    m = _site(CLASS + "self.")
    m.feed(b"x" * (MAX_NEW_NAME - 1))
    assert m.constraint() == DefinitionConstraint(frozenset(), b"x" * (MAX_NEW_NAME - 1))
    m.feed(b"x")
    assert m.state == "pending" and m.constraint() == DefinitionConstraint(frozenset(), b"", b"")
    m.feed(b" = 1\n")
    assert m.stats.extra["definitions"] == 1


def test_fails_open_and_forks() -> None:
    m = DereferenceMonitor(PY, CLASS + "self.", definition_sites=True)
    m.provide(CompletionFacts(m.need().serial, frozenset(), ok=False))
    assert m.constraint() is None and m.stats.failed_lookups == 1
    m = _site(CLASS + "self.")
    m.feed(b"total ")
    f = m.fork()
    f.feed(b"+= 1")
    assert f.stats.extra["definitions"] == 1 and m.state == "pending"


def test_registry_option() -> None:
    (mon,) = build_monitors(["dereference", "definition_sites"], PY, CLASS + "self.")
    mon.provide(CompletionFacts(mon.need().serial, frozenset(LISTED)))
    assert isinstance(mon.constraint(), DefinitionConstraint)
    (java,) = build_monitors(["dereference", "definition_sites"], JAVA, "")
    assert isinstance(java, DereferenceMonitor)


TOKENS = [b"items", b"it", b"ems", b"total", b"tot", b"al", b"9", b" =", b"=", b"==", b" ==", b" ", b"\n",
          b"+=", b"+", b" total", b"total =", b"total.", b"items.", b"al=", b"al ==", b".", b"(", b":", b"total:",
          b"_x"]


@pytest.fixture(scope="module")
def index() -> VocabIndex:
    return VocabIndex.from_token_bytes([*TOKENS, None], eos_ids=[len(TOKENS)])


def _spelled(index: VocabIndex, c) -> set[bytes]:
    return {index.token_bytes(int(i)) or b"<eos>" for i in index.allowed_ids(c)}


def test_definition_mask(index: VocabIndex) -> None:
    listed = frozenset({b"items"})
    got = _spelled(index, DefinitionConstraint(listed))
    assert got == {b"items", b"it", b"ems", b"total", b"tot", b"al", b"total =", b"items.", b"al=", b"total:",
                   b"_x"}
    got = _spelled(index, DefinitionConstraint(listed, b"tot"))  # a new name so far
    assert got == {b"items", b"it", b"ems", b"total", b"tot", b"al", b"9", b" =", b"=", b" ", b"+=", b"+",
                   b"total =", b"al=", b":", b"total:", b"_x"}
    got = _spelled(index, DefinitionConstraint(listed, b"items"))  # complete and listed: anything breaks
    assert {b".", b"(", b"==", b"<eos>", b"ems"} <= got
    assert _spelled(index, DefinitionConstraint(frozenset(), b"", b" ")) == {b" =", b"=", b" ", b"+=", b"+", b":"}
    # " =" then anything but "=" is an assignment; "==" is a comparison
    assert _spelled(index, DefinitionConstraint(frozenset(), b"", b" =")) == set(TOKENS) - {b"=", b"=="}


def test_pending_after_a_long_name_allows_only_the_assignment(index: VocabIndex) -> None:
    got = _spelled(index, DefinitionConstraint(frozenset(), b"", b""))
    assert got == {b" =", b"=", b" ", b"+=", b"+", b":"}  # no name continues, no use


def test_last_token_of_the_budget_ends_a_new_name_with_its_assignment(index: VocabIndex) -> None:
    listed = frozenset({b"items"})
    last = _spelled(index, DefinitionConstraint(listed, b"", last=True))  # no new name can start and end
    assert last == {b"items", b"it", b"items.", b"total:"}  # not "total =": it may become "=="
    last = _spelled(index, DefinitionConstraint(listed, b"tot", last=True))
    assert last == {b"+=", b":", b"total:"}  # "total" (cut), " =" (may become "==") are out
    assert _spelled(index, DefinitionConstraint(frozenset(), b"", b" ", last=True)) == {b"+=", b":"}
    assert _spelled(index, DefinitionConstraint(frozenset(), b"", b" =", last=True)) == set(TOKENS) - {b"=", b"=="}


def test_the_budget_reaches_the_monitor() -> None:
    m = _site(CLASS + "self.")
    m.feed(b"total")
    m.set_budget(2)
    assert m.constraint() == DefinitionConstraint(frozenset(), b"total")
    m.set_budget(1)
    assert m.constraint() == DefinitionConstraint(frozenset(), b"total", last=True)
    m.feed(b" ")
    assert m.constraint() == DefinitionConstraint(frozenset(), b"", b" ", last=True)
    assert m.fork().constraint() == m.constraint()
    m.set_budget(None)
    assert m.constraint() == DefinitionConstraint(frozenset(), b"", b" ")
