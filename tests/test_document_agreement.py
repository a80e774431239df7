"""Every reader of code text agrees with the one document (monitors.document).

The same tricky texts (dots and brackets inside strings, comments, f-strings, template
literals, raw strings, char literals, block comments) in each language go to the
document and to each consumer: the trigger detector, expected types (the argument a
member access starts), completion/call sites, the call monitors, the syntax guard's lexer, the vocabulary's closer table, and the evaluation's
repair and brace counting. Each must say what the document says: in code or not, which
brackets are open. No server, no model.
"""

from __future__ import annotations

import importlib.util

import pytest

from mgd.evaluation.judge import repaired
from mgd.evaluation.methods import open_braces
from monitors.calls import ArgumentCountMonitor
from monitors.document import Document
from monitors.languages import LANGUAGES, LanguageSpec
from monitors.lexer import closers_of
from monitors.site_detector import SiteDetector
from monitors.syntax import LANGUAGES as SYNTAX_LANGUAGES
from monitors.syntax import BracketLexer
from monitors.triggers import TriggerDetector
from monitors.type_rules import argument_position
from monitors.vocab.rules import token_closers

_GRAMMARS = {"python": "tree_sitter_python", "java": "tree_sitter_java", "typescript": "tree_sitter_typescript",
             "javascript": "tree_sitter_javascript", "go": "tree_sitter_go", "rust": "tree_sitter_rust"}

#: Per language: the text a context is written in (a function body), and contexts with
#: whether what follows them is code.
CASES: dict[str, tuple[str, list[tuple[str, bool]]]] = {
    "python": ("", [
        ("x = 1\n", True),
        ("s = 'a.b(", False),
        ('s = "a.b(" + ', True),
        ("# call(x.\n", True),
        ("x = 1  # f(", False),
        ('"""doc (\nmore. ', False),
        ('"""doc (\n"""\n', True),
        ("y = f'{", True),
        ("y = f'{x}", False),
        ("y = f'{x:{w}}' + ", True),
        ("y = f'{{", False),
        ("s = r'\\", False),
        ("s = r'\\'' + ", True),
        ("b'''x(\n", False),
        ("x = ('''(''', ", True),
        ("x = [1,\n  ", True),
        ("t = t'{", True),
    ]),
    "java": ("class A {\n  void m() {\n    ", [
        ('String s = "a(', False),
        ('String s = "a.(" + ', True),
        ("char c = '('; ", True),
        ("char c = '\\''; ", True),
        ("/* f( */ ", True),
        ("/* open f(. ", False),
        ("// c(\n", True),
        ("// c( ", False),
        ('String t = """\n  x(', False),
        ('String t = """\n  x(\n  """; ', True),
        ("int y = a / b; ", True),
    ]),
    "typescript": ("function m() {\n  ", [
        ("const s = `${", True),
        ("const s = `a(. ", False),
        ("const s = `${a}` + ", True),
        ("const s = `${a}", False),
        ("const r = /a(/.test(x) && ", True),
        ("const r = /a(", False),
        ("const s = 'a\\'(", False),
        ('const s = "a(" + ', True),
        ("/* f( */ ", True),
        ("/* f( ", False),
        ("// c(\n", True),
        ("let q = a / b / ", True),
    ]),
    "javascript": ("function m() {\n  ", [
        ("const s = `${", True),
        ("const s = `a(. ", False),
        ("const s = `${`${a}`}` + ", True),
        ("const r = /[/(]/g; ", True),
        ("const r = /a(", False),
        ("/* f( */ ", True),
        ("// c( ", False),
    ]),
    "go": ("package p\n\nfunc m() {\n\t", [
        ("s := `raw (\n", False),
        ("s := `raw (\n` + ", True),
        ("r := '('; ", True),
        ("r := '\\''; ", True),
        ('s := "a(', False),
        ('s := "a(" + ', True),
        ("/* f( */ ", True),
        ("/* f( ", False),
        ("// c(\n", True),
    ]),
    "rust": ("fn m() {\n    ", [
        ('let s = r#"a(. ', False),
        ('let s = r#"a"(."# + ', True),
        ('let s = br"a(', False),
        ("let c = '('; ", True),
        ("let c = b'x'; ", True),
        ("let c = '\\u{28}'; ", True),
        ("fn f<'a>(x: &'a T) { ", True),
        ("/* /* nested */ f( ", False),
        ("/* /* nested */ */ ", True),
        ('let s = "multi (\nline. ', False),
        ('let s = "multi (\nline" + ', True),
        ("// c(\n", True),
    ]),
}

PARAMS = [(name, wrap, ctx, code) for name, (wrap, cases) in CASES.items() for ctx, code in cases]


def _spec(name: str) -> LanguageSpec:
    if importlib.util.find_spec(_GRAMMARS[name]) is None:
        pytest.skip(f"the {name} grammar is not installed")
    return LANGUAGES[name]


@pytest.mark.parametrize(("name", "wrap", "ctx", "code"), PARAMS)
def test_consumers_agree(name: str, wrap: str, ctx: str, code: bool) -> None:
    spec = _spec(name)
    before = wrap + ctx
    doc = Document(spec.lex, before + "foo")
    assert doc.in_code is code
    assert doc.last_identifier == ("foo" if code else "")

    dot = before + "foo."
    assert TriggerDetector(spec, dot).is_member_access(len(dot) - 1) is code

    arg = before + "take(a, k."  # expected types: the argument the member access starts
    detector = TriggerDetector(spec, arg)
    assert detector.is_member_access(len(arg) - 1) is code
    if code:
        assert argument_position(arg, len(arg) - 1, detector.document) == 1

    call = before + "foo("
    assert SiteDetector(spec, call).call_open_site(len(call) - 1) is code

    top = Document(spec.lex, before).top_level  # a call inside an interpolation is not followed
    calls = ArgumentCountMonitor(spec, before)
    calls.feed(b"foo(")
    assert calls.depth == (1 if code and top else 0)

    if name in SYNTAX_LANGUAGES:
        lexer = BracketLexer(name == "python", lex=spec.lex)
        lexer.feed(before + "foo")
        assert lexer.settled is (code and top) and lexer.stack == list(doc.brackets)

    closers = "".join({"(": ")", "[": "]", "{": "}"}[b] for b in reversed(doc.brackets))
    fixed = repaired(before + "foo", len(before), name)
    assert fixed.rstrip("\n").endswith(closers) and not doc.mismatches
    assert open_braces(before + "foo", lex=spec.lex) == doc.brackets.count("{")


@pytest.mark.parametrize(("name", "wrap", "ctx", "code"), PARAMS)
def test_incremental_fork_and_rollback(name: str, wrap: str, ctx: str, code: bool) -> None:
    """Fed whole, in pieces of any size, forked or rolled back: the same state."""
    text = wrap + ctx + "foo(a.b, 'x', \"y\") + z"
    whole = Document(LANGUAGES[name].lex, text)
    for size in (1, 2, 3, 7):
        doc = Document(LANGUAGES[name].lex)
        for k in range(0, len(text), size):
            doc.feed(text[k : k + size])
            doc.in_code  # noqa: B018 - a query lexes what is there so far
        assert doc.snapshot() == whole.snapshot() and doc.key() == whole.key()
    half = Document(LANGUAGES[name].lex, text[: len(text) // 2])
    snap = half.snapshot()
    fork = half.fork()
    half.feed(text[len(text) // 2 :])
    assert half.snapshot() == whole.snapshot()
    assert fork.snapshot() == snap  # the fork did not move
    half.rollback(snap)
    assert half.snapshot() == snap and half.text == text[: len(text) // 2]
    restored = Document.from_key(LANGUAGES[name].lex, whole.key())
    assert restored.brackets == whole.brackets and restored.mode == whole.mode and restored.in_code == whole.in_code


@pytest.mark.parametrize(
    ("python", "token"),
    [(True, "))"), (True, "x)]"), (True, "(]"), (True, ") # )"), (True, ")'('"), (True, "a(b)c)"),
     (False, "))"), (False, "{)}"), (False, ") // )"), (False, ") /* ) */"), (False, ')"("'), (False, ")`(`")],
)
def test_closer_table_agrees(python: bool, token: str) -> None:
    """A token's closers (the vocabulary's table) are what the document needs open
    before it for no mismatch; a token that can never be legal mismatches anywhere."""
    lex = LANGUAGES["python" if python else "go"].lex
    needs = token_closers(token.encode(), python)
    assert needs == closers_of(lex, token)
    if needs is None:
        assert Document(lex, token).mismatches
    else:
        openers = "".join({")": "(", "]": "[", "}": "{"}[c] for c in reversed(needs))
        assert Document(lex, openers + token).mismatches == 0
