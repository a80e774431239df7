"""Single vs multi-line from the syntax tree, and the stop rules (no model, no server)."""

from __future__ import annotations

import pytest

from mgd.editor.completion_shape import ShapeStop, decide_shape
from monitors.languages import get_language

PY = get_language("python")


@pytest.mark.parametrize(
    ("prefix", "suffix", "multiline", "reason"),
    [
        ("def f(x):", "\n\nx = 1\n", True, "cursor ends a block header"),
        ("def f(x):\n    ", "\n\nx = 1\n", True, "empty block body"),
        ("class A:\n    def f(self):\n        ", "\n    def g(self):\n        pass\n", True, "empty block body"),
        ("for c in cs:\n    total += c.", "\nreturn total\n", False, "mid-statement"),
        ("x = foo(a.", ")\n", False, "text after the cursor on its line"),
        ("x = 1\n", "\ny = 2\n", False, "blank line between statements"),
        ("# a note:", "\n", False, "inside a string or comment"),
        ("d = {'a':", "\n", False, "mid-statement"),
        ("xs = [i for i in y if i:", "\n", False, "mid-statement"),
        ("def f():\n    return 1\n", "", False, "blank line between statements"),
    ],
)
def test_shape(prefix: str, suffix: str, multiline: bool, reason: str) -> None:
    shape = decide_shape(PY, prefix, suffix)
    assert (shape.multiline, shape.reason) == (multiline, reason)


def test_block_header_body_indent_follows_the_file() -> None:
    shape = decide_shape(PY, "class A:\n  def f(self):", "\n")
    assert shape.multiline and shape.starts_line and shape.body_indent == "    "  # 2 (class) + 2 (unit)


def test_single_line_stops_at_newline_and_keeps_the_suffix() -> None:
    rule = ShapeStop(decide_shape(PY, "x = foo(a.", ")\n"))
    assert rule.cut("b()\nmore") == 3
    assert rule.cut("b())") == 3  # the rest of the line was typed again
    assert rule.cut("b()") is None  # its own closer: go on
    assert rule.finish("b())") == "b()"
    assert rule.finish("b()") == "b()"
    assert rule.finish("b(c))  ") == "b(c)"


def test_multiline_stops_at_dedent_blank_lines_and_the_next_suffix_line() -> None:
    shape = decide_shape(PY, "class A:\n    def f(self):\n        ", "\n    def g(self):\n        pass\n")
    rule = ShapeStop(shape, max_lines=12)
    text = "x = 1\n        return x\n    def h(self):\n"
    cut = rule.cut(text)
    assert text[:cut] == "x = 1\n        return x"
    assert ShapeStop(shape).cut("x = 1\n\n\n        y = 2\n") == len("x = 1\n")
    dup = "x = 1\n    def g(self):\n"
    assert dup[: ShapeStop(shape).cut(dup)] == "x = 1"


def test_multiline_line_limit() -> None:
    shape = decide_shape(PY, "def f():", "\n")
    rule = ShapeStop(shape, max_lines=2)
    text = "\n    a = 1\n    b = 2\n    c = 3\n"
    assert rule.finish(text[: rule.cut(text)]) == "\n    a = 1\n    b = 2"


def test_unknown_language_uses_text_only() -> None:
    assert decide_shape(None, "if x {", "\n}").multiline
    assert not decide_shape(None, "x = y.", "\n").multiline
