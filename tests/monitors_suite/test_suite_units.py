"""The monitor suite without servers: sites, call tracking, the masking rules, the registry."""

from __future__ import annotations

import pytest

from mgd.config import parse_config
from monitors.base import (
    CompletionFacts,
    ExcludeConstraint,
    IdentifierConstraint,
    SignatureFacts,
    SpacedConstraint,
)
from monitors.calls import ArgumentCountMonitor, KeywordArgumentMonitor, keyword_names, signature_of
from monitors.completion_sites import ENUM_CASES, IMPORTS, INSTANTIATION, SiteMonitor
from monitors.errors import ConfigError
from monitors.languages import get_language
from monitors.registry import KNOWN_MONITORS, MONITORS, applicable_monitors, build_monitors
from monitors.site_detector import SiteDetector
from monitors.vocab import VocabIndex

PY = get_language("python")
JAVA = get_language("java")
TS = get_language("typescript")
GO = get_language("go")

# ---------------------------------------------------------------------------- sites


@pytest.mark.parametrize(
    ("spec", "text", "keyword", "expected"),
    [
        (JAVA, "class A { void f() { Object o = new", "new", True),
        (JAVA, 'class A { void f() { String s = "a new', "new", False),
        (JAVA, "class A { void f() { // new", "new", False),
        (JAVA, "class A { void f() { x.new", "new", False),
        (JAVA, "class A { void f() { renew", "new", False),
        (TS, "const v = new", "new", True),
        (JAVA, "class A { int f(C c) { switch (c) { case", "case", True),
        (GO, "package p\nfunc f(c C) {\n\tswitch c {\n\tcase", "case", True),
        (PY, "from os import", "import", True),
        (PY, "x = 'from os import", "import", False),
        (PY, "# from os import", "import", False),
    ],
)
def test_keyword_site(spec, text, keyword, expected) -> None:
    assert SiteDetector(spec, text).keyword_site(keyword) is expected


@pytest.mark.parametrize(
    ("spec", "text", "expected"),
    [
        (PY, "import os.", True),
        (PY, "from geometry.", True),
        (PY, "from geometry import shapes.", False),
        (PY, "x = os.", False),
        (PY, "s = 'import os.", False),
        (JAVA, "package p;\nimport java.util.", True),
        (JAVA, "package p;\nimport static java.lang.Math.", True),
    ],
)
def test_import_dot_site(spec, text, expected) -> None:
    assert SiteDetector(spec, text).import_dot_site(len(text) - 1) is expected


@pytest.mark.parametrize(
    ("spec", "text", "expected"),
    [
        (PY, "x = f(", True),
        (PY, "x = obj.method(", True),
        (PY, "x = f()(", True),
        (PY, "if (", False),
        (PY, "def f(", False),
        (PY, "class A(", False),
        (PY, "x = (", False),
        (PY, "s = 'f(", False),
        (PY, "print(", True),
        (JAVA, "class A { void f() { g(", True),
        (JAVA, "class A { void f() { if (", False),
        (JAVA, "class A { void f() { x = new ArrayList<>(", True),
        (TS, "function f(", False),
        (TS, "const v = area(", True),
    ],
)
def test_call_open_site(spec, text, expected) -> None:
    assert SiteDetector(spec, text).call_open_site(len(text) - 1) is expected


# ---------------------------------------------------------------------------- signatures


@pytest.mark.parametrize(
    ("params", "required", "maximum"),
    [
        (("alpha", "beta=2", "*rest", "gamma=3"), 1, None),
        (("radius: float",), 1, 1),
        (("long cents", "String currencyCode"), 2, 2),
        (("String... parts",), 0, None),
        (("distanceKm: number", "end?: Position"), 1, 2),
        (("a", "/", "b", "*", "c=1"), 2, 3),
        (("**kwargs",), 0, None),
        ((), 0, 0),
    ],
)
def test_signature_of(params, required, maximum) -> None:
    sig = signature_of("f(...)", params)
    assert (sig.required, sig.maximum) == (required, maximum)


def test_keyword_names() -> None:
    assert keyword_names(signature_of("", ("a", "/", "b", "*", "c=1"))) == {"b", "c"}
    assert keyword_names(signature_of("", ("x", "*args", "key: int = 0"))) == {"x", "key"}
    assert keyword_names(signature_of("", ("x", "**kw"))) is None


# ---------------------------------------------------------------------------- call monitors

BOX = "def box(width, height, depth=1):\n    pass\n\nb = box("
BOX_SIG = signature_of("box(width, height, depth=1)", ("width", "height", "depth=1"))


def _open(cls, prefix: str = BOX, sig=BOX_SIG):
    m = cls(PY, prefix)
    need = m.need()
    assert need is not None and need.offset == 0
    m.provide(SignatureFacts(need.serial, (sig,)))
    return m


def test_argument_count_rules() -> None:
    m = _open(ArgumentCountMonitor)
    assert m.constraint() == ExcludeConstraint(stops=frozenset({ord(")")}))
    m.feed(b"(2, 3)")  # the tuple's comma and parenthesis are nested: one argument
    assert m.constraint() == ExcludeConstraint(stops=frozenset({ord(")")}))
    m.feed(b", 1, ")
    assert m.constraint() is None  # 2 given, the third is optional: both ")" and more are fine
    m.feed(b"'a,)'")  # inside the string nothing counts
    assert m.constraint() == ExcludeConstraint(stops=frozenset({ord(",")}))
    m.feed(b")")
    assert m.depth == 0 and m.stats.extra["accepted"] == 1 and m.stats.extra["violations"] == 0


def test_argument_count_counts_violations_and_nesting() -> None:
    m = _open(ArgumentCountMonitor)
    m.feed(b"f(")  # a nested call: its own frame, waiting for its facts
    assert m.depth == 2 and m.need() is not None and m.constraint() is None
    m.provide(SignatureFacts(m.need().serial, (signature_of("f(x)", ("x",)),)))
    m.feed(b"1)")
    assert m.depth == 1 and m.stats.extra["accepted"] == 1
    m.feed(b")")  # box(f(1)) lacks "height"
    assert m.depth == 0 and m.stats.extra["violations"] == 1


def test_argument_count_fails_open() -> None:
    m = ArgumentCountMonitor(PY, BOX)
    m.provide(SignatureFacts(m.need().serial, ok=False))
    assert m.constraint() is None and m.stats.failed_lookups == 1
    m.feed(b")")
    assert m.depth == 0 and m.stats.extra["unchecked"] == 1
    starred = _open(ArgumentCountMonitor)
    starred.feed(b"*sizes")
    assert starred.constraint() is None


def test_keyword_argument_rule() -> None:
    m = _open(KeywordArgumentMonitor)
    names = frozenset({b"width", b"height", b"depth"})
    assert m.constraint() == ExcludeConstraint(names=names)
    m.feed(b"colour")
    assert m.constraint() == ExcludeConstraint(names=names, typed=b"colour")
    m.feed(b" ")
    assert m.constraint() == ExcludeConstraint(names=names, typed=b"colour", spaced=True)
    m.feed(b"== 1, depth")  # a comparison is positional; then a real keyword
    assert m.stats.extra["violations"] == 0
    m.feed(b"=2, colour=3)")
    assert m.stats.extra["accepted"] == 1 and m.stats.extra["violations"] == 1
    m2 = _open(KeywordArgumentMonitor)
    m2.feed(b"x.y")
    assert m2.constraint() is None  # not "[ws] name [ws]": no opinion


# ---------------------------------------------------------------------------- site monitors


def test_instantiation_keyword_site() -> None:
    m = SiteMonitor(INSTANTIATION, JAVA, "class A { void f() { Object o =")
    m.feed(b" new")
    need = m.need()
    assert need is not None and need.generated == " new " and need.offset == 5
    assert need.kinds is not None
    m.provide(CompletionFacts(need.serial, frozenset({"Money", "Object", "a-b"})))
    c = m.constraint()
    assert c == SpacedConstraint(IdentifierConstraint(frozenset({b"Money", b"Object"})), strict=True)
    m.feed(b" Mo")
    assert m.constraint() == IdentifierConstraint(frozenset({b"Money"}), b"Mo")
    m.feed(b"ney(")
    assert m.state == "idle" and m.stats.extra["accepted"] == 1


def test_site_identifier_continuation_is_not_a_site() -> None:
    m = SiteMonitor(INSTANTIATION, TS, "const v =")
    m.feed(b" new")
    m.provide(CompletionFacts(m.need().serial, frozenset({"Vehicle"})))
    m.feed(b"Value")  # "newValue": an identifier
    assert m.state == "idle" and m.stats.extra["not_site"] == 1 and m.constraint() is None


def test_incomplete_list_reasks_with_a_prefix() -> None:
    m = SiteMonitor(INSTANTIATION, JAVA, "class A { void f() { Object o = new")
    m.provide(CompletionFacts(m.need().serial, frozenset({"Object"}), incomplete=True))
    # Java: one initial character first (then the complete list for it is asked), not "new 16"
    initials = m.constraint()
    assert isinstance(initials, SpacedConstraint) and initials.strict
    assert initials.then is not None and b"A" in initials.then.candidates and b"1" not in initials.then.candidates
    assert m.stats.extra["incomplete_open"] == 1
    m.feed(b" Arr")
    need = m.need()
    assert need is not None and need.generated == " Arr"
    m.provide(CompletionFacts(need.serial, frozenset({"ArrayList", "ArrayDeque"}), incomplete=True))
    assert m.constraint() == IdentifierConstraint(frozenset({b"ArrayList", b"ArrayDeque"}), b"Arr")


def test_enum_case_and_import_sites() -> None:
    e = SiteMonitor(ENUM_CASES, GO, "package p\nfunc f(c C) int {\n\tswitch c {\n\tcase")
    assert e.need() is not None and e.need().generated == " "
    i = SiteMonitor(IMPORTS, PY, "import os\n")
    i.feed(b"from geometry")
    assert i.need() is None
    i.feed(b".")
    need = i.need()
    assert need is not None and need.generated == "from geometry."
    i.provide(CompletionFacts(need.serial, frozenset({"shapes"})))
    assert i.constraint() == IdentifierConstraint(frozenset({b"shapes"}), b"")
    i.feed(b"dimension ")
    assert i.stats.extra["violations"] == 1
    assert SiteMonitor(IMPORTS, JAVA, "package p;\nimport java.").need() is not None


def test_site_fork_is_independent() -> None:
    m = SiteMonitor(INSTANTIATION, TS, "const v = new ")
    m.provide(CompletionFacts(m.need().serial, frozenset({"Vehicle", "Map"})))
    f = m.fork()
    f.feed(b"Ve")
    assert m.constraint() == IdentifierConstraint(frozenset({b"Map", b"Vehicle"}), b"")
    assert f.constraint() == IdentifierConstraint(frozenset({b"Vehicle"}), b"Ve")


# ---------------------------------------------------------------------------- masking rules

TOKENS = [b" ", b")", b"),", b"x)", b"(a)", b" Circle", b" Ci", b"rcle", b" 16", b" (", b"=", b"==",
          b" =", b"width=", b"wid", b"th", b"colour=", b'"a)"', b"Value", b" 0",
          b"()", b"(),", b"())", b'("a,']


@pytest.fixture(scope="module")
def index() -> VocabIndex:
    return VocabIndex.from_token_bytes([*TOKENS, None], eos_ids=[len(TOKENS)])


def _spelled(index: VocabIndex, c) -> set[bytes]:
    return {index.token_bytes(int(i)) or b"<eos>" for i in index.allowed_ids(c)}


def test_exclude_stops(index: VocabIndex) -> None:
    got = _spelled(index, ExcludeConstraint(stops=frozenset({ord(")")})))
    assert b")" not in got and b"x)" not in got and b")," not in got
    assert b"(a)" in got and b'"a)"' in got and b"<eos>" in got  # nesting/string first
    assert b"())" not in got and b"()," in got and b"()" in got  # brackets the token closes itself


def test_exclude_judges_the_first_top_level_byte(index: VocabIndex) -> None:
    got = _spelled(index, ExcludeConstraint(stops=frozenset({ord(",")})))
    assert b"()," not in got and b")," in got  # `(),` adds an argument; `),` closes first
    assert b"()" in got and b'("a,' in got  # nothing at top level / a comma inside a string


def test_exclude_keyword_names(index: VocabIndex) -> None:
    names = frozenset({b"width"})
    got = _spelled(index, ExcludeConstraint(names=names))
    assert b"width=" in got and b"colour=" not in got and b"=" in got
    got = _spelled(index, ExcludeConstraint(names=names, typed=b"colour"))
    assert b"=" not in got and b" =" not in got and b"==" in got and b"width=" not in got
    got = _spelled(index, ExcludeConstraint(names=names, typed=b"wid"))
    assert b"th" in got and b"=" not in got
    got = _spelled(index, ExcludeConstraint(names=names, typed=b"width", spaced=True))
    assert b"=" in got and b" =" in got


def test_spaced_constraint(index: VocabIndex) -> None:
    then = IdentifierConstraint(frozenset({b"Circle"}))
    got = _spelled(index, SpacedConstraint(then))
    assert {b" Circle", b" Ci", b" ", b"Value", b" 16", b" ("} <= got
    assert b" 0" in got  # digits stay free (case 0:)
    strict = _spelled(index, SpacedConstraint(then, strict=True))
    assert b" Ci" in strict and b" 16" not in strict and b" (" not in strict and b"Value" in strict
    any_name = _spelled(index, SpacedConstraint(None, strict=True))
    assert _spelled(index, SpacedConstraint(None, strict=True, spaced=False)) == {b"rcle", b"width=", b"wid", b"x)",
                                                                                 b"th", b"colour=", b"Value"}
    assert {b" Circle", b" Ci", b" ", b"Value", b")"} <= any_name and not {b" 16", b" (", b" 0"} & any_name


# ---------------------------------------------------------------------------- registry


def test_registry_names_and_languages() -> None:
    assert set(MONITORS) | {"all"} == set(KNOWN_MONITORS)
    assert applicable_monitors("python") == ("dereference", "imports", "arguments", "keyword_arguments",
                                              "definition_sites", "expected_types", "syntax")
    assert applicable_monitors("java") == ("dereference", "instantiation", "enum_cases", "imports", "arguments",
                                           "expected_types", "expected_types_strict", "syntax")
    built = build_monitors(["all"], TS, "")
    assert [type(m).__name__ for m in built] == [
        "DereferenceMonitor", "SiteMonitor", "SiteMonitor", "ArgumentCountMonitor"
    ]
    assert build_monitors(["keyword_arguments"], JAVA, "") == []  # does not apply: skipped
    with pytest.raises(ConfigError, match="unknown monitor 'spelling'"):
        build_monitors(["spelling"], PY, "")


def test_toml_accepts_new_monitor_names() -> None:
    cfg = parse_config({"languages": {"python": {"monitors": ["dereference", "keyword_arguments"]}}})
    assert cfg.configured_monitors("python") == ("dereference", "keyword_arguments")
    cfg = parse_config({"languages": {"python": {"monitors": ["definition_sites", "syntax"]},
                                      "java": {"monitors": ["syntax"]}}})
    assert cfg.configured_monitors("python") == ("definition_sites", "syntax")
    assert cfg.configured_monitors("java") == ("syntax",)
    with pytest.raises(ConfigError):
        parse_config({"languages": {"python": {"monitors": ["kwargs"]}}})
