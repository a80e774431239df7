"""Where the suite's monitors fire: keyword sites, import dots and call parentheses.

:class:`SiteDetector` reads the sequence's document (prompt prefix plus what was
generated; :class:`~monitors.document.Document`, shared with the sequence's other
monitors, or its own) and answers, for the *end* of that text:

* :meth:`SiteDetector.keyword_site`: does it end with a keyword (``new``,
  ``case``, ``import``) written as code? The text is parsed with tree-sitter and
  the leaf that ends at the end of the text must spell the keyword (as the
  keyword token, or as an identifier: TypeScript's grammar reads a trailing
  ``new`` as one) with no string or comment ancestor, and the character before
  it must not be an identifier character or a dot (``x.new``, ``renew``).
* :meth:`SiteDetector.import_dot_site`: does it end with a dot inside an import
  statement (``import a.b.``, ``from a.`` before its ``import``, Java
  ``import [static] a.b.``)? The statement is the current line; the dot must be
  code (tree-sitter leaf ``.`` without string/comment ancestors).
* :meth:`SiteDetector.call_open_site`: is a ``(`` at a given offset the start of
  an argument list (``f(``, ``obj.m(``, ``new T(``, ``g()(``), not a grouping
  parenthesis or a control statement (``if (``)? Tree-sitter parses unfinished
  calls as ERROR nodes, so this check is lexical (the word before the
  parenthesis) plus the string/comment check (tree-sitter's nodes and the one
  lexer's mode, :mod:`monitors.document`, for unfinished ones); definitions
  (``def f(``) pass, and the server's empty signature help makes the monitor
  fail open there.

Costs: each check parses the whole text (about a millisecond for a few KB); the
monitors only ask when the cheap byte test (keyword, dot or parenthesis at the
end) passes.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from monitors.document import Document, DocumentText
from monitors.identifiers import is_ident_char
from monitors.languages import LanguageSpec

if TYPE_CHECKING:  # pragma: no cover
    import tree_sitter

__all__ = ["SiteDetector"]

# Words before "(" that make it a statement's parenthesis, not a call.
_NOT_CALLEES = frozenset(
    {
        "if", "elif", "while", "for", "switch", "catch", "return", "and", "or", "not", "in", "is",
        "lambda", "yield", "await", "assert", "del", "with", "except", "synchronized",
        "typeof", "instanceof", "throw", "case", "else", "do", "try", "func", "def", "class",
        "function", "import", "from", "as", "go", "defer", "select", "range", "var", "const", "let",
    }
)

_DEFINERS = frozenset({"def", "class", "function", "func", "fn", "interface", "struct", "record", "enum"})
_IMPORT_LINE = re.compile(r"^\s*(?:import\s+(?:static\s+)?|from\s+)[\w.\s]*$")


class SiteDetector(DocumentText):
    """The text of one document and tree-sitter checks of its end."""

    __slots__ = ("_parser", "spec")

    def __init__(self, spec: LanguageSpec, text: str = "", doc: Document | None = None) -> None:
        import tree_sitter

        self.spec = spec
        self._parser = tree_sitter.Parser(spec.ts_language_loader())
        self._read(doc if doc is not None else Document(spec.lex, text))

    def fork(self) -> SiteDetector:
        new = SiteDetector.__new__(SiteDetector)
        new.spec = self.spec
        new._parser = self._parser  # parsers are only used synchronously by one caller at a time
        new._doc = self._doc.fork()
        new._end = self._end
        return new

    # ------------------------------------------------------------------ checks

    def keyword_site(self, keyword: str, end: int | None = None) -> bool:
        """Whether the text (cut at character ``end``, default its end) ends with
        ``keyword`` written as code."""
        text = self.text if end is None else self.text[:end]
        if not text.endswith(keyword):
            return False
        start = len(text) - len(keyword)
        if start > 0 and (is_ident_char(text[start - 1]) or text[start - 1] == "."):
            return False
        buf = text.encode("utf-8", "surrogatepass")
        leaf = self._leaf_ending_at(buf, len(buf))
        if leaf is None or leaf.end_byte != len(buf) or leaf.is_missing:
            return False
        if buf[leaf.start_byte : leaf.end_byte] != keyword.encode():
            return False
        return self._in_code(leaf, len(text))

    def import_dot_site(self, dot: int) -> bool:
        """Whether the ``.`` at character ``dot`` is part of an import statement's path."""
        text = self.text
        if not 0 <= dot < len(text) or text[dot] != ".":
            return False
        line_start = text.rfind("\n", 0, dot) + 1
        line = text[line_start : dot + 1]
        if not _IMPORT_LINE.match(line[:-1]):
            return False
        if line.lstrip().startswith("from") and " import" in line:
            return False
        buf = text[: dot + 1].encode("utf-8", "surrogatepass")
        leaf = self._leaf_ending_at(buf, len(buf))
        return leaf is not None and leaf.type == "." and self._in_code(leaf, dot + 1)

    def call_open_site(self, paren: int) -> bool:
        """Whether the ``(`` at character ``paren`` opens a call's argument list."""
        text = self.text
        if not 0 <= paren < len(text) or text[paren] != "(":
            return False
        i = paren
        while i > 0 and text[i - 1] in " \t":
            i -= 1
        if i == 0:
            return False
        before = text[i - 1]
        if before in ")]":
            pass
        elif before == ">" and self.spec.name in ("java", "typescript", "tsx"):
            pass  # generic call or constructor: new ArrayList<>(
        elif is_ident_char(before):
            j = i
            while j > 0 and is_ident_char(text[j - 1]):
                j -= 1
            word = text[j:i]
            if word[0].isdigit() or word in _NOT_CALLEES:
                return False
            k = j
            while k > 0 and text[k - 1] in " \t":
                k -= 1
            m = k
            while m > 0 and is_ident_char(text[m - 1]):
                m -= 1
            if text[m:k] in _DEFINERS:
                return False  # "def f(", "function f(": a definition
        else:
            return False
        buf = text[: paren + 1].encode("utf-8", "surrogatepass")
        leaf = self._leaf_ending_at(buf, len(buf))
        return leaf is not None and leaf.type == "(" and self._in_code(leaf, paren + 1)

    # ------------------------------------------------------------------ internals

    def _leaf_ending_at(self, buf: bytes, end: int) -> tree_sitter.Node | None:
        if end == 0:
            return None
        tree = self._parser.parse(buf)
        return tree.root_node.descendant_for_byte_range(end - 1, end)

    def _in_code(self, node: tree_sitter.Node, end: int) -> bool:
        """No string/comment ancestor, and the document's lexer says the text up to
        ``end`` ends in code (tree-sitter has no node for an unfinished string or comment)."""
        lexer = self._doc.lexer_at(end)
        if lexer.pos < end or not lexer.in_code():
            return False
        spec = self.spec
        reject = spec.string_types | spec.comment_types
        n: tree_sitter.Node | None = node
        while n is not None:
            if n.type in spec.interpolation_types:
                return True
            if n.type in reject:
                return False
            n = n.parent
        return True
