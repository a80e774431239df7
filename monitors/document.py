"""One sequence's document: the text so far and where its end sits, lexically.

:class:`Document` holds the text of one sequence (prompt prefix plus what was
generated) and the one lexer's state (:class:`monitors.lexer.Lexer`, driven by the
language's :class:`~monitors.languages.LexSpec`). Everything that reads code text asks
it: the trigger detector, the syntax guard, call tracking, completion/definition sites,
the vocabulary's closer table and the evaluation's method cutting and repair.

* ``feed(text)`` is a list append; the lexer runs on the first query after it, over
  the new text only (a regex search per frame);
* queries about the end: :attr:`in_code`, :attr:`mode`, :attr:`pending`,
  :attr:`brackets` (and their offsets), :attr:`line_start`, :attr:`indent`,
  :attr:`last_identifier`, :attr:`statement_word`; about an earlier point:
  :meth:`lexer_at` (queries in increasing order are incremental; an earlier one
  re-lexes from the start);
* ``fork()`` copies (a few short lists); ``snapshot()``/``rollback()`` go back to an
  earlier state; ``key()``/``from_key()`` give the lexical state as a small hashable
  value without the text (what a token fed next needs to be judged), for the syntax
  guard's per-token checks.

Pure: no I/O, threads, clocks or randomness.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from monitors.identifiers import IDENT_CLASS, is_ident_char
from monitors.languages import LexSpec
from monitors.lexer import Frame, Lexer

__all__ = ["Document", "DocumentText", "Mode", "Snapshot"]

#: Where the end of the text sits.
Mode = Literal["code", "string", "line_comment", "block_comment", "regex"]
_MODES: dict[str, Mode] = {"str": "string", "fmt": "string", "code": "string", "lc": "line_comment",
                           "bc": "block_comment", "re": "regex"}
_KEY_CONTEXT = 4  # identifier characters before the end that a quote fed next may read (a prefix)
_IDENT_END = re.compile(IDENT_CLASS + r"+\Z")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A document's state at one point (:meth:`Document.rollback` returns to it)."""

    size: int
    frames: tuple[tuple[object, ...], ...]
    pos: int
    stmt: tuple[bool, int]
    counts: tuple[int, int, str]


class Document:
    """The text of one sequence and its lexical state (see the module docstring)."""

    __slots__ = ("_lexer", "_parts", "_ran", "_size", "_text", "lex")

    def __init__(self, lex: LexSpec, text: str = "") -> None:
        self.lex = lex
        self._text = text
        self._parts: list[str] = []
        self._size = len(text)
        self._lexer = Lexer(lex)
        self._ran = (-1, -1)  # (offset, text size) of the last run: nothing new to lex there

    # ------------------------------------------------------------------ text

    def feed(self, text: str) -> None:
        """Append ``text``. Cheap: nothing is lexed until a query."""
        if text:
            self._parts.append(text)
            self._size += len(text)

    def __len__(self) -> int:
        return self._size

    @property
    def text(self) -> str:
        """The whole text so far."""
        if self._parts:
            self._text = self._text + "".join(self._parts)
            self._parts.clear()
        return self._text

    # ------------------------------------------------------------------ state

    def lexer_at(self, offset: int) -> Lexer:
        """The lexer after ``text[:offset]`` (its ``pos`` may stop short of ``offset``
        where the next character decides). Shared: do not change it."""
        lexer = self._lexer
        ran = (offset, self._size)
        if self._ran == ran:
            return lexer
        if lexer.pos > offset:
            lexer = self._lexer = Lexer(self.lex)  # going back: start over
        lexer.run(self.text, offset)
        self._ran = ran
        return lexer

    def advance(self, offset: int) -> Lexer:
        """The lexer moved on to ``offset`` if it is before it (never back: it may stand
        past ``offset``, inside a unit it took at once). Shared: do not change it."""
        lexer = self._lexer
        if lexer.pos < offset:
            lexer.run(self.text, offset)
            self._ran = (-1, -1)
        return lexer

    @property
    def lexer(self) -> Lexer:
        """The lexer after the whole text."""
        size = self._size
        if self._ran == (size, size):
            return self._lexer
        return self.lexer_at(size)

    @property
    def pending(self) -> str:
        """The text at the end whose meaning the next text decides (a quote that may
        become ``\"\"\"``, a ``/`` before ``/`` or ``*``, a ``\\``): ``""`` when none."""
        lexer = self.lexer
        return self.text[lexer.pos :] if lexer.pos < self._size else ""

    @property
    def in_code(self) -> bool:
        """The end is code (top level or an interpolation such as ``f"{x``), nothing pending."""
        lexer = self.lexer
        return lexer.pos >= self._size and lexer.in_code()

    @property
    def mode(self) -> Mode:
        """What the end of the text is in, judged from the top level: ``"string"`` also
        inside an interpolation of a string (``f"{x``)."""
        stack = self.lexer.stack
        return "code" if len(stack) == 1 else _MODES[str(stack[1][0])]

    @property
    def top_level(self) -> bool:
        """The end is top-level code (not in a string, comment or interpolation), nothing pending."""
        lexer = self.lexer
        return lexer.pos >= self._size and len(lexer.stack) == 1

    @property
    def brackets(self) -> str:
        """The open brackets of the top-level code (``"({"``), innermost last."""
        return str(self.lexer.stack[0][3])

    @property
    def bracket_offsets(self) -> tuple[int, ...]:
        """Where the brackets of :attr:`brackets` were opened."""
        return self.lexer.stack[0][4]  # type: ignore[return-value]

    @property
    def inner_brackets(self) -> str:
        """The open brackets of the innermost code frame (an interpolation's own, or
        :attr:`brackets`)."""
        for frame in reversed(self.lexer.stack):
            if frame[0] == "code":
                return str(frame[3])
        return ""  # pragma: no cover - the bottom frame is code

    @property
    def mismatches(self) -> int:
        """Closers so far that did not match the innermost open bracket."""
        return self.lexer.mismatches

    @property
    def unterminated(self) -> int:
        """One-line strings so far that ran into a newline."""
        return self.lexer.unterminated

    @property
    def statement_word(self) -> str:
        """The first word of the current top-level statement (``""``: none)."""
        return self.lexer.statement_word(self.text)

    @property
    def line_start(self) -> int:
        """The offset where the last line starts."""
        return self.text.rfind("\n") + 1

    @property
    def indent(self) -> str:
        """The blanks that start the last line."""
        text = self.text
        start = text.rfind("\n") + 1
        end = start
        while end < len(text) and text[end] in " \t\f":
            end += 1
        return text[start:end]

    @property
    def last_identifier(self) -> str:
        """The identifier (or its start) that ends the text, when the end is code."""
        text = self.text
        if not text or not is_ident_char(text[-1]) or not self.in_code:
            return ""
        m = _IDENT_END.search(text, max(0, len(text) - 256))
        word = m.group() if m is not None else ""
        return "" if word[:1].isdigit() else word

    # ------------------------------------------------------------------ copies

    def fork(self) -> Document:
        """An independent copy: feeding one does not change the other."""
        new = Document.__new__(Document)
        new.lex = self.lex
        new._text = self.text
        new._parts = []
        new._size = self._size
        new._lexer = self._lexer.copy()
        new._ran = self._ran
        return new

    def snapshot(self) -> Snapshot:
        """The state now (lexed to the end)."""
        lexer = self.lexer
        return Snapshot(self._size, tuple(tuple(f) for f in lexer.stack), lexer.pos,
                        (lexer.stmt_pending, lexer.stmt_at), (lexer.mismatches, lexer.unterminated, lexer.trouble))

    def rollback(self, snap: Snapshot) -> None:
        """Go back to ``snap`` (taken from this document or a fork, at or before now)."""
        self._text = self.text[: snap.size]
        self._size = snap.size
        lexer = self._lexer
        lexer.stack = [list(f) for f in snap.frames]
        lexer.pos = snap.pos
        lexer.stmt_pending, lexer.stmt_at = snap.stmt
        lexer.mismatches, lexer.unterminated, lexer.trouble = snap.counts
        self._ran = (-1, -1)

    def key(self) -> tuple[object, ...]:
        """The lexical state as a hashable value, without the text or offsets: the
        frames (bracket kinds, not where they opened), which trouble came first (a
        mismatch or an unterminated string), the pending text and the identifier characters
        that end the text (a string prefix for a quote fed next)."""
        lexer = self.lexer
        text = self.text
        frames = tuple(("code", f[1], f[2], f[3]) if f[0] == "code" else tuple(f) for f in lexer.stack)
        k = lexer.pos
        j = k
        while j > 0 and k - j < _KEY_CONTEXT and is_ident_char(text[j - 1]):
            j -= 1
        return (frames, lexer.stmt_pending, lexer.trouble, text[j:k], text[k:])

    @classmethod
    def from_key(cls, lex: LexSpec, key: tuple[object, ...]) -> Document:
        """A document in the state :meth:`key` gave (its text: the key's context and
        pending text; bracket offsets unknown, -1)."""
        frames, stmt_pending, trouble, context, pending = key
        assert isinstance(frames, tuple) and isinstance(trouble, str)
        assert isinstance(context, str) and isinstance(pending, str)
        doc = cls(lex, context + pending)
        lexer = doc._lexer
        lexer.stack = [_frame(f) for f in frames]
        lexer.pos = len(context)
        lexer.stmt_pending = bool(stmt_pending)
        lexer.trouble = trouble
        lexer.mismatches = int(trouble == "mismatch")
        lexer.unterminated = int(trouble == "unterminated")
        doc._ran = (-1, -1)
        return doc


def _frame(f: tuple[object, ...]) -> Frame:
    if f[0] == "code":
        return ["code", f[1], f[2], f[3], (-1,) * len(str(f[3]))]
    return list(f)


class DocumentText:
    """A base for detectors whose text is a :class:`Document` (``_doc``): appending,
    length, text and the document itself."""

    __slots__ = ("_doc",)

    _doc: Document

    def append(self, text: str) -> None:
        """Add ``text`` at the end. Cheap: nothing is lexed or parsed until a check."""
        self._doc.feed(text)

    def __len__(self) -> int:
        return len(self._doc)

    @property
    def text(self) -> str:
        """The whole text so far."""
        return self._doc.text

    @property
    def document(self) -> Document:
        """The text and its lexical state (shared: feed it only through :meth:`append`)."""
        return self._doc
