"""Python call syntax in the keyword-arguments monitor, without servers.

The signature shapes are the ones jedi-language-server and pyright report (the
e2e test in ``test_call_syntax_e2e.py`` checks that against the real servers).
"""

from __future__ import annotations

import pytest

from monitors.base import ExcludeConstraint, KeywordConstraint, SignatureFacts
from monitors.calls import KeywordArgumentMonitor, call_shape, keyword_names, signature_of
from monitors.languages import get_language
from monitors.vocab import VocabIndex

PY = get_language("python")

# jedi leaves the bare "*" and "/" out of the parameters; only the label has them.
ORDER = signature_of("def make_order(items, *, express=False)", ("items", "express=False"))
POSONLY = signature_of("def posonly(a, b, /, c, d=1)", ("a", "b", "c", "d=1"))
STAR = signature_of("def star(a, *rest, flag=True, **kw)", ("a", "*rest", "flag=True", "**kw"))
CIRCLE = signature_of("def circle(radius, centre=None)", ("radius", "centre=None"))
# pyright lists the markers as parameters
PYRIGHT_ORDER = signature_of("(items, *, express=False) -> None", ("items", "*", "express=False"))


@pytest.mark.parametrize(
    ("sig", "positional", "positional_only", "keyword_only", "varargs", "kwargs"),
    [
        (ORDER, ("items",), 0, ("express",), False, False),
        (PYRIGHT_ORDER, ("items",), 0, ("express",), False, False),
        (POSONLY, ("a", "b", "c", "d"), 2, (), False, False),
        (STAR, ("a",), 0, ("flag",), True, True),
        (signature_of("def get(key, default=...)", ("key", "default=...")), ("key", "default"), 0, (), False, False),
        (signature_of("def f(*, a)", ("a",)), (), 0, ("a",), False, False),
        # "..." inside a type is not varargs: x stays positional
        (signature_of("def f(cb: Callable[..., int], x, *, y)", ("cb: Callable[..., int]", "x", "y")),
         ("cb", "x"), 0, ("y",), False, False),
        (signature_of("class dict()", ()), (), 0, (), False, False),
    ],
)
def test_call_shape(sig, positional, positional_only, keyword_only, varargs, kwargs) -> None:
    shape = call_shape(sig)
    assert shape is not None
    assert (shape.positional, shape.positional_only, shape.keyword_only, shape.varargs, shape.kwargs) == (
        positional, positional_only, keyword_only, varargs, kwargs)


@pytest.mark.parametrize(
    "sig",
    [
        signature_of("make_order(items, express)", ("items", "quantity")),  # a parameter not in the label
        signature_of("f(a, b)", ("b", "a")),  # out of order
        signature_of("f(a, <unknown>, b)", ("a", "b")),  # unknown text between two parameters
        signature_of("f(a, *, *, b)", ("a", "b")),  # two markers
        signature_of("f(a, b)", ("a", "1x")),  # not a name
        signature_of("a, b", ("a", "b")),  # no parenthesis
    ],
)
def test_call_shape_unknown(sig) -> None:
    assert call_shape(sig) is None


def test_keyword_names_ellipsis_default_is_not_varargs() -> None:
    sig = signature_of("def get(key, default=...)", ("key", "default=..."))
    assert keyword_names(sig) == {"key", "default"} and (sig.required, sig.maximum) == (1, 2)


def _call(prefix: str, *sigs):
    m = KeywordArgumentMonitor(PY, prefix)
    need = m.need()
    assert need is not None
    m.provide(SignatureFacts(need.serial, sigs))
    return m


def test_keyword_only_cannot_be_positional() -> None:
    m = _call("o = make_order(", ORDER)
    assert m.constraint() == ExcludeConstraint(names=frozenset({b"items", b"express"}))
    m.feed(b"items, ")
    assert m.constraint() == KeywordConstraint(names=frozenset({b"express"}), padded=True)
    m.feed(b"exp")
    assert m.constraint() == KeywordConstraint(names=frozenset({b"express"}), typed=b"exp")
    m.feed(b"ress=")
    assert m.constraint() == KeywordConstraint(names=None, typed=b"express", equals=True)  # not "=="
    m.feed(b"True)")
    assert m.stats.extra["violations"] == 0 and m.stats.extra["accepted"] == 1
    assert m.stats.extra["keyword_required"] == 1


def test_no_positional_after_keyword_and_no_repeat() -> None:
    m = _call("c = circle(radius=2.0, ", CIRCLE)  # the keyword is in the prompt
    assert m.constraint() == KeywordConstraint(names=frozenset({b"centre"}), padded=True)
    m.feed(b"1.0")  # the engine did not mask: counted, then no opinion
    assert m.constraint() is None
    m.feed(b")")
    assert m.stats.extra["violations"] == 1


def test_filled_positionally_is_not_a_keyword() -> None:
    m = _call("c = circle(", CIRCLE)
    m.feed(b"2.0, ")
    assert m.constraint() == ExcludeConstraint(names=frozenset({b"centre"}))


def test_positional_only_and_kwargs() -> None:
    m = _call("posonly(", POSONLY)
    assert m.constraint() == ExcludeConstraint(names=frozenset({b"c", b"d"}))
    m = _call("star(", STAR)
    m.feed(b"1, 2, 3, flag=False, ")
    assert m.constraint() == KeywordConstraint(names=None, padded=True)  # **kw: any name, but a keyword


def test_overloads_union_and_fit() -> None:
    one = signature_of("def f(a, *, b)", ("a", "b"))
    two = signature_of("def f(a, c)", ("a", "c"))
    m = _call("f(", one, two)
    m.feed(b"1, ")
    assert m.constraint() == ExcludeConstraint(names=frozenset({b"b", b"c"}))  # two still takes c positionally
    m.feed(b"b=2, ")
    assert m.constraint() == KeywordConstraint(names=frozenset(), padded=True)  # only `one` fits; b is used


def test_fails_open() -> None:
    odd = signature_of("f(a, <x>, b)", ("a", "b"))  # unreadable shape: only the old names rule
    m = _call("f(", odd)
    m.feed(b"a=1, ")
    assert m.constraint() == ExcludeConstraint(names=frozenset({b"a", b"b"}))
    assert m.stats.extra["unknown_shape"] == 1
    m = _call("f(", ORDER)
    m.feed(b"*xs, ")
    assert m.constraint() is None  # unpacking: counts unknown
    m = KeywordArgumentMonitor(PY, "f(")
    m.provide(SignatureFacts(m.need().serial, ok=False))
    m.feed(b"1, 2, ")
    assert m.constraint() is None
    m = _call("f(", ORDER)
    m.feed(b"x, y == ")  # a comparison in progress, not a keyword
    assert m.constraint() is None


def test_comments_inside_a_call() -> None:
    m = _call("o = make_order(", ORDER)
    m.feed(b"  # it's (the [list\n")  # quotes and brackets in a comment are text
    assert m.constraint() == ExcludeConstraint(names=frozenset({b"items", b"express"}))
    m.feed(b"items,  # don't")
    assert m.constraint() is None  # inside the comment: no opinion
    m.feed(b"\n    ")
    assert m.constraint() == KeywordConstraint(names=frozenset({b"express"}), padded=True)


TOKENS = [b" ", b"\n", b")", b"),", b"1", b" 1", b"1)", b"x", b" exp", b" express", b"exp", b"ress", b"ress=",
          b" express=", b"express=True", b"=", b" =", b"==", b" ==", b"**", b" *", b" colour=", b",", b" (",
          b" express ", b"x.y", b'"a"', b" #"]


@pytest.fixture(scope="module")
def index() -> VocabIndex:
    return VocabIndex.from_token_bytes([*TOKENS, None], eos_ids=[len(TOKENS)])


def _spelled(index: VocabIndex, c) -> set[bytes]:
    return {index.token_bytes(int(i)) or b"<eos>" for i in index.allowed_ids(c)}


def test_keyword_constraint_mask(index: VocabIndex) -> None:
    names = frozenset({b"express"})
    got = _spelled(index, KeywordConstraint(names))
    assert got == {b" ", b"\n", b")", b"),", b" exp", b" express", b"exp", b" express=", b"express=True",
                   b"**", b" *", b" express ", b"<eos>"}
    got = _spelled(index, KeywordConstraint(names, typed=b"exp"))
    assert got == {b"ress", b"ress=", b"<eos>"}
    got = _spelled(index, KeywordConstraint(names, typed=b"express"))
    assert got == {b" ", b"\n", b"=", b" =", b"<eos>"}
    got = _spelled(index, KeywordConstraint(names, typed=b"express", spaced=True))
    assert got == {b" ", b"\n", b"=", b" =", b"<eos>"}
    assert _spelled(index, KeywordConstraint(None, b"express", equals=True)) == set(TOKENS) - {b"=", b"=="} | {
        b"<eos>"}
    anyname = _spelled(index, KeywordConstraint(None))
    assert b" colour=" in anyname and b"x" in anyname and b"1" not in anyname and b" 1" not in anyname
    assert b"x.y" not in anyname and b'"a"' not in anyname and b"," not in anyname
    assert _spelled(index, KeywordConstraint(frozenset())) == {b" ", b"\n", b")", b"),", b"**", b" *", b"<eos>"}


def test_blanks_before_a_required_keyword_end() -> None:
    """Denied its positional argument, a model must not pad the call with blanks forever:
    after ``, `` no whitespace-only token; after a line break the indentation may follow."""
    m = _call("c = circle(radius=2.0,", CIRCLE)
    assert m.constraint() == KeywordConstraint(names=frozenset({b"centre"}))  # nothing after the comma yet
    m.feed(b"\n")
    assert m.constraint() == KeywordConstraint(names=frozenset({b"centre"}))  # indentation may follow
    m.feed(b"    ")
    assert m.constraint() == KeywordConstraint(names=frozenset({b"centre"}), padded=True)
    forked = m.fork()
    assert forked.constraint() == m.constraint()
    m.feed(b"centre=")
    assert m.constraint() == KeywordConstraint(names=None, typed=b"centre", equals=True)


def test_padded_keyword_mask(index: VocabIndex) -> None:
    names = frozenset({b"express"})
    got = _spelled(index, KeywordConstraint(names, padded=True))
    assert got == {b")", b"),", b" exp", b" express", b"exp", b" express=", b"express=True",
                   b"**", b" *", b" express ", b"<eos>"}  # as unpadded, less the blank-only tokens
    assert _spelled(index, KeywordConstraint(frozenset(), padded=True)) == {b")", b"),", b"**", b" *", b"<eos>"}


def test_unpacking_must_start_an_expression() -> None:
    """After ``*`` / ``**`` the unpacked expression starts (no ``***``, no ``*)``), and an
    unpacked name never becomes ``name=`` (``f(*xs=1)`` is a syntax error); with or without
    a signature, and only in Python."""
    for m in (_call("c = circle(radius=2.0, ", CIRCLE), KeywordArgumentMonitor(PY, "c = circle(")):
        m.feed(b"*")
        assert m.constraint() == KeywordConstraint(names=None, unpack=True)
        m.feed(b"*")
        assert m.constraint() == KeywordConstraint(names=None, unpack=True)
        m.feed(b"opts")
        assert m.constraint() == KeywordConstraint(names=None, no_assign=True)
        m.feed(b".extra ")
        assert m.constraint() == KeywordConstraint(names=None, no_assign=True)
        m.feed(b"or {}")
        assert m.constraint() is None  # an expression beyond a dotted name: no opinion
    m = _call("c = circle(", CIRCLE)
    m.feed(b"2 * ")
    assert m.constraint() is None  # a product, not unpacking


def test_unpack_and_no_assign_masks(index: VocabIndex) -> None:
    unpack = _spelled(index, KeywordConstraint(None, unpack=True))
    assert b"x" in unpack and b"1" in unpack and b'"a"' in unpack and b"exp" in unpack
    assert not unpack & {b"**", b" *", b")", b"),", b",", b" ", b"\n", b"=", b" #", b" exp"}
    no_assign = _spelled(index, KeywordConstraint(None, no_assign=True))
    assert no_assign == set(TOKENS) - {b"=", b" =", b"ress=", b" express=", b" colour=", b"express=True"} | {
        b"<eos>"}  # "==" and " ==" stay: a comparison
