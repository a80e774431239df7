"""Per-language item selection of the site monitors (no server, no model): the facts
are shaped like the answers JDT LS, gopls and typescript-language-server gave."""

from __future__ import annotations

import pytest
from lsprotocol.types import CompletionItemKind as K

from monitors.base import (
    CompletionEntry,
    CompletionFacts,
    IdentifierConstraint,
    PrefixConstraint,
    SpacedConstraint,
)
from monitors.completion_sites import ENUM_CASES, INSTANTIATION, PROBE_INITIALS, SiteMonitor, switch_subject
from monitors.languages import get_language

JAVA = get_language("java")
GO = get_language("go")
TS = get_language("typescript")


def facts(monitor: SiteMonitor, *entries: tuple[str, K, str | None, str], incomplete: bool = False) -> None:
    need = monitor.need()
    assert need is not None and need.entries
    es = tuple(CompletionEntry(n, int(k), d, t) for n, k, d, t in entries)
    monitor.provide(CompletionFacts(need.serial, frozenset(e.name for e in es), incomplete, entries=es))


@pytest.mark.parametrize(
    ("text", "subject"),
    [
        ("func f(l Level) {\n\tswitch l {\n\tcase", "l"),
        ("func f() {\n\tswitch x := g(); b.lvl {\n\tcase", "b.lvl"),
        ("void f() { switch (s.kind()) { case", "s.kind()"),
        ("switch a {\ncase 1:\n}\nswitch (b) {\ncase", "b"),  # the innermost open one
        ("switch v := x.(type) {\ncase", None),
        ("x := 1\ncase", None),
    ],
)
def test_switch_subject(text: str, subject: str | None) -> None:
    assert switch_subject(text) == subject


def test_go_constants_of_the_subject_type() -> None:
    m = SiteMonitor(ENUM_CASES, GO, "package p\nfunc f(d Weekday) string {\n\tswitch d {\n\tcase")
    facts(m, ("d", K.Variable, "Weekday", "d"), ("Low", K.Constant, "Level", "Low"),
          ("Monday", K.Constant, "Weekday", "Monday"), ("Tuesday", K.Constant, "Weekday", "Tuesday"),
          ("MaxVolume", K.Constant, "int", "MaxVolume"), incomplete=True)  # gopls: always incomplete
    assert m.constraint() == SpacedConstraint(IdentifierConstraint(frozenset({b"Monday", b"Tuesday"})))
    m.feed(b" Low:")
    assert m.stats.extra["violations"] == 1


def test_go_constants_of_another_package_go_through_the_package() -> None:
    m = SiteMonitor(ENUM_CASES, GO, "package main\nfunc f(l levels.Level) {\n\tswitch l {\n\tcase ")
    facts(m, ("l", K.Variable, "levels.Level", "l"), ("levels", K.Module, '"example.com/levels"', "levels"),
          ("levels", K.Constant, "levels.Level", "levels.High"))
    assert m.constraint() == IdentifierConstraint(frozenset({b"levels"}), b"")
    m.feed(b"levels")
    need = m.need()  # members asked as if the dot were typed
    assert m.state == "qwait" and need is not None and need.generated.endswith("levels.")
    facts(m, ("High", K.Constant, "levels.Level", "High"), ("Red", K.Constant, "levels.Color", "Red"))
    assert m.constraint() == PrefixConstraint(b".", IdentifierConstraint(frozenset({b"High"})))
    m.feed(b".High:")
    assert m.stats.extra["accepted"] == 1 and m.state == "idle"


def test_go_without_a_typed_subject_has_no_opinion() -> None:
    m = SiteMonitor(ENUM_CASES, GO, "package p\nfunc f() {\n\tswitch g() {\n\tcase")
    facts(m, ("Low", K.Constant, "Level", "Low"))
    assert m.constraint() is None and m.stats.extra["untyped_subject"] == 1


def test_typescript_enum_name_then_member() -> None:
    m = SiteMonitor(ENUM_CASES, TS, "function f(c: Color) {\n  switch (c) {\n    case")
    facts(m, ("Color", K.Enum, None, "Color"), ("c", K.Variable, None, "c"))
    assert m.constraint() == SpacedConstraint(IdentifierConstraint(frozenset({b"Color"})))
    m.feed(b" Color")
    assert m.state == "qwait" and m.stats.extra["qualified"] == 1
    facts(m, ("Red", K.EnumMember, None, "Red"), ("Blue", K.EnumMember, None, "Blue"))
    c = m.constraint()
    assert c == PrefixConstraint(b".", IdentifierConstraint(frozenset({b"Red", b"Blue"})))
    m.feed(b":")  # `case Color:` is what the constraint forbids
    assert m.stats.extra["violations"] == 1


def test_typescript_dot_written_before_the_members_came() -> None:
    m = SiteMonitor(ENUM_CASES, TS, "switch (c) {\n    case ")
    facts(m, ("Color", K.Enum, None, "Color"))
    m.feed(b"Color.")  # one token: the members are asked at the dot
    need = m.need()
    assert need is not None and need.generated == "Color."
    facts(m, ("Red", K.EnumMember, None, "Red"))
    assert m.constraint() == IdentifierConstraint(frozenset({b"Red"}), b"")


def test_java_case_probes_each_initial() -> None:
    m = SiteMonitor(ENUM_CASES, JAVA, "class A { String f(Level l) { switch (l) { case")
    facts(m)  # JDT LS: nothing for an empty name
    for ch in PROBE_INITIALS:
        need = m.need()
        assert need is not None and need.generated == " " + ch and need.offset == 2
        names = {"L": ["LOW", "lower"], "H": ["HIGH"]}.get(ch, [])  # JDT: case-insensitive prefix
        facts(m, *[(n, K.EnumMember, f"Level.{n} : Level", n) for n in names])
    assert m.stats.extra["probes"] == len(PROBE_INITIALS)
    # An enum switch: strict (a constant's name, never a literal).
    assert m.constraint() == SpacedConstraint(IdentifierConstraint(frozenset({b"HIGH", b"LOW", b"lower"})), strict=True)


def test_java_case_on_a_non_enum_has_no_opinion() -> None:
    m = SiteMonitor(ENUM_CASES, JAVA, "class A { String f(int n) { switch (n) { case ")
    facts(m)
    facts(m, ("Alpha", K.Field, "int", "Alpha"))
    assert m.need() is None and m.constraint() is None and m.stats.extra["not_enum"] == 1


def test_java_new_drops_anonymous_classes_and_requires_the_call() -> None:
    m = SiteMonitor(INSTANTIATION, JAVA, "class A { Object o = new")
    facts(m, ("Object", K.Constructor, "java.lang.Object", "Object"), incomplete=True)
    first = m.constraint()  # an incomplete list: one capital initial, then the complete list for it
    assert isinstance(first, SpacedConstraint) and first.then is not None
    assert b"L" in first.then.candidates and b"x" not in first.then.candidates
    assert b"i" in first.then.candidates  # new int[n]
    m.feed(b" L")
    facts(m, ("Lion", K.Constructor, "com.example.zoo.Lion", "Lion"),
          ("LinkedList", K.Constructor, "java.util.LinkedList", "LinkedList<>"),
          ("Level", K.Constructor, "jdk.jfr.internal.Level", "Level() {\n\n}"),  # abstract: anonymous class
          ("LocalDate", K.Class, "java.time.LocalDate", "LocalDate"))  # no accessible constructor
    assert m.constraint() == IdentifierConstraint(frozenset({b"Lion", b"LinkedList"}), b"L")
    fork = m.fork()
    m.feed(b"ion")
    # not "new Lion.x": a call or an array dimension
    assert m.constraint() == PrefixConstraint(b"(", alternatives=frozenset({b"["}))
    fork.feed(b"inkedList")
    assert fork.constraint() == PrefixConstraint(b"(", alternatives=frozenset({b"<", b"["}))
    m.feed(b".x")
    assert m.stats.extra["violations"] == 1
    fork.feed(b"<>();")
    assert fork.stats.extra["accepted"] == 1


def test_java_new_allows_primitive_arrays_only_as_arrays() -> None:
    m = SiteMonitor(INSTANTIATION, JAVA, "class A { Object o = new")
    facts(m, ("Object", K.Constructor, "java.lang.Object", "Object"), incomplete=True)
    m.feed(b" i")
    facts(m, ("Integer", K.Constructor, "java.lang.Integer", "Integer"),
          ("InputStream", K.Constructor, "java.io.InputStream", "InputStream() {\n\n}"))
    assert m.constraint() == IdentifierConstraint(frozenset({b"int"}), b"i")
    fork = m.fork()
    m.feed(b"nt")
    assert m.constraint() == PrefixConstraint(b"[")
    m.feed(b"[8];")
    assert m.stats.extra["accepted"] == 1
    fork.feed(b"nt(")
    assert fork.stats.extra["violations"] == 1
