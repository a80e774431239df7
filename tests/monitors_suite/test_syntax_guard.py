"""The syntax guard: bracket stack, strings, comments, EOS. No server."""

from __future__ import annotations

import pytest

from monitors.base import SyntaxConstraint
from monitors.languages import get_language
from monitors.registry import build_monitors
from monitors.syntax import BracketLexer, SyntaxMonitor
from monitors.vocab import VocabIndex
from monitors.vocab.rules import token_closers

PY = get_language("python")
JAVA = get_language("java")
GO = get_language("go")


@pytest.mark.parametrize(
    ("text", "stack", "mode"),
    [
        ("f(a, [1, {2: '(]'}", "([", ""),
        ("x = '''(\n[''' + (", "(", ""),
        ('s = "a\\"(" + f(', "(", ""),
        ("# (\nf(", "(", ""),
        ("g(b'''", "(", "str"),
        ("f('', ", "(", ""),
        ('f("""a"" ', "(", "str"),
    ],
)
def test_python_lexer(text: str, stack: str, mode: str) -> None:
    lx = BracketLexer(python=True)
    lx.feed(text)
    assert not lx.lost and "".join(lx.stack) == stack and lx.mode == mode


@pytest.mark.parametrize(
    ("spec", "text", "stack"),
    [
        (JAVA, 'void f() { String s = "}"; char c = \'{\'; /* } */ // }\n  g(', "{("),
        (JAVA, 'x = """\n  ) "" \n  """; a[', "["),
        (JAVA, "int y = a / b; h(", "("),
        (GO, "s := `)\n}` + f(", "("),
    ],
)
def test_c_lexers(spec, text: str, stack: str) -> None:
    m = SyntaxMonitor(spec, text)
    c = m.constraint()
    assert c is not None and c.stack == stack


def test_lost_and_mismatch_fail_open() -> None:
    assert SyntaxMonitor(PY, "x = 1)\n").constraint() is None  # the prompt does not parse: no opinion
    assert SyntaxMonitor(PY, "s = 'abc\nf(").constraint() is None  # an unterminated string
    m = SyntaxMonitor(PY, "f(")
    m.feed(b"1]")  # the engine did not mask
    assert m.constraint() is None and m.stats.extra["violations"] == 1


def test_eos_rules() -> None:
    m = SyntaxMonitor(PY, "    x = f(a")
    assert m.constraint() == SyntaxConstraint("(", eos=False)
    m.feed(b")")
    assert m.constraint() == SyntaxConstraint("", eos=True)
    m.feed(b" + 'ab")
    assert m.constraint() == SyntaxConstraint(None, eos=False)  # in a string: only EOS is judged
    m.feed(b"c'  # (")
    assert m.constraint() is None  # in a comment, nothing open: no opinion
    fim = SyntaxMonitor(PY, "x = f(a, ", ")\nmore")  # the suffix closes the call
    assert fim.constraint() == SyntaxConstraint("(", eos=True)
    fim.feed(b"[1")
    assert fim.constraint() == SyntaxConstraint("([", eos=False)
    newline = SyntaxMonitor(PY, "x = f(a, ", "\n)")
    assert newline.constraint() == SyntaxConstraint("(", eos=False)


@pytest.mark.parametrize(
    ("spec", "prefix", "suffix", "eos"),
    [
        # brackets opened on earlier lines are the rest of the document's to close
        (JAVA, "class A {\n  int f() {\n    return 1;", "\n  }\n}", True),
        (JAVA, "class A {\n  int f() {\n    return g(1, ", "\n  }\n}", False),
        (JAVA, "class A {\n  int f() {\n    return g(1, ", "2);\n  }\n}", True),
        (GO, "func f() int {\n\treturn 1", "\n}", True),
        (PY, "x = f(\n    a,\n    ", "\n)", True),  # inside a call spanning lines
        (PY, "x = f(\n    a,\n    g(", "\n)", False),  # g( opened on this line, not closed by the suffix
        (PY, "x = f(\n    a)\ny = ", "", True),  # closed on the last line: back to none open
    ],
)
def test_eos_depth_counts_earlier_lines(spec, prefix: str, suffix: str, eos: bool) -> None:
    c = SyntaxMonitor(spec, prefix, suffix).constraint()
    assert (c is None or c.eos) is eos, c


STOP_TOKENS = [b"\n", b"\n\n", b")\n\n", b"b", b" b)", b"\ndef ", b"\n\ndef", b"'", b"x,", b"),", "\u00e9".encode()]


@pytest.fixture(scope="module")
def stop_index() -> VocabIndex:
    return VocabIndex.from_token_bytes([*STOP_TOKENS, None], eos_ids=[len(STOP_TOKENS)])


def test_stop_texts_cannot_fire_inside_a_bracket(stop_index: VocabIndex) -> None:
    m = SyntaxMonitor(PY, "def f():\n    x = g(a,", "\n", stops=["\ndef ", "\n\n"])
    assert _spelled(stop_index, m.constraint()) == set(STOP_TOKENS) - {b"\n\n", b"\ndef ", b"\n\ndef"}
    m.feed(b"\n")  # a stop's first byte: the next "\n" would cut inside the call
    c = m.constraint()
    assert c.stop is not None and c.stop.bad == {1}
    assert _spelled(stop_index, c) == set(STOP_TOKENS) - {b"\n", b"\n\n", b"\ndef ", b"\n\ndef"}
    m.feed(b" b)")  # closed: every stop may fire, EOS too (closers may not: nothing is open)
    c = m.constraint()
    assert c.stop is None
    assert _spelled(stop_index, c) == set(STOP_TOKENS) - {b" b)", b")\n\n", b"),"} | {b"<eos>"}


def test_stop_inside_a_string_and_after_a_close(stop_index: VocabIndex) -> None:
    m = SyntaxMonitor(PY, "x = ", "", stops=[","])
    m.feed(b"'")  # in a string: a "," would cut it open
    assert {b"x,", b"),"}.isdisjoint(_spelled(stop_index, m.constraint()))
    m = SyntaxMonitor(PY, "x = g(a", "", stops=[","])
    allowed = _spelled(stop_index, m.constraint())
    assert b"x," not in allowed and b")," in allowed  # the cut after ")": nothing open there


def test_stop_starting_in_an_earlier_token_is_judged_where_it_starts(stop_index: VocabIndex) -> None:
    m = SyntaxMonitor(PY, "y = 1", "", stops=["\n\n"])
    m.feed(b"\n")  # the stop would start here, with nothing open: fine
    assert m.constraint() is None or b"\n" in _spelled(stop_index, m.constraint())
    m = SyntaxMonitor(PY, "y = (1", "", stops=["\n\n"])
    m.feed(b")")
    m.feed(b"\n")
    assert m.constraint() is None or b"\n" in _spelled(stop_index, m.constraint())
    m = SyntaxMonitor(PY, "y = (1", "", stops=["\n)\n"])
    m.feed(b"\n")  # the stop text itself closes the bracket, but its start (the cut) is inside it
    m.feed(b")")
    assert m.constraint().stop.bad == {2}


def test_stop_start_inside_a_long_token_is_replayed_from_its_start(stop_index: VocabIndex) -> None:
    # one token closes the call and ends with a stop's first byte: the state where that
    # stop would start is after the ")" (nothing open), not the state before the token
    m = SyntaxMonitor(PY, "x = g(", "", stops=["\n\n"])
    m.feed(b"a)\n")
    assert m.constraint() is None or b"\n" in _spelled(stop_index, m.constraint())
    m = SyntaxMonitor(PY, "x = g(", "", stops=["\n\n"])
    m.feed(b"a(b)\n")  # still open where the stop would start
    assert b"\n" not in _spelled(stop_index, m.constraint())
    m = SyntaxMonitor(PY, "x = (", "", stops=["\n)\n\n"])
    for piece in (b"1", b"\n", b")", b"\n"):  # several snapshots inside the tail
        m.feed(piece)
    assert m.constraint().stop.bad == {3}


def test_stop_guard_forks_and_reads_non_ascii(stop_index: VocabIndex) -> None:
    m = SyntaxMonitor(PY, "x = g(", "", stops=["\u00e9\n"])
    f = m.fork()
    f.feed("\u00e9".encode()[:1])  # half a character: the tail keeps the bytes
    f.feed("\u00e9".encode()[1:])
    assert f.constraint().stop.tail == "\u00e9".encode() and b"\n" not in _spelled(stop_index, f.constraint())
    assert m.constraint().stop.tail == b"" and b"\n" in _spelled(stop_index, m.constraint())


def test_registry_passes_the_stops() -> None:
    (mon,) = build_monitors(["syntax"], PY, "x = g(", "", stops=[","])
    assert mon.constraint().stop is not None
    (plain,) = build_monitors(["syntax"], PY, "x = g(", "")
    assert plain.constraint().stop is None


def test_fork_is_independent() -> None:
    m = SyntaxMonitor(PY, "f(")
    f = m.fork()
    f.feed(b")")
    assert m.constraint().stack == "(" and f.constraint().stack == ""


def test_registry() -> None:
    (mon,) = build_monitors(["syntax"], JAVA, "class A {", "}")
    assert isinstance(mon, SyntaxMonitor) and mon.constraint() == SyntaxConstraint("{", eos=True, python=False)
    assert build_monitors(["syntax"], get_language("typescript"), "") == []


@pytest.mark.parametrize(
    ("token", "python", "closers"),
    [(b")", True, ")"), (b"x))", True, "))"), (b"()", True, ""), (b"(]", True, None), (b"])", True, "])"),
     (b"')'", True, ""), (b"# )", True, ""), (b"a)# )", True, ")"), (b"// )", False, ""), (b"/ )", False, ")"),
     (b"// )", True, ")"), (b"}", False, "}")],
)
def test_token_closers(token: bytes, python: bool, closers) -> None:
    assert token_closers(token, python) == closers


TOKENS = [b")", b"))", b"]", b"x)", b"(", b"()", b"(]", b"'a)'", b"a", b" ", b"])", b"# )", b"),"]


@pytest.fixture(scope="module")
def index() -> VocabIndex:
    return VocabIndex.from_token_bytes([*TOKENS, None], eos_ids=[len(TOKENS)])


def _spelled(index: VocabIndex, c) -> set[bytes]:
    return {index.token_bytes(int(i)) or b"<eos>" for i in index.allowed_ids(c)}


def test_syntax_mask(index: VocabIndex) -> None:
    free = {b"(", b"()", b"'a)'", b"a", b" ", b"# )"}
    assert _spelled(index, SyntaxConstraint("")) == free | {b"<eos>"}
    assert _spelled(index, SyntaxConstraint("(", eos=False)) == free | {b")", b"x)", b"),"}
    assert _spelled(index, SyntaxConstraint("((")) == free | {b")", b"x)", b"),", b"))", b"<eos>"}
    assert _spelled(index, SyntaxConstraint("([")) == free | {b"]", b"])", b"<eos>"}
    assert _spelled(index, SyntaxConstraint("[(", eos=False)) == free | {b")", b"x)", b"),"}
    assert _spelled(index, SyntaxConstraint("(", eos=False)) >= {b")", b"),"}
    assert _spelled(index, SyntaxConstraint(None, eos=False)) == set(TOKENS)  # only EOS is judged
    # deeper than the constraint holds: a token closing past the visible part is allowed
    assert b"))" in _spelled(index, SyntaxConstraint("(", deep=True))


BUDGET_TOKENS = [b")", b"))", b"x", b"(", b"((", b"f(", b"'", b"a'", b" ", b"]", b"x)"]


@pytest.fixture(scope="module")
def budget_index() -> VocabIndex:
    return VocabIndex.from_token_bytes([*BUDGET_TOKENS, None], eos_ids=[len(BUDGET_TOKENS)])


def test_budget_closes_what_is_open_before_the_tokens_run_out(budget_index: VocabIndex) -> None:
    """``x = f(g(`` with the suffix on a new line: two closers needed."""
    m = SyntaxMonitor(PY, "x = f(g(", "\n")
    m.set_budget(40)
    assert m.constraint().budget is None  # plenty left: idle
    m.set_budget(3)  # after this token 2 remain: may not open more
    c = m.constraint()
    assert c.budget is not None and not c.budget.progress
    assert _spelled(budget_index, c) == set(BUDGET_TOKENS) - {b"(", b"((", b"f(", b"'", b"a'", b"]"}
    m.set_budget(2)  # must make progress now: only closers
    c = m.constraint()
    assert c.budget.progress and _spelled(budget_index, c) == {b")", b"))"}  # closers only (not "x)")
    m.feed(b"x)")
    m.set_budget(1)
    assert _spelled(budget_index, m.constraint()) == {b")"}  # one open, one left: close it
    m.feed(b")")
    m.set_budget(1)  # nothing open, the last token: it may not open anything; EOS allowed
    c = m.constraint()
    assert not c.budget.progress and c.eos
    assert _spelled(budget_index, c) == {b"x", b" ", b"<eos>"}
    m.set_budget(30)
    assert m.constraint().budget is None  # idle again with room
    assert m.stats.extra["budget_closing"] == 2


def test_budget_closes_a_string(budget_index: VocabIndex) -> None:
    m = SyntaxMonitor(PY, "x = '", "")
    m.set_budget(1)
    assert _spelled(budget_index, m.constraint()) == {b"'"}


def test_budget_leaves_what_the_suffix_closes(budget_index: VocabIndex) -> None:
    m = SyntaxMonitor(PY, "x = f(", ")\n")  # the suffix closes the call: nothing to close
    m.set_budget(1)
    c = m.constraint()
    assert not c.budget.progress and b"x" in _spelled(budget_index, c)  # nothing to close: no forcing


def test_budget_fails_open_when_nothing_can_close(budget_index: VocabIndex) -> None:
    index = VocabIndex.from_token_bytes([b"x", b"(", None], eos_ids=[2])
    m = SyntaxMonitor(PY, "x = f(", "\n")
    m.set_budget(1)
    assert _spelled(index, m.constraint()) == {b"x", b"("}  # no closer in the vocabulary: free


def test_guide_tells_the_budget_through_healing(budget_index: VocabIndex) -> None:
    from monitors.guide import SequenceGuide
    from monitors.healing import wrap_healing

    class NoLookup:
        def start(self, need):  # pragma: no cover - the syntax guard needs nothing
            raise AssertionError

    mons = wrap_healing(build_monitors(["syntax"], PY, "x = f(g(", "\n"), b"")
    guide = SequenceGuide(mons, NoLookup(), budget_index, max_tokens=3)
    guide.advance([BUDGET_TOKENS.index(b"x")])
    ids = guide.allowed().ids  # 2 left, 2 open: progress
    assert {budget_index.token_bytes(int(i)) for i in ids} == {b")", b"))"}
    fork = guide.fork()
    fork.advance([BUDGET_TOKENS.index(b")")])
    assert {budget_index.token_bytes(int(i)) for i in fork.allowed().ids} == {b")"}


def test_budget_yields_to_an_identifier_being_spelled(budget_index: VocabIndex) -> None:
    """Closers and a dereference constraint (only ``x`` may follow) have nothing in common:
    the identifier rule wins the step instead of the step running free."""
    from monitors.base import IdentifierConstraint
    from monitors.guide import SequenceGuide

    class OnlyX:
        def feed(self, data):
            pass

        def need(self):
            return None

        def provide(self, facts):
            pass

        def constraint(self):
            return IdentifierConstraint(frozenset({b"x"}), b"")

        def fork(self):
            return self

        stats = None

    syntax = SyntaxMonitor(PY, "y = f(g(", "\n")
    guide = SequenceGuide([syntax, OnlyX()], object(), budget_index, max_tokens=2)
    step = guide.allowed()
    assert step.ids is not None and not step.fallback
    assert {budget_index.token_bytes(int(i)) for i in step.ids} == {b"x", b"x)"}  # the name (and its end)
    assert guide.stats.extra["budget_yielded"] == 1 and guide.stats.fallbacks == 0
