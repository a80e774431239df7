"""Expected types (Java): the site rules of monitors.java_types (and monitors.type_rules) and the monitor that uses them."""

from __future__ import annotations

import pytest

from monitors.base import (
    CompletionEntry,
    CompletionFacts,
    CompletionNeed,
    ItemKind,
    Signature,
    SignatureFacts,
    SignatureNeed,
)
from monitors.dereference import PREFER_BONUS, DereferenceMonitor
from monitors.document import Document
from monitors.java_types import (
    declared_type,
    expected_type,
    fits,
    is_value_site,
    member_type,
    parameter_types,
    return_type,
    unusable,
)
from monitors.languages import get_language
from monitors.registry import build_monitors
from monitors.type_rules import argument_position, receiver_start

JAVA = get_language("java")

# Items as JDT LS reports them at ``b.`` (detail ``Owner.member(...) : type``).
ITEMS = (
    ("title", ItemKind.Field, "Main.Book.title : String"),
    ("year", ItemKind.Field, "Main.Book.year : int"),
    ("getYear", ItemKind.Method, "Book.getYear() : int"),
    ("copy", ItemKind.Method, "Book.copy() : Book"),
    ("print", ItemKind.Method, "Book.print() : void"),
    ("wait", ItemKind.Method, "Object.wait() : void"),
    ("wait", ItemKind.Method, "Object.wait(long arg0) : void"),
    ("render", ItemKind.Method, "Book.render() : void"),
    ("render", ItemKind.Method, "Book.render(int arg0) : String"),  # an overload with a value
)


def at_dot(text: str) -> int:
    assert text.endswith(".")
    return len(text) - 1


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("String t = b.", True),
        ("x += b.", True),
        ("return b.", True),
        ("take(b.", True),
        ("take(a, b.", True),
        ("take(a, lib.get(i).", True),
        ("if (b.", True),
        ("x == b.", True),
        ("arr[b.", True),
        ("y = !b.", True),
        ("cond ? b.", True),
        ("Book c = new Book(1).", True),
        ('String s = "abc".', True),
        ("    b.", False),
        ("{ b.", False),
        ("x = 1;\n    b.", False),
        ("if (ok) b.", False),
        ("xs.forEach(x -> b.", False),
        ("for (b.", False),
        ("for (int i = 0; i < n; i++, b.", False),
        ("case 1: b.", False),
        ("    lib.get(i).", False),
        ("    new Book(1).", False),
        ("else b.", False),
    ],
)
def test_value_site(text: str, value: bool) -> None:
    assert is_value_site(text, at_dot(text)) is value
    assert is_value_site(text, at_dot(text), Document(JAVA.lex, text)) is value  # the monitor's path


def test_receiver_start() -> None:
    text = "x = foo(a, b).bar[0].baz."
    assert text[receiver_start(text, at_dot(text)) :] == "foo(a, b).bar[0].baz."
    text = "y = new Foo<>(1).get()."
    assert text[receiver_start(text, at_dot(text)) :] == "new Foo<>(1).get()."
    text = "    x = List.<String>of(a)."
    assert text[receiver_start(text, at_dot(text)) :] == "List.<String>of(a)."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("    String t = b.", "String"),
        ("    final Map<String, Integer> m = lib.", "Map<String,Integer>"),
        ("    int[] xs = b.", "int[]"),
        ("    java.util.List<Book> all = lib.", "java.util.List<Book>"),
        ("    t = b.", None),
        ("    return b.", None),
        ("    take(b.", None),
        ("    x == b.", None),
    ],
)
def test_declared_type(text: str, expected: str | None) -> None:
    assert declared_type(text, at_dot(text)) == expected


def test_member_type() -> None:
    assert member_type("Book.getYear() : int") == "int"
    assert member_type("Main.Book.title : String") == "String"
    assert member_type("List.toArray(T[] arg0) : T[]") == "T[]"
    assert member_type("Map<K, V>.entrySet() : Set<Entry<K, V>>") == "Set<Entry<K, V>>"
    assert member_type(None) is None
    assert member_type("int") is None  # no type reported in a form we know


def test_unusable_rules() -> None:
    assert unusable("void", value_site=True, expected=None, strict=False)
    assert not unusable("void", value_site=False, expected=None, strict=False)
    assert not unusable("int", value_site=True, expected="Book", strict=False)  # only strict judges types
    assert unusable("int", value_site=True, expected="Book", strict=True)
    assert unusable("boolean", value_site=True, expected="String", strict=True)
    assert unusable("long", value_site=True, expected="ZipEntry", strict=True)
    for ok in ("int", "long", "Integer", "Object", "Number", "T", "Comparable<Integer>", "var", "boolean"):
        assert not unusable("int", value_site=True, expected=ok, strict=True), ok
    assert not unusable("Class<?>", value_site=True, expected="int", strict=True)  # may reach int via a member
    assert not unusable(None, value_site=True, expected="Book", strict=True)


def facts_for(m: DereferenceMonitor, items=ITEMS) -> CompletionFacts:
    need = m.need()
    assert need is not None and need.entries
    entries = tuple(CompletionEntry(n, int(k), d, n) for n, k, d in items)
    return CompletionFacts(need.serial, frozenset(n for n, _, _ in items), entries=entries)


def candidates(m: DereferenceMonitor) -> set[str]:
    c = m.constraint()
    assert c is not None
    return {x.decode() for x in c.candidates}


PROMPT = "class Main {\n  static String show(Book b) {\n"


def test_monitor_drops_void_members_inside_an_expression() -> None:
    m = DereferenceMonitor(JAVA, PROMPT + "    String t = b.", expected_types=True)
    m.provide(facts_for(m))
    # ``render`` stays: one overload returns a value.
    assert candidates(m) == {"title", "year", "getYear", "copy", "render"}
    assert m.stats.extra["type_filtered"] == 2


def test_monitor_keeps_void_members_at_a_statement() -> None:
    m = DereferenceMonitor(JAVA, PROMPT + "    b.", expected_types=True)
    m.provide(facts_for(m))
    assert candidates(m) == {"title", "year", "getYear", "copy", "render", "print", "wait"}
    assert m.stats.extra["type_filtered"] == 0


def test_strict_drops_primitives_where_a_class_is_declared() -> None:
    m = DereferenceMonitor(JAVA, PROMPT + "    Book c = b.", strict_types=True)
    m.provide(facts_for(m))
    assert candidates(m) == {"title", "copy", "render"}
    safe = DereferenceMonitor(JAVA, PROMPT + "    Book c = b.", expected_types=True)
    safe.provide(facts_for(safe))
    assert candidates(safe) == {"title", "year", "getYear", "copy", "render"}


def test_fails_open_when_every_candidate_would_go() -> None:
    m = DereferenceMonitor(JAVA, PROMPT + "    String t = b.", expected_types=True)
    m.provide(facts_for(m, items=ITEMS[4:6]))
    assert candidates(m) == {"print", "wait"}
    assert m.stats.extra["type_open"] == 1


def test_typed_prefix_counts_for_failing_open() -> None:
    # ``b.pr`` typed: only ``print`` matches, and it is void: keep it rather than mask everything.
    m = DereferenceMonitor(JAVA, PROMPT + "    String t = b.pr", expected_types=True)
    m.provide(facts_for(m))
    assert candidates(m) == {"print"}


def test_without_entries_the_monitor_is_plain_dereference() -> None:
    m = DereferenceMonitor(JAVA, PROMPT + "    String t = b.", expected_types=True)
    need = m.need()
    assert need is not None
    m.provide(CompletionFacts(need.serial, frozenset({"print", "title"})))
    assert candidates(m) == {"print", "title"}


def test_fork_keeps_the_site() -> None:
    m = DereferenceMonitor(JAVA, PROMPT + "    String t = b.", expected_types=True)
    f = m.fork()
    f.provide(facts_for(f))
    assert "print" not in candidates(f)


def test_registry_names() -> None:
    mons = build_monitors(["expected_types"], JAVA, PROMPT + "    String t = b.")
    assert len(mons) == 1 and isinstance(mons[0], DereferenceMonitor)
    need = mons[0].need()
    assert need is not None and need.entries
    # Python: the preference only; entries asked, resolved only where a type is expected.
    py = build_monitors(["dereference", "expected_types"], get_language("python"), "x = a.")
    assert len(py) == 1 and py[0].need().entries and not py[0].need().types
    both = build_monitors(["dereference", "expected_types"], JAVA, PROMPT + "    String t = b.")
    assert len(both) == 1  # expected_types replaces dereference
    assert not DereferenceMonitor(get_language("python"), "x = a.").need().entries
    assert not build_monitors(["expected_types_strict"], get_language("python"), "x = a.")  # Java only


# ---------------------------------------------------------------- soft preference

@pytest.mark.parametrize(
    ("member", "expected", "ok"),
    [
        ("int", "int", True), ("int", "long", True), ("char", "int", True), ("long", "int", False),
        ("int", "Integer", True), ("Integer", "int", True), ("boolean", "int", False),
        ("java.util.List<String>", "List<Book>", True), ("String[]", "String", False), ("Class<?>", "int", False),
        (None, "int", False), ("int", None, False),
    ],
)
def test_fits(member, expected, ok) -> None:
    assert fits(member, expected) is ok


METHOD = "class A {\n    private char first(Book b) throws IOException {\n        if (b != null) {\n"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (METHOD + "            return b.", "char"),
        (METHOD + "            Runnable r = () -> { return b.", None),  # a lambda: not the method's type
        ("class A {\n    void run(Book b) {\n        return b.", None),
        ("class A {\n    List<String> names(Book b) {\n        for (int i = 0; i < 3; i++) {\n"
         "            return b.", "List<String>"),
        (METHOD + "            String s = b.", "String"),
        (METHOD + "            Object o = b.", None),
        (METHOD + "            take(b.", None),
        # assignments: the nearest declaration of the target (local, parameter, field)
        ("class A {\n    private int count;\n    void f(Book b) {\n        count = b.", "int"),
        ("class A {\n    void f(String s, Book b) {\n        s = b.", "String"),
        ("class A {\n    void f(Book b) {\n        List<String> xs = null;\n        if (ok) {\n            xs = b.",
         "List<String>"),
        ("class A {\n    final String title;\n    A(Book b) {\n        this.title = b.", "String"),
        ("class A {\n    A(Book b) {\n        this.title = b.", None),  # no declaration in the text
        ("class A {\n    void f(Book b, C a) {\n        a.x = b.", None),  # another object's field
        ("class A {\n    void f(Book b, int n) {\n        n += b.", None),  # compound: not a plain assignment
        ("class A {\n    void f(Book b, int x) {\n        x == b.", None),
        ("class A {\n    void f(Book b) {\n        return y;\n    }\n    void g(Book b) {\n        int y;\n"
         "        y = b.", "int"),
        ("class A {\n    void g(Book b) {\n        long y;\n        if (ok) {\n            return y;\n"
         "        } else {\n            y = b.", "long"),  # ``return y;`` declares nothing
        # boolean operands
        (METHOD + "            if (!b.", "boolean"),
        (METHOD + "            if (ok && b.", "boolean"),
        (METHOD + "            ok = ok || b.", "boolean"),
        (METHOD + "            if (x != b.", None),
    ],
)
def test_expected_type(text: str, expected: str | None) -> None:
    assert expected_type(text, at_dot(text)) == expected


def test_return_type_outside_a_method() -> None:
    assert return_type("int x = 1;", 5) is None


def test_monitor_prefers_members_that_fit() -> None:
    m = DereferenceMonitor(JAVA, PROMPT + "    int n = b.", expected_types=True)
    m.provide(facts_for(m))
    c = m.constraint()
    assert {x.decode() for x in c.candidates} == {"title", "year", "getYear", "copy", "render"}
    assert {x.decode() for x in c.preferred} == {"year", "getYear"} and c.bonus == PREFER_BONUS
    m.feed(b"get")  # narrowing keeps the preference among what is left
    c = m.constraint()
    assert {x.decode() for x in c.candidates} == {"getYear"} and c.bonus == 0.0  # nothing left to prefer over


def test_no_preference_without_an_expected_type() -> None:
    for site in ("    b.", "    take(b.", "    Object o = b."):
        m = DereferenceMonitor(JAVA, PROMPT + site, expected_types=True)
        m.provide(facts_for(m))
        assert not m.constraint().preferred, site


def test_return_type_of_a_generic_annotated_method() -> None:
    text = ("public final class X {\n    @Override\n    public synchronized <T> Map<String, List<T>> group("
            "Collection<T> xs) throws IOException, Foo {\n        try {\n            while (x) {\n"
            "                return b.")
    assert expected_type(text, at_dot(text)) == "Map<String,List<T>>"


@pytest.mark.parametrize(
    ("text", "index"),
    [
        ("int x = twice(1, keeper.", 1),
        ("twice(keeper.", 0),
        ('f("a, b", g(1, 2), k.', 2),
        ("f('(', k.", 1),
        ("new Foo(a, k.", 1),
        ("return f(k.", 0),
        ("Math.max(1, a.b().", 1),
        ("List.<String>of(a, k.", 1),
        ("if (k.", None),
        ("while (a && k.", None),
        ("x = (k.", None),
        ("f(a + k.", None),
        ("f(x -> k.", None),
        ("int[] a = {1, k.", None),
    ],
)
def test_argument_position(text: str, index: int | None) -> None:
    assert argument_position(text, at_dot(text)) == index
    assert argument_position(text, at_dot(text), Document(JAVA.lex, text)) == index  # the monitor's path


def sig(*params: str) -> Signature:
    return Signature(f"m({', '.join(params)})", params, len(params), len(params))


def test_parameter_types() -> None:
    assert parameter_types((sig("int n", "String label"),), 1) == ("String",)
    assert parameter_types((sig("double a", "double b"), sig("int a", "int b")), 0) == ("double", "int")
    assert parameter_types((sig("int a"), sig("int a", "long b")), 1) == ("long",)  # overloads that take 2
    assert parameter_types((sig("int a"),), 1) == ()
    assert parameter_types((sig("String fmt", "Object... args"),), 3) == ()  # Object: anything fits
    assert parameter_types((sig("int a", "String... rest"),), 2) == ("String", "String[]")
    assert parameter_types((sig("T item"),), 0) == ()  # a type variable
    assert parameter_types((sig("List<? extends T> xs"),), 0) == ()
    assert parameter_types((sig("final @NonNull List<String> xs"),), 0) == ("List<String>",)


def _argument_site(site: str = "    take(1, b.", items=ITEMS) -> DereferenceMonitor:
    m = DereferenceMonitor(JAVA, PROMPT + site, expected_types=True)
    m.provide(facts_for(m, items))
    return m


def test_argument_site_asks_the_signature_and_prefers_fitting_members() -> None:
    m = _argument_site()
    need = m.need()
    assert isinstance(need, SignatureNeed) and not m.constraint().preferred  # constrained already, no preference yet
    m.provide(SignatureFacts(need.serial, (sig("int a", "String s"), sig("int a", "int b"))))
    assert m.need() is None
    c = m.constraint()
    assert {x.decode() for x in c.preferred} == {"title", "render", "year", "getYear"} and c.bonus == PREFER_BONUS
    assert m.stats.extra["type_arguments"] == 1
    m2 = _argument_site()
    m2.provide(SignatureFacts(m2.need().serial, (sig("int a", "Book s"),)))
    assert {x.decode() for x in m2.constraint().preferred} == {"copy"}


@pytest.mark.parametrize(
    "facts",
    [
        lambda serial: SignatureFacts(serial, ok=False),
        lambda serial: SignatureFacts(serial, (sig("int a", "Object o"),)),
        lambda serial: SignatureFacts(serial, (sig("int a"),)),  # no overload takes a second argument
        lambda serial: SignatureFacts(serial + 7, (sig("int a", "int b"),)),  # stale
    ],
)
def test_argument_site_without_usable_parameter_types_prefers_nothing(facts) -> None:
    m = _argument_site()
    m.provide(facts(m.need().serial))
    c = m.constraint()
    assert not c.preferred and c.candidates  # the members stay constrained either way


def test_no_signature_need_where_it_is_not_an_argument() -> None:
    for site in ("    b.", "    int n = b.", "    if (b.", "    return b."):
        m = DereferenceMonitor(JAVA, PROMPT + site, expected_types=True)
        m.provide(facts_for(m))
        assert m.need() is None, site
    plain = DereferenceMonitor(JAVA, PROMPT + "    take(1, b.")  # expected types off: one need only
    need = plain.need()
    plain.provide(CompletionFacts(need.serial, frozenset({"title", "year"})))
    assert plain.need() is None


def test_argument_preference_survives_a_rerequest_and_forks() -> None:
    m = DereferenceMonitor(JAVA, PROMPT + "    take(1, b.", expected_types=True)
    need = m.need()
    entries = tuple(CompletionEntry(n, int(k), d, n) for n, k, d in ITEMS)
    m.provide(CompletionFacts(need.serial, frozenset(n for n, _, _ in ITEMS), entries=entries, incomplete=True))
    m.provide(SignatureFacts(m.need().serial, (sig("int a", "int b"),)))
    f = m.fork()
    m.feed(b"y")  # an incomplete list: asked again as the name grows
    again = m.need()
    assert isinstance(again, CompletionNeed) and again.entries
    m.provide(CompletionFacts(again.serial, frozenset(n for n, _, _ in ITEMS), entries=entries))
    assert {x.decode() for x in m.constraint().candidates} == {"year"}
    assert {x.decode() for x in f.constraint().preferred} == {"year", "getYear"}


def test_reach_through_a_further_member_access() -> None:
    """``Level l = e.``: no member of the enclosure is a Level; of the two class types among
    them, Lion's members include ``noise() : Level``, so ``getLion`` is preferred."""
    from monitors.base import CompletionEntry, CompletionFacts, CompletionNeed

    def ent(name: str, detail: str, kind: int = 2) -> CompletionEntry:
        return CompletionEntry(name, kind, detail, name + "()")

    m = DereferenceMonitor(JAVA, "class A {\n  void f(Enclosure e) {\n    Level l = e.", expected_types=True)
    need = m.need()
    m.provide(CompletionFacts(need.serial, frozenset({"getKeeper", "getLion", "size", "hashCode", "getClass", "class"}),
                              entries=(
        ent("getKeeper", "Enclosure.getKeeper() : Keeper"), ent("getLion", "Enclosure.getLion() : Lion"),
        ent("size", "Enclosure.size() : int"), ent("hashCode", "Object.hashCode() : int"),
        ent("getClass", "Object.getClass() : Class<? extends Enclosure>"),  # every object's: never probed
        CompletionEntry("class", 14, "Class<Enclosure>", "class"))))  # the class literal: never probed
    first = m.need()
    assert isinstance(first, CompletionNeed) and first.generated == "getKeeper()."
    m.provide(CompletionFacts(first.serial, frozenset({"getCount", "toString"}), entries=(
        ent("getCount", "Keeper.getCount() : int"), ent("toString", "Object.toString() : String"))))
    second = m.need()
    assert isinstance(second, CompletionNeed) and second.generated == "getLion()."
    assert not m.constraint().preferred  # nothing reached yet
    m.provide(CompletionFacts(second.serial, frozenset({"noise", "getName"}), entries=(
        ent("noise", "Lion.noise() : Level"), ent("getName", "Animal.getName() : String"))))
    c = m.constraint()
    assert c.preferred == frozenset({b"getLion"}) and c.bonus > 0
    assert m.stats.extra["type_reach"] == 1 and m.need() is None


def test_no_reach_probe_when_a_member_fits() -> None:
    from monitors.base import CompletionEntry, CompletionFacts

    m = DereferenceMonitor(JAVA, "class A {\n  void f(Enclosure e) {\n    int n = e.", expected_types=True)
    need = m.need()
    m.provide(CompletionFacts(need.serial, frozenset({"getLion", "size"}), entries=(
        CompletionEntry("getLion", 2, "Enclosure.getLion() : Lion", "getLion()"),
        CompletionEntry("size", 2, "Enclosure.size() : int", "size()"))))
    assert m.need() is None and m.constraint().preferred == frozenset({b"size"})
