"""Python expected types (monitors/python_types.py): member types from resolved items,
the sites whose type the text states, fits, argument slots and parameter annotations,
and the dereference monitor's preference built from them."""

from __future__ import annotations

import pytest
from lsprotocol import types as lsp

from lsp_bridge.client import resolved_detail
from monitors.base import CompletionEntry, CompletionFacts, CompletionNeed, IdentifierConstraint, Signature
from monitors.dereference import DereferenceMonitor
from monitors.document import Document
from monitors.languages import get_language
from monitors.python_types import PYTHON_TYPES, argument_slot, expected_type, fits, member_type, parameter_types
from monitors.registry import build_monitors

PY = get_language("python")


@pytest.mark.parametrize(("detail", "want"), [
    ("title: str", "str"),                       # pyright attribute
    ("label: str (property)", "str"),            # pyright property
    ("def copy() -> Book", "Book"),              # pyright method: its return type
    ("def f( a: int, b: str ) -> list[int]", "list[int]"),
    ('def copy() -> "Book"', "Book"),            # jedi (quoted forward reference)
    ("self.tags: list[str] = []", "list[str]"),  # jedi annotated attribute
    ("async def fetch(url: str) -> bytes", "bytes"),
    ("class Author", "Author"),
    ("self.title = title", None),                # jedi: unannotated, no type
    ("property label", None),
    ("def pages()", None),                       # no annotation
    ("", None),
    (None, None),
])
def test_member_type(detail, want) -> None:
    assert member_type(detail) == want


@pytest.mark.parametrize(("member", "expected", "ok"), [
    ("str", "str", True),
    ("str | None", "str", False),            # __doc__ where str is declared
    ("str", "Optional[str]", True),
    ("int", "float", True),                  # the numeric tower
    ("float", "int", False),
    ("bool", "int", True),
    ("Literal[3]", "int", True),
    ("Literal['a', 'b']", "str", True),
    ("List[str]", "list[str]", True),        # typing aliases
    ("list[str]", "Sequence[str]", True),
    ("dict[str, int]", "Mapping[str, int]", True),
    ("bytes", "str", False),
    ("Book", "typing.Optional[Book]", True),
    ("Book", "Author", False),
    ("str", "Any", False),                   # permissive: no preference
    ("str", "object", False),
    ("str", "_T", False),                    # a type variable
    (None, "str", False),
])
def test_fits(member, expected, ok) -> None:
    assert fits(member, expected) is ok


def at_dot(text: str) -> int:
    assert text.endswith(".")
    return len(text) - 1


@pytest.mark.parametrize(("text", "want"), [
    ("def show(b: Book) -> str:\n    if b:\n        return b.", "str"),
    ("def show(b: Book) -> Optional[int]:\n    return b.", "Optional[int]"),
    ("def show(\n    b: Book,\n) -> int:  # pages\n    return b.", "int"),
    ("def show(b: Book):\n    return b.", None),                          # no annotation
    ("def outer() -> int:\n    def inner() -> str:\n        return b.", "str"),
    ("def outer() -> int:\n    def inner() -> str:\n        pass\n    return b.", "int"),
    ("def show(b: Book) -> Any:\n    return b.", None),                   # permissive
    ("def f(b):\n    n: list[str] = b.", "list[str]"),                   # annotated assignment
    ("class A:\n    def f(self, b):\n        self.count: int = b.", "int"),
    ("class A:\n    def __init__(self):\n        self.count: int = 0\n    def g(self, b):\n        self.count = b.",
     "int"),                                                               # declared earlier
    ("class A:\n    count: float\n    def g(self, b):\n        self.count = b.", "float"),
    ("def h(n: float, b):\n    n = b.", "float"),                         # a parameter
    ("def h(b):\n    n = b.", None),                                       # never annotated
    ("def h(b):\n    print(b.", None),
])
def test_expected_type(text, want) -> None:
    assert expected_type(text, at_dot(text)) == want


@pytest.mark.parametrize(("text", "want"), [
    ("need(3, b.", 1),
    ("need(b.", 0),
    ("need(3, key=b.", "key"),
    ("need(3, key = b.", "key"),
    ("x = b.", None),
    ("if (b.", None),
    ("x = (a == b.", None),
])
def test_argument_slot(text, want) -> None:
    assert argument_slot(text, at_dot(text)) == want
    assert argument_slot(text, at_dot(text), Document(PY.lex, text)) == want  # the monitor's path


def sig(*params: str) -> Signature:
    return Signature(label=f"f({', '.join(params)})", params=params, required=0, maximum=None)


def test_parameter_types() -> None:
    s = sig("a: int", "b: str = ''", "*args: float", "key: bytes = b''", "**kw: int")
    assert parameter_types((s,), 0) == ("int",)
    assert parameter_types((s,), 1) == ("str",)
    assert parameter_types((s,), 4) == ("float",)          # past the named ones: *args
    assert parameter_types((s,), "key") == ("bytes",)
    assert parameter_types((s,), "other") == ("int",)      # **kw
    assert parameter_types((sig("a: int", "b"),), 1) == ()  # unannotated: no preference
    assert parameter_types((sig("a: int"), sig("a: str")), 0) == ("int", "str")  # overloads
    assert parameter_types((sig("a: int"), sig("a: Any")), 0) == ()              # one permissive
    assert parameter_types((sig("self", "a: int"),), 0) == ("int",)              # self skipped
    assert parameter_types((sig("a: int"),), 3) == ()                            # no such argument


def test_resolved_detail_reads_documentation() -> None:
    doc = lsp.MarkupContent(kind=lsp.MarkupKind.PlainText, value="def f(\n    a: int\n) -> str\n\nDocs.")
    assert resolved_detail(lsp.CompletionItem(label="f", documentation=doc)) == "def f( a: int ) -> str"
    md = lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value='```python\ndef copy() -> "Book"\n```\n\nText')
    assert resolved_detail(lsp.CompletionItem(label="copy", documentation=md)) == 'def copy() -> "Book"'
    assert resolved_detail(lsp.CompletionItem(label="x", detail="x: int")) == "x: int"
    assert resolved_detail(lsp.CompletionItem(label="x")) is None


def entries(**types: str | None) -> tuple[CompletionEntry, ...]:
    return tuple(CompletionEntry(n, 6, d, n) for n, d in types.items())


def test_monitor_prefers_fitting_members_and_resolves_only_at_typed_sites() -> None:
    text = "def show(b: Book) -> int:\n    return b."
    m = DereferenceMonitor(PY, text, expected_types=True)
    need = m.need()
    assert isinstance(need, CompletionNeed) and need.entries and need.types  # a typed site: resolve
    facts = CompletionFacts(need.serial, frozenset({"title", "year", "pages", "copy"}),
                            entries=entries(title="title: str", year="year: int", pages="def pages() -> int",
                                            copy="def copy() -> Book"))
    m.provide(facts)
    c = m.constraint()
    assert isinstance(c, IdentifierConstraint) and c.preferred == frozenset({b"year", b"pages"}) and c.bonus > 0
    untyped = DereferenceMonitor(PY, "def show(b: Book):\n    b.", expected_types=True)
    assert untyped.need() is not None and not untyped.need().types  # no expected type: no resolving
    plain = DereferenceMonitor(PY, text)
    assert not plain.need().entries and not plain.need().types


def test_monitor_argument_site_asks_signature_then_prefers() -> None:
    from monitors.base import SignatureFacts, SignatureNeed

    m = DereferenceMonitor(PY, "x = shelf_mark(3, b.", expected_types=True)
    need = m.need()
    assert need.types  # an argument site: resolve
    m.provide(CompletionFacts(need.serial, frozenset({"title", "year"}),
                              entries=entries(title="title: str", year="year: int")))
    second = m.need()
    assert isinstance(second, SignatureNeed)
    m.provide(SignatureFacts(second.serial, (sig("code: str", "width: int = 4"),), 0, ok=True))
    c = m.constraint()
    assert c.preferred == frozenset({b"year"})  # width: int
    assert m.stats.extra["type_arguments"] == 1


def test_registry_folds_definition_sites_and_expected_types() -> None:
    built = build_monitors(["dereference", "definition_sites", "expected_types", "syntax"], PY, "b.")
    derefs = [m for m in built if isinstance(m, DereferenceMonitor)]
    assert len(derefs) == 1  # one monitor with both options, not two
    assert derefs[0]._defsites and derefs[0]._types is PYTHON_TYPES
    assert not any(isinstance(m, DereferenceMonitor) and m._types is not None
                   for m in build_monitors(["definition_sites"], PY, "b."))


def test_reach_probes_a_class_type_when_nothing_fits() -> None:
    """``-> list[str]`` and no member fits: the monitor asks what ``first()`` (a Book)
    holds; Book has ``tags: list[str]``, so the Book members are preferred."""
    text = "def names(s: Shelf) -> list[str]:\n    return s."
    m = DereferenceMonitor(PY, text, expected_types=True)
    need = m.need()
    ents = (CompletionEntry("first", 3, "def first() -> Book", "first"), CompletionEntry("size", 6, "size: int", "size"),
            CompletionEntry("book", 6, "book: Book", "book"))
    m.provide(CompletionFacts(need.serial, frozenset({"first", "size", "book"}), entries=ents))
    probe = m.need()
    assert isinstance(probe, CompletionNeed) and probe.generated == "book." and probe.types  # min name of the type
    m.provide(CompletionFacts(probe.serial, frozenset({"tags", "title", "__str__"}),
                              entries=entries(tags="tags: list[str]", title="title: str", __str__="def __str__() -> str")))
    c = m.constraint()
    assert c.preferred == frozenset({b"first", b"book"}) and m.stats.extra["type_reach"] == 1
    assert m.need() is None  # one class type: one probe


def shelf_site(returns: str) -> DereferenceMonitor:
    """``return s.`` in a function returning ``returns``, the Shelf's members answered."""
    m = DereferenceMonitor(PY, f"def f(s: Shelf) -> {returns}:\n    return s.", expected_types=True)
    need = m.need()
    m.provide(CompletionFacts(need.serial, frozenset({"book", "size"}),
                              entries=entries(book="book: Book", size="size: int")))
    return m


def test_reach_ignores_members_every_object_has() -> None:
    m = shelf_site("str")
    probe = m.need()
    m.provide(CompletionFacts(probe.serial, frozenset({"__repr__", "year"}),
                              entries=entries(__repr__="def __repr__() -> str", year="year: int")))
    c = m.constraint()
    assert not c.preferred and m.stats.extra["type_reach"] == 0  # __repr__ reaches str from anything


def test_reach_stops_when_the_identifier_ends() -> None:
    m = shelf_site("list[str]")
    probe = m.need()
    assert probe is not None
    m.feed(b"size\n")  # the model wrote a name and moved on
    assert m.need() is None
    m.provide(CompletionFacts(probe.serial, frozenset({"tags"}), entries=entries(tags="tags: list[str]")))
    assert m.stats.extra["type_reach"] == 0 and m.stats.extra["stale_facts"] == 1
