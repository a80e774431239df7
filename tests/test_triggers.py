"""TriggerDetector and the language table: which dots are member accesses."""

from __future__ import annotations

import importlib.util
import sysconfig
from pathlib import Path

import pytest

from monitors import languages
from monitors.errors import ConfigError
from monitors.identifiers import IDENT_BYTES, is_ident_char, trailing_ident_length
from monitors.languages import LANGUAGES, LanguageSpec, get_language, language_for_path
from monitors.triggers import TriggerDetector

PY = get_language("python")
STDLIB = Path(sysconfig.get_paths()["stdlib"])


def last_dot_verdict(spec: LanguageSpec, text: str) -> bool:
    """Verdict for the last dot of ``text`` (a fresh detector on the whole text)."""
    return TriggerDetector(spec, text).is_member_access(text.rindex("."))


# ---------------------------------------------------------------- python probes

PY_MEMBER = [
    "c.",
    "self.x.",
    "foo().",
    "a[0].",
    '"abc".',
    "'abc'.",
    "b'x'.",
    "(1).",
    "{}.",
    "x = 1 .",  # int then a spaced dot: `1 .real` is valid Python
    "x = [a.",
    "print(a,\n      b.",
    "foo(\n    bar.",
    "def f(self):\n    return self.",
    "class C:\n    def m(self):\n        if x:\n            y = self.",
    "@app.",  # decorators are fine
    'f"{x.',  # code inside an f-string field
    'f"{a:{w}}" + q.',
    'x = "a" + b.',
    "'''doc'''\nx.",
    "# comment\nx.",
    "x = 1  # c.\ny.",
    "x.y.\nz = 1\nw.",
    "case Color.",
    "match p:\n    case Color.",
    "s = r'\\\\'\nq.",
    "x = (\n    foo  # note\n    .",
    "a = b \\\n    .",
    "None.",
    "lambda: x.",
    "await client.",
    "é.",
    "naïve.",
    "π = 3\nπ.",
    "x = 1\r\ny = 2\r\nself.",
    "import os\nos.",
    "from a import b\nb.",
    "import os; os.",
    "x = {'a': 1}['a'].",
    "foo()().",
    "x = [i for i in y.",
    "x = 'It''s'\ny.",
    '"""doc\n\nMore."""\nz.',
]

PY_NOT_MEMBER = [
    '"a.',  # unfinished string
    "x = 'a.",
    '"""Compute the area.',
    "def f():\n    '''Doc.",
    "def f():\n    '''Doc.\n\n    More text here: foo(bar).",
    "s = 'a\\'b.",
    'f"{x:.',  # format spec
    'f"a.',
    'f"{x}.',
    "rb'a.",
    "# a.",
    "x = 1  # a.",
    "1.",
    "x = 1.",
    "x = [1.",
    "from .",
    "from .mod",
    "from ..",
    "from a.",
    "import os.",
    "import a.b as c.",
    "x = 1; import os.",
    "if x:\n    import os.",
    "from a import (b,\n    c.",
    "x = .",
    "x = ..",
    "return .",
    "print(.",
    "x,.",
    ".",
    "\n.",
]


@pytest.mark.parametrize("text", PY_MEMBER)
def test_python_member_access(text: str) -> None:
    assert last_dot_verdict(PY, text)


@pytest.mark.parametrize("text", PY_NOT_MEMBER)
def test_python_not_member_access(text: str) -> None:
    assert not last_dot_verdict(PY, text)


@pytest.mark.parametrize(
    ("text", "offset", "expected"),
    [
        ('x = "a.b', 6, False),  # a dot inside a string, identifier after it
        ("x = 1.5", 5, False),  # a float
        ("x = ...", 4, False),  # ellipsis, each dot
        ("x = ...", 5, False),
        ("x = ...", 6, False),
        ("s.is", 1, True),  # what follows the dot does not matter
        ("s.in", 1, True),
        ("x.if", 1, True),
        ("c.radius", 1, True),
        ("from . import x", 5, False),
        ("from .mod import x", 5, False),
        ("import os.path", 9, False),
    ],
)
def test_python_dot_in_context(text: str, offset: int, expected: bool) -> None:
    assert text[offset] == "."
    assert TriggerDetector(PY, text).is_member_access(offset) is expected


def test_ellipsis_typed_char_by_char() -> None:
    det = TriggerDetector(PY, "x = ")
    for _ in range(3):
        det.append(".")
        assert not det.is_member_access(len(det) - 1)


def test_non_dot_and_out_of_range() -> None:
    det = TriggerDetector(PY, "a.b")
    assert not det.is_member_access(0)
    assert not det.is_member_access(2)
    assert not det.is_member_access(3)
    assert not det.is_member_access(-1)
    assert det.is_member_access(1)


# ---------------------------------------------------------------- incremental use


def test_append_is_lazy_and_reparse_is_incremental() -> None:
    det = TriggerDetector(PY, "import os\n\ndef f(x):\n")
    det.append("    y = x")
    det.append(".")
    assert det.parses == 0  # appending parses nothing
    assert det.is_member_access(len(det) - 1)
    assert det.parses == 1
    det.append("attr(1.")
    assert not det.is_member_access(len(det) - 1)  # a float
    det.append("5)\n    return os.")
    assert det.is_member_access(len(det) - 1)
    assert det.parses == 3
    # Asking again for the same dot answers from the cache.
    assert det.is_member_access(len(det) - 1)
    assert det.parses == 3


def test_backward_query_is_still_correct() -> None:
    text = 'a.b = "x.y"\nc.d'
    det = TriggerDetector(PY, text)
    assert det.is_member_access(13)  # c.
    assert not det.is_member_access(8)  # inside the string (going back)
    assert det.is_member_access(1)
    assert det.is_member_access(13)


def test_verdicts_agree_with_fresh_detectors_under_appends() -> None:
    src = (
        "class Circle:\n"
        '    """A circle. It has a radius."""\n'
        "    def area(self):\n"
        "        return math.pi * self.radius ** 2  # pi.r.\n"
        "c = Circle(1.5)\n"
        "print(f'{c.area():.2f}', c.radius, 'x.y'.upper())\n"
    )
    det = TriggerDetector(PY)
    pos = 0
    for i, ch in enumerate(src):
        if ch != ".":
            continue
        det.append(src[pos : i + 1])
        pos = i + 1
        assert det.is_member_access(i) == TriggerDetector(PY, src[: i + 1]).is_member_access(i), src[: i + 1]


def test_fork_is_independent() -> None:
    det = TriggerDetector(PY, "x = 1\n")
    det.append("a.")
    assert det.is_member_access(7)
    other = det.fork()
    other.append('"s.')
    det.append("b.")
    assert not other.is_member_access(10)
    assert det.is_member_access(9)
    assert det.text == "x = 1\na.b."
    assert other.text == 'x = 1\na."s.'
    # A fork taken before any parse also works.
    fresh = TriggerDetector(PY, "q.").fork()
    assert fresh.is_member_access(1)


def test_unicode_and_crlf_offsets() -> None:
    text = "naïve = 'é'\r\nπ.x\r\ncafé."
    det = TriggerDetector(PY, text)
    assert det.is_member_access(text.index("π") + 1)
    assert det.is_member_access(len(text) - 1)


# ---------------------------------------------------------------- real source


def reference_member_dots(source: bytes) -> set[int]:
    """Byte offsets of member-access dots from a tree-sitter parse of the whole file."""
    import tree_sitter

    tree = tree_sitter.Parser(PY.ts_language_loader()).parse(source)
    out: set[int] = set()
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        parent = node.parent
        if node.type == "." and parent is not None:
            in_pattern = (  # case Color.RED
                parent.type == "dotted_name"
                and parent.parent is not None
                and parent.parent.type in {"class_pattern", "case_pattern"}
            )
            if parent.type == "attribute" or in_pattern:
                out.add(node.start_byte)
        stack.extend(node.children)
    return out


STDLIB_FILES = ["textwrap.py", "shlex.py", "json/decoder.py", "fractions.py"]


@pytest.mark.parametrize("name", STDLIB_FILES)
def test_real_source_matches_full_parse(name: str) -> None:
    source = (STDLIB / name).read_text(encoding="utf-8")
    det = TriggerDetector(PY)
    got: set[int] = set()
    pos = 0
    for i, ch in enumerate(source):
        if ch == ".":
            det.append(source[pos : i + 1])
            pos = i + 1
            if det.is_member_access(i):
                got.add(len(source[:i].encode()))
    expected = reference_member_dots(source.encode())
    assert expected  # the file has member accesses
    assert got == expected


# ---------------------------------------------------------------- other languages


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


J = "class A { void f() { "
G = "package main\nfunc f() { "
R = "fn f() { "
OTHER = [
    ("java", J + "c.", True),
    ("java", J + "foo().", True),
    ("java", J + '"abc".', True),
    ("java", J + "this.", True),
    ("java", J + "x\n   .y()\n   .", True),
    ("java", J + "double x = 1.", False),
    ("java", "import java.util.", False),
    ("java", "package com.", False),
    ("java", J + "// a.", False),
    ("java", J + "/* a.", False),
    ("java", J + 'String s = "a.', False),
    ("java", J + 'String s = """\n a.', False),
    ("typescript", "c.", True),
    ("typescript", "a?.", True),
    ("typescript", "foo().", True),
    ("typescript", "'abc'.", True),
    ("typescript", "foo!.", True),
    ("typescript", "`${a.", True),
    ("typescript", "import x from 'y'\nfoo.", True),
    ("typescript", "x = 1.", False),
    ("typescript", "`a.", False),
    ("typescript", "x = /a.", False),
    ("typescript", "x = 'a.", False),
    ("typescript", "import A = B.", False),
    ("tsx", "c.", True),
    ("javascript", "a?.", True),
    ("javascript", "x = a / b.", True),
    ("javascript", "if (x) return /a.", False),
    ("javascript", "// a.", False),
    ("go", G + "fmt.", True),
    ("go", G + "foo().", True),
    ("go", G + "x := 1.", False),
    ("go", G + 's := "a.', False),
    ("go", G + "s := `\nfoo.", False),
    ("rust", R + "c.", True),
    ("rust", R + "foo()?.", True),
    ("rust", R + "t.0.", True),
    ("rust", R + "let x: &'a T = y.", True),
    ("rust", R + "let c = 'x'; d.", True),
    ("rust", R + "let x = 1.", False),
    ("rust", R + 'let s = "a.', False),
    ("rust", R + 'let s = r#"a.', False),
    ("rust", R + "let c = '.", False),
    ("rust", R + "/* /* */ a.", False),
]
# Rust ``::`` path separators: the verdict is for the second colon.
RUST_PATHS = [
    (R + "let v = Vec::", True),
    (R + "let m = std::collections::HashMap::", True),
    (R + "match c { Color::", True),
    (R + "let v = Vec:", False),  # one colon
    (R + "let x: ", False),  # a type annotation colon
    (R + 'let s = "a::', False),  # inside a string
    (R + "// a::", False),  # inside a comment
    (R + "let x = ::", False),  # no path before it
]


@pytest.mark.parametrize(("text", "expected"), RUST_PATHS)
def test_rust_path_separator(text: str, expected: bool) -> None:
    if not _has("tree_sitter_rust"):
        pytest.skip("tree_sitter_rust is not installed")
    assert TriggerDetector(get_language("rust"), text).is_member_access(len(text) - 1) is expected


def test_colons_never_trigger_outside_rust() -> None:
    for lang in ("python", "java", "go", "typescript"):
        spec = get_language(lang)
        assert ":" not in TriggerDetector(spec).trigger_chars
    text = "x = a::"
    assert not TriggerDetector(PY, text).is_member_access(len(text) - 1)
_MODULES = {
    "java": "tree_sitter_java",
    "typescript": "tree_sitter_typescript",
    "tsx": "tree_sitter_typescript",
    "javascript": "tree_sitter_javascript",
    "go": "tree_sitter_go",
    "rust": "tree_sitter_rust",
}


@pytest.mark.parametrize(("lang", "text", "expected"), OTHER)
def test_other_languages(lang: str, text: str, expected: bool) -> None:
    if not _has(_MODULES[lang]):
        pytest.skip(f"{_MODULES[lang]} is not installed")
    assert last_dot_verdict(get_language(lang), text) is expected


# ---------------------------------------------------------------- language table


def test_language_table() -> None:
    assert {"python", "java", "typescript", "javascript", "go", "rust"} <= set(LANGUAGES)
    assert language_for_path("pkg/mod.py") is PY
    assert language_for_path("Main.JAVA").name == "java"
    assert language_for_path("a.tsx").name == "tsx"
    assert language_for_path("a.mjs").name == "javascript"
    assert get_language("Python") is PY
    assert "?." in get_language("typescript").member_access_tokens
    with pytest.raises(ConfigError, match="no language"):
        language_for_path("README")
    with pytest.raises(ConfigError, match="unknown language"):
        get_language("cobol")


def test_missing_grammar_raises_config_error_with_hint() -> None:
    loader = languages._loader("no_such_grammar_module", "language", "tree-sitter-nope")
    spec = LanguageSpec(name="nope", extensions=(".nope",), ts_language_loader=loader)
    with pytest.raises(ConfigError, match="pip install tree-sitter-nope"):
        TriggerDetector(spec)


def test_identifier_rule_is_one_rule() -> None:
    # Bytes and characters agree: an ASCII character is an identifier char iff its byte is.
    for b in range(128):
        assert is_ident_char(chr(b)) == (b in IDENT_BYTES), b
    assert all(b in IDENT_BYTES for b in range(0x80, 0x100))
    assert is_ident_char("a") and is_ident_char("$") and is_ident_char("é") and is_ident_char("9")
    assert not is_ident_char(".") and not is_ident_char(" ")
    assert trailing_ident_length("x.naïve") == 5
    assert trailing_ident_length("x.") == 0
