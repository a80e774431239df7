"""The one lexer and the document: queries, and the behaviour its consumers gained.

Each ``test_fix_*`` is a case a consumer's own lexer got wrong before it read the
document. No server, no model.
"""

from __future__ import annotations

import random

import pytest

from mgd.evaluation.judge import find_sites, repaired
from mgd.evaluation.methods import cut_method
from monitors.calls import ArgumentCountMonitor
from monitors.document import Document
from monitors.java_types import is_value_site
from monitors.languages import LANGUAGES, get_language
from monitors.syntax import SyntaxMonitor
from monitors.triggers import TriggerDetector
from monitors.type_rules import argument_position

PY = get_language("python")
JAVA = get_language("java")
RUST = get_language("rust")


@pytest.mark.parametrize(
    ("language", "text", "mode", "brackets"),
    [
        ("python", "f(a, [1, {2: '(]'}", "code", "(["),
        ("python", "x = f'{g(1", "string", ""),
        ("python", "s = '''(\n", "string", ""),
        ("python", "x = (  # (\n", "code", "("),
        ("java", 'void m() { String s = "{";', "code", "{"),
        ("java", "void m() { /* { ", "block_comment", "{"),
        ("go", "s := `(", "string", ""),
        ("javascript", "const r = /[(]/; f(", "code", "("),
        ("javascript", "x = `${a[", "string", ""),
        ("rust", "fn f<'a>(x: &'a str) { let c = '{'; ", "code", "{"),
        ("rust", 'r#"a(', "string", ""),  # a raw string at a statement start (it read as "r" then a string)
    ],
)
def test_mode_and_brackets(language: str, text: str, mode: str, brackets: str) -> None:
    doc = Document(LANGUAGES[language].lex, text)
    assert doc.mode == mode and doc.brackets == brackets


def test_line_indent_identifier_and_statement() -> None:
    doc = Document(PY.lex, "import os\nif x:\n    y = os.pa")
    assert doc.line_start == len("import os\nif x:\n")
    assert doc.indent == "    " and doc.last_identifier == "pa" and doc.statement_word == "y"
    doc.feed("th  # note")
    assert doc.mode == "line_comment" and doc.last_identifier == "" and not doc.in_code
    assert Document(PY.lex, "x = 'ab").last_identifier == ""


def test_pending_text_waits_for_the_next_character() -> None:
    doc = Document(PY.lex, 'x = "')
    assert doc.pending == '"' and not doc.in_code
    doc.feed('""')
    assert doc.pending == "" and doc.mode == "string"
    java = Document(JAVA.lex, "a /")
    assert java.pending == "/"
    java.feed("/ c")
    assert java.mode == "line_comment"


def test_fix_syntax_guard_reads_nested_fstring_quotes() -> None:
    # Python 3.12 f-strings nest quotes: the "(" inside the field is a string, not a bracket.
    c = SyntaxMonitor(PY, 'x = f"{g("(")}" + (').constraint()
    assert c is not None and c.stack == "("


def test_fix_calls_skip_java_line_comments() -> None:
    m = ArgumentCountMonitor(JAVA, "class A { void m() { ")
    m.feed(b"f(a, // x)\n")
    assert m.depth == 1  # the ")" in the comment does not close the call
    m.feed(b"  b)")
    assert m.depth == 0


def test_fix_python_method_cut_ignores_docstring_lines() -> None:
    completion = '    s = """\ndoc\n"""\n    return s\nx = 1\n'
    assert cut_method(completion, {"kind": "indent", "indent": 0}).text == '    s = """\ndoc\n"""\n    return s'


def test_fix_repair_skips_block_comments() -> None:
    assert repaired("void m() {\n  /* ( */ f(a", 20, "java") == "void m() {\n  /* ( */ f(a\n)}\n"


def test_fix_call_site_ends_past_a_comment() -> None:
    text = "f(a, # )\n  b)\nz"
    (site,) = find_sites("python", text, 0, ["arguments"])
    assert text[site.start : site.end] == "(a, # )\n  b)"


def _java_document(text: str) -> Document:
    """The dereference monitor's document at a trigger: its detector checked the dot."""
    detector = TriggerDetector(JAVA, text)
    assert detector.is_member_access(len(text) - 1)
    return detector.document


@pytest.mark.parametrize(
    ("text", "index", "value"),
    [
        ("int x = twice(1, keeper.", 1, True),
        ('f("a, (b", g(1, 2), k.', 2, True),
        ("for (int i = 0; i < n; i++, b.", None, False),
        ("int[] a = {1, k.", None, False),
        ("f(/* ) */ a, k.", 1, True),  # the backward scan read the comment's ")" as code
        ("take(() -> { run(); }, k.", 1, True),  # ... and stopped at the lambda block's "}"
    ],
)
def test_fix_expected_types_read_the_document(text: str, index: int | None, value: bool) -> None:
    doc = _java_document(text)
    assert argument_position(text, len(text) - 1, doc) == index
    assert is_value_site(text, len(text) - 1, doc) is value


def test_fix_prompt_call_skips_brackets_in_strings_and_comments() -> None:
    assert ArgumentCountMonitor(PY, 'x = f("(", ').depth == 1  # the last "(" is in a string
    assert ArgumentCountMonitor(PY, "g(a,  # h(\n").depth == 0  # the call is on an earlier line
    assert ArgumentCountMonitor(PY, "g(a, b  # h(").depth == 1


_PIECES = [*"ab rf\"'`#/*\\\n{}()[];:.$x", "'''", '"""', "//", "/*", "*/", "${", 'r#"', '"#', 'f"', "import ", "b'"]


@pytest.mark.parametrize("language", ["python", "java", "typescript", "javascript", "go", "rust"])
def test_any_pieces_give_the_state_of_the_whole(language: str) -> None:
    """The state never depends on text that does not exist yet: random texts fed in random
    pieces (queried in between or not) end where the whole text does. One case it caught:
    a Rust char literal split after its escape (``'\\[`` then ``'``)."""
    rng = random.Random(language)
    lex = LANGUAGES[language].lex
    for _ in range(400):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randint(1, 30)))
        doc = Document(lex)
        k = 0
        while k < len(text):
            n = rng.randint(1, 4)
            doc.feed(text[k : k + n])
            k += n
            if rng.random() < 0.7:
                doc.in_code  # noqa: B018 - a query lexes what is there so far
        assert doc.snapshot() == Document(lex, text).snapshot(), text
    split = Document(RUST.lex, "let c = '\\[")
    split.in_code  # noqa: B018
    split.feed("'; f(")
    assert split.brackets == "(" and split.in_code
