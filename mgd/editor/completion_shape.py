"""What a completion at the cursor should look like, and where it must stop.

:func:`decide_shape` reads the syntax tree (tree-sitter) around the cursor:

* the cursor ends a block header (``def f():|``, ``if x {|``) or sits on a blank
  line of a block whose body is still empty: **multi-line** (write the body);
* anywhere else (mid-expression, after ``obj.``, inside a string or comment, a
  blank line between statements): **single line**.

:class:`ShapeStop` is fed the growing completion and says where to cut it:
single line at the first newline, or when the rest of the cursor's line has
just been typed again; multi-line at the first non-blank line indented less than
the body, at two blank lines in a row, at a line repeating the suffix's next
line, or after ``max_lines`` lines. :meth:`ShapeStop.finish` trims trailing
whitespace and closing brackets the suffix already holds (never duplicate it).
"""

from __future__ import annotations

from dataclasses import dataclass

from monitors.languages import LanguageSpec

__all__ = ["CompletionShape", "ShapeStop", "decide_shape"]

#: Python statements whose ``:`` opens a block.
_PY_BLOCK_PARENTS = frozenset({
    "function_definition", "class_definition", "if_statement", "elif_clause", "else_clause",
    "for_statement", "while_statement", "with_statement", "try_statement", "except_clause",
    "finally_clause", "match_statement", "case_clause", "ERROR", "module", "block",
})
_PY_BLOCK_WORDS = frozenset({
    "def", "class", "if", "elif", "else", "for", "while", "with", "try", "except", "finally",
    "async", "match", "case",
})
_OPENERS = {")": "(", "]": "[", "}": "{"}


@dataclass(frozen=True, slots=True)
class CompletionShape:
    """``multiline``; ``body_indent``: the indentation lines of a body must keep;
    ``line_suffix``: the rest of the cursor's line; ``next_line``: the first
    non-blank suffix line after it (stripped); ``reason``: why (for logs, tests)."""

    multiline: bool
    body_indent: str
    line_suffix: str
    next_line: str
    reason: str
    starts_line: bool = False  # the completion must begin with a newline (cursor ends a header)


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def _indent_unit(text: str) -> str:
    for line in text.splitlines():
        if line.startswith("\t"):
            return "\t"
        if line.startswith(" ") and line.strip():
            n = len(_indent_of(line))
            if n in (2, 4, 8):
                return " " * n
    return "    "


def decide_shape(language: LanguageSpec | None, prefix: str, suffix: str) -> CompletionShape:
    """Single line or multi-line for a cursor between ``prefix`` and ``suffix``."""
    line_start = prefix.rfind("\n") + 1
    before = prefix[line_start:]
    nl = suffix.find("\n")
    after = suffix if nl < 0 else suffix[:nl]
    rest = "" if nl < 0 else suffix[nl + 1 :]
    next_line = next((ln.strip() for ln in rest.splitlines() if ln.strip()), "")

    def single(reason: str) -> CompletionShape:
        return CompletionShape(False, _indent_of(before), after, next_line, reason)

    if after.strip():
        return single("text after the cursor on its line")
    leaf = _leaf_before(language, prefix, suffix)
    if leaf is not None and leaf[1]:
        return single("inside a string or comment")
    opener = _is_block_opener(language, prefix, leaf)
    if before.strip():
        if opener is not None:
            header_indent = _indent_of(before)
            return CompletionShape(True, header_indent + _indent_unit(prefix), after, next_line,
                                   "cursor ends a block header", starts_line=True)
        return single("mid-statement")
    # Blank line: multi-line only when it is the (empty) body of the header above.
    if opener is not None:
        header_line = prefix[: opener].rsplit("\n", 1)[-1]
        header_indent = _indent_of(header_line)
        indent = before if len(before) > len(header_indent) else header_indent + _indent_unit(prefix)
        return CompletionShape(True, indent, after, next_line, "empty block body")
    return single("blank line between statements")


def _leaf_before(language: LanguageSpec | None, prefix: str, suffix: str) -> tuple[object, bool, int] | None:
    """(last leaf before the cursor, inside string/comment, its end char offset)."""
    if language is None:
        return None
    import tree_sitter

    text = prefix + suffix
    buf = text.encode("utf-8", "surrogatepass")
    cur = len(prefix.encode("utf-8", "surrogatepass"))
    parser = tree_sitter.Parser(language.ts_language_loader())
    tree = parser.parse(buf)
    i = cur
    while i > 0 and buf[i - 1 : i] in (b" ", b"\t", b"\r", b"\n"):
        i -= 1
    if i == 0:
        return None
    node = tree.root_node.descendant_for_byte_range(i - 1, i)
    if node is None:
        return None
    inside = False
    probe = tree.root_node.descendant_for_byte_range(max(cur - 1, 0), cur)
    blockers = language.string_types | language.comment_types
    while probe is not None:
        if probe.type in blockers and probe.start_byte < cur < probe.end_byte + (probe.type in language.comment_types):
            inside = True
            break
        probe = probe.parent
    end_chars = len(buf[: node.end_byte].decode("utf-8", "surrogatepass"))
    return node, inside, end_chars


def _is_block_opener(language: LanguageSpec | None, prefix: str, leaf: tuple[object, bool, int] | None) -> int | None:
    """Char offset of the block opener that is the last code before the cursor, or None."""
    if leaf is None or language is None:
        stripped = prefix.rstrip()
        if stripped.endswith((":", "{")):
            return len(stripped) - 1
        return None
    node, _inside, end = leaf
    ntype = getattr(node, "type", "")
    parent = getattr(node, "parent", None)
    if language.name == "python":
        if ntype != ":" or parent is None or parent.type not in _PY_BLOCK_PARENTS:
            return None
        header = prefix[:end].rsplit("\n", 1)[-1].split(None, 1)
        if not header or header[0].rstrip(":") not in _PY_BLOCK_WORDS:
            return None
    elif ntype != "{":
        return None
    # The opener must end its line (nothing but spaces up to the cursor's line).
    between = prefix[end:]
    if between.strip():
        return None
    return end - 1


class ShapeStop:
    """Incremental stop check for one completion of a given shape."""

    def __init__(self, shape: CompletionShape, max_lines: int = 12) -> None:
        self.shape = shape
        self.max_lines = max_lines
        self._tail = shape.line_suffix.strip()

    def cut(self, text: str) -> int | None:
        """Where to cut ``text`` (generation stops), or None to go on."""
        if not self.shape.multiline:
            nl = text.find("\n")
            if nl >= 0:
                return nl
            return self._dup_tail(text)
        return self._cut_multi(text)

    def _cut_multi(self, text: str) -> int | None:
        lines = text.split("\n")
        complete = lines[:-1]  # the last piece may still grow
        indent = self.shape.body_indent
        offset = 0
        blank_run = 0
        body_lines = 0
        for i, line in enumerate(complete):
            first_piece = i == 0
            start = offset
            offset += len(line) + 1
            if first_piece and not self.shape.starts_line:
                # The cursor line: its indentation was typed before the cursor.
                body_lines += 1 if line.strip() else 0
                continue
            if not line.strip():
                if first_piece:
                    continue  # the newline that ends the header line
                blank_run += 1
                if blank_run >= 2:
                    return max(start - 1, 0)
                continue
            blank_run = 0
            if len(_indent_of(line)) < len(indent) or (self.shape.next_line and line.strip() == self.shape.next_line):
                return max(start - 1, 0)
            body_lines += 1
            if body_lines >= self.max_lines:
                return offset - 1
        return None

    def _dup_tail(self, text: str) -> int | None:
        """Where the completion starts repeating the rest of the cursor's line."""
        tail = self._tail
        if not tail or len(text) <= len(tail) or not text.endswith(tail):
            return None
        if any(ch in _OPENERS or ch in "([{" for ch in tail) and not _unbalanced_closers(text):
            return None  # ``b()`` before ``)``: its own closer, not the suffix's
        return len(text) - len(tail)

    def finish(self, text: str) -> str:
        """The final text: trailing whitespace dropped, the suffix not duplicated."""
        text = text.rstrip() if self.shape.multiline else text.rstrip(" \t\r\n")
        if self.shape.multiline and not self.shape.starts_line:
            text = text.lstrip("\n") if not text.strip() else text
        if not self._tail:
            return text
        dup = self._dup_tail(text)
        if dup is not None:
            return text[:dup].rstrip(" \t")
        # Closing brackets the completion adds beyond its own openers, when the suffix has them.
        extra = _unbalanced_closers(text)
        if extra and self._tail.startswith(extra):
            return text[: len(text) - len(extra)]
        return text


def _unbalanced_closers(text: str) -> str:
    """The trailing run of closing brackets that have no opener in ``text``."""
    depth = {"(": 0, "[": 0, "{": 0}
    for ch in text:
        if ch in depth:
            depth[ch] += 1
        elif ch in _OPENERS:
            depth[_OPENERS[ch]] -= 1
    j = len(text)
    out = []
    while j > 0 and text[j - 1] in _OPENERS:
        ch = text[j - 1]
        if depth[_OPENERS[ch]] < 0:
            depth[_OPENERS[ch]] += 1
            out.append(ch)
            j -= 1
        else:
            break
    return "".join(reversed(out))
