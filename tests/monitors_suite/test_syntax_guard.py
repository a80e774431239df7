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
