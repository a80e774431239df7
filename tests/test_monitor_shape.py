"""The one monitor shape (monitors/base.py): the generic fork of state dataclasses, the
shared plumbing, and per-language strategies chosen at construction."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from monitors.base import (
    CompletionEntry,
    CompletionFacts,
    CompletionNeed,
    Monitor,
    MonitorBase,
    MonitorState,
    MonitorStats,
    Signature,
    SignatureFacts,
    SignatureNeed,
    Utf8Stream,
    forked,
)
from monitors.calls import ArgumentCountMonitor, KeywordArgumentMonitor
from monitors.completion_sites import ALL_NAMES, CONCRETE, IMPORTS, INSTANTIATION, SiteMonitor
from monitors.dereference import MEMBER_RULES, DereferenceMonitor
from monitors.healing import HealingMonitor
from monitors.java_types import JAVA_STRICT_TYPES, JAVA_TYPES
from monitors.languages import get_language
from monitors.python_types import PYTHON_TYPES
from monitors.syntax import SyntaxMonitor

PY = get_language("python")
JAVA = get_language("java")
PY_PROMPT = "import os\n\nclass Shelf:\n    def __init__(self, books):\n        self.books = books\n\n    def f(self):\n        "
JAVA_PROMPT = "class A {\n    int f(Book b) {\n        "
#: (name, a fresh monitor, the chunks fed; ``é`` split across two chunks)
CASES: list[tuple[str, Callable[[], Monitor], list[bytes]]] = [
    ("dereference", lambda: DereferenceMonitor(PY, PY_PROMPT, definition_sites=True, expected_types=True),
     [b"x", b" = ", b"self", b".", b"bo", b"ok", b"s", b".app", b"end(", b"'\xc3", b"\xa9')\n        ", b"self.", b"total"]),
    ("dereference-java", lambda: DereferenceMonitor(JAVA, JAVA_PROMPT, strict_types=True),
     [b"int", b" y = ", b"b", b".", b"get", b"Year", b"();", b"\n        return b.", b"ti"]),
    ("instantiation", lambda: SiteMonitor(INSTANTIATION, JAVA, JAVA_PROMPT),
     [b"Lion", b" l = ", b"new", b" ", b"Li", b"on(", b");", b"\n        Object o = new Ca"]),
    ("imports", lambda: SiteMonitor(IMPORTS, PY, ""), [b"from", b" os", b".", b"pa", b"th import ", b"jo"]),
    ("arguments", lambda: ArgumentCountMonitor(PY, PY_PROMPT),
     [b"g", b"(", b"1, ", b"h(", b"'\xc3", b"\xa9'", b"), ", b"[1, 2", b"]"]),
    ("keyword_arguments", lambda: KeywordArgumentMonitor(PY, PY_PROMPT), [b"g(", b"a", b" =", b" 1, ", b"*xs, ", b"b"]),
    ("syntax", lambda: SyntaxMonitor(PY, PY_PROMPT + "g(", ")\n", ("\n\n",)),
     [b"f(", b"[1, ", b"'\xc3", b"\xa9", b"'", b"]", b"\n", b"  ", b")"]),
    ("healing", lambda: HealingMonitor(b"self.", inner=DereferenceMonitor(PY, PY_PROMPT + "self.")),
     [b"se", b"lf.bo", b"ok", b"s.", b"app"]),
]
IDS = [c[0] for c in CASES]
NAMES = frozenset({"books", "append", "total", "getYear", "title", "Lion", "path", "join"})


def answer(m: Monitor) -> None:
    """Answer the monitor's need (the same answer for every copy of it)."""
    need = m.need()
    if isinstance(need, CompletionNeed):
        entries = tuple(CompletionEntry(n, 4 if n == "Lion" else 5, f"{n}: int", n + "()" if n == "Lion" else n)
                        for n in sorted(NAMES))
        m.provide(CompletionFacts(need.serial, NAMES, entries=entries))
    elif isinstance(need, SignatureNeed):
        sig = Signature("g(a: int, b: int = 2)", ("a: int", "b: int = 2"), 1, 2)
        m.provide(SignatureFacts(need.serial, (sig,)))


def run(m: Monitor, chunks: list[bytes]) -> list[object]:
    """Feed ``chunks`` (answering every need); what the monitor says after each."""
    out: list[object] = []
    for chunk in chunks:
        m.feed(chunk)
        out.append(m.need())
        answer(m)
        out.append(observed(m))
    return out


def observed(m: Monitor) -> tuple[object, ...]:
    return m.need(), m.constraint(), m.stats.as_dict()


def state_fields(m: object) -> dict[str, object]:
    """The dataclass fields of ``m`` (and of a wrapped monitor), by name."""
    out = {f.name: getattr(m, f.name) for f in dataclasses.fields(m)}  # type: ignore[arg-type]
    inner = getattr(m, "_inner", None)
    if inner is not None:
        out.update({f"inner.{k}": v for k, v in state_fields(inner).items()})
    return out


def comparable(value: object) -> object:
    """A value two equal states have equal (a detector by its text, a stream by its count)."""
    if isinstance(value, Utf8Stream):
        return value.chars, value.fork().decode(b"")
    if hasattr(value, "text") and hasattr(value, "fork"):
        return value.text  # type: ignore[attr-defined]
    if isinstance(value, MonitorState):
        return {k: comparable(v) for k, v in state_fields(value).items()}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    key = getattr(value, "key", None)
    if callable(key):  # the syntax guard's lexer
        return key()
    return value


def changeable(value: object) -> bool:
    """A value that can change in place (a container, or anything with ``fork``/``copy``)."""
    if isinstance(value, (frozenset, tuple, str, bytes)):
        return False
    return isinstance(value, (list, dict, set, bytearray)) or hasattr(value, "fork") or hasattr(value, "copy")


def test_forked_shares_immutables_and_copies_the_rest() -> None:
    shared = ("a", b"b", 3, 2.5, True, None, frozenset({1}), (1, 2), PY, JAVA_TYPES)
    for value in shared:
        assert forked(value) is value
    for value in ([1], {"a": 1}, {1}):
        copy = forked(value)
        assert copy == value and copy is not value
    stats = MonitorStats(triggers=2, extra={"x": 1})
    copy = forked(stats)
    assert copy == stats and copy is not stats and copy.extra is not stats.extra  # type: ignore[union-attr]


def test_utf8_stream_keeps_a_split_character_across_a_fork() -> None:
    s = Utf8Stream()
    assert s.decode(b"a\xc3") == "a"
    f = s.fork()
    assert f.decode(b"\xa9") == "\u00e9" and s.decode(b"\xa9") == "\u00e9"
    assert s.chars == f.chars == 2
    assert s.decode(b"\xff") == "\ufffd"  # a bad byte is replaced, not raised


@pytest.mark.parametrize(("name", "make", "chunks"), CASES, ids=IDS)
def test_every_monitor_has_the_shape(name: str, make: Callable[[], Monitor], chunks: list[bytes]) -> None:
    m = make()
    assert isinstance(m, MonitorState) and isinstance(m, Monitor)
    assert dataclasses.is_dataclass(m)
    if not isinstance(m, HealingMonitor):
        assert isinstance(m, MonitorBase)
    assert not hasattr(m, "__dict__")  # slots: a misspelt field fails


@pytest.mark.parametrize(("name", "make", "chunks"), CASES, ids=IDS)
def test_fork_is_independent_for_every_mutable_field(name: str, make: Callable[[], Monitor],
                                                     chunks: list[bytes]) -> None:
    half = len(chunks) // 2
    parent = make()
    run(parent, chunks[:half])
    child = parent.fork()
    assert type(child) is type(parent)
    mine, theirs = state_fields(parent), state_fields(child)
    mutable = [k for k, v in mine.items() if changeable(v)]
    assert mutable  # the check below checks something
    for key in mutable:
        assert theirs[key] is not mine[key], key
    before = {k: comparable(v) for k, v in mine.items()}
    seen = observed(parent)
    run(child, chunks[half:])  # the fork goes on; the parent must not notice
    assert {k: comparable(v) for k, v in state_fields(parent).items()} == before
    assert observed(parent) == seen


@pytest.mark.parametrize(("name", "make", "chunks"), CASES, ids=IDS)
def test_a_fork_goes_on_like_a_fresh_monitor(name: str, make: Callable[[], Monitor], chunks: list[bytes]) -> None:
    fresh = make()
    want = run(fresh, chunks)
    for cut in range(len(chunks) + 1):
        parent = make()
        got = run(parent, chunks[:cut])
        child = parent.fork()
        got += run(child, chunks[cut:])
        assert got == want, cut
        assert {k: comparable(v) for k, v in state_fields(child).items()} == \
            {k: comparable(v) for k, v in state_fields(fresh).items()}, cut


@pytest.mark.parametrize(("name", "make", "chunks"), CASES, ids=IDS)
def test_restore_rolls_back(name: str, make: Callable[[], Monitor], chunks: list[bytes]) -> None:
    m = make()
    run(m, chunks[:2])
    snap = m.snapshot()  # type: ignore[attr-defined]
    want = run(m.fork(), chunks[2:])
    run(m, chunks[2:4])
    m.restore(snap)  # type: ignore[attr-defined]
    assert run(m, chunks[2:]) == want
    with pytest.raises(TypeError):
        m.restore(object())  # type: ignore[attr-defined]


def test_language_strategies_are_chosen_at_construction() -> None:
    assert DereferenceMonitor(JAVA, "", expected_types=True)._types is JAVA_TYPES
    assert DereferenceMonitor(JAVA, "", strict_types=True)._types is JAVA_STRICT_TYPES
    assert DereferenceMonitor(PY, "", strict_types=True)._types is PYTHON_TYPES
    assert DereferenceMonitor(get_language("go"), "", expected_types=True)._types is None
    assert DereferenceMonitor(JAVA, "", definition_sites=True)._defsites is False
    assert MEMBER_RULES["python"].definition_sites
    assert SiteMonitor(INSTANTIATION, JAVA)._select is CONCRETE
    assert SiteMonitor(INSTANTIATION, get_language("typescript"))._select is ALL_NAMES


def test_python_site_does_not_inherit_the_last_arguments_types() -> None:
    """The parameter types of one argument site gave the next site (whose type is unknown)
    a preference too; each site starts without the last one's types."""
    m = DereferenceMonitor(PY, "x = shelf_mark(3, b.", expected_types=True)
    need = m.need()
    assert isinstance(need, CompletionNeed)
    typed = (CompletionEntry("title", 6, "title: str", "title"), CompletionEntry("year", 6, "year: int", "year"))
    m.provide(CompletionFacts(need.serial, frozenset({"title", "year"}), entries=typed))
    second = m.need()
    assert isinstance(second, SignatureNeed)
    sig = Signature("shelf_mark(code: str, width: int = 4)", ("code: str", "width: int = 4"), 1, 2)
    m.provide(SignatureFacts(second.serial, (sig,)))
    assert m.constraint().preferred == frozenset({b"year"})  # type: ignore[union-attr]
    for tok in (b"year", b")\n", b"y = b."):
        m.feed(tok)
    need = m.need()
    assert isinstance(need, CompletionNeed) and not need.types  # no expected type, no argument
    m.provide(CompletionFacts(need.serial, frozenset({"title", "year"}), entries=typed))
    c = m.constraint()
    assert c is not None and not c.preferred  # type: ignore[union-attr]
