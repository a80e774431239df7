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

One per sequence: the monitors of a sequence (:func:`monitors.registry.build_monitors`)
read one document. Each reader keeps its own end of it and appends through
:meth:`Document.feed_at`: the first reader to reach a token's text appends it, the
others find it there (the guide feeds every monitor a token before the next, so the
text and the lexer state exist once). Answers do not depend on which reader asked
first: :meth:`Document.advance` answers as a lexer only moved forward to the offset
would, going back to a checkpoint where the last fed text starts. The group is forked
together (:func:`monitors.base.fork_monitors`: :meth:`Document.share_forks`), so a
guide's fork, replay or restore gives its monitors one forked document; a monitor forked
alone gets a copy of its own.

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

    __slots__ = ("_back", "_fork_to", "_lexer", "_mark", "_parts", "_ran", "_size", "_text", "lex")

    def __init__(self, lex: LexSpec, text: str = "") -> None:
        self.lex = lex
        self._text = text
        self._parts: list[str] = []
        self._size = len(text)
        self._lexer = Lexer(lex)
        self._ran = (-1, -1)  # (offset, text size) of the last run: nothing new to lex there
        # A copy of the lexer at the first unit boundary at or after ``_mark`` (where the
        # last fed text starts; at first, the last line): a query before the lexer's
        # position starts from it when it can, not from offset 0 (the readers sharing the
        # document ask about the same new text in turn).
        self._back: Lexer | None = None
        self._mark = text.rfind("\n") + 1
        self._fork_to: Document | None = None  # see share_forks

    # ------------------------------------------------------------------ text

    def feed(self, text: str) -> None:
        """Append ``text``. Cheap: nothing is lexed until a query."""
        if text:
            self._mark = self._size
            self._parts.append(text)
            self._size += len(text)

    def feed_at(self, offset: int, text: str) -> Document:
        """``text`` belongs at ``offset`` (a reader's end): append it when the document
        ends there, nothing when it already holds it (another reader of the sequence fed
        it first). A reader out of step with the others (other text, or this text once the
        document holds more) gets a private copy, returned; else ``self``."""
        size = self._size
        if size == offset or not text:
            self.feed(text)
            return self
        if size == offset + len(text) and self._holds(offset, text):
            return self
        return Document(self.lex, self.text[:offset] + text)

    def _holds(self, offset: int, text: str) -> bool:
        """The text at ``offset`` is ``text`` (the last part fed, usually: no join)."""
        parts = self._parts
        if parts and parts[-1] == text and self._size == offset + len(text):
            return True
        return self.text.startswith(text, offset)

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
            lexer = self._rewind(offset)
        self._run(lexer, offset)
        self._ran = ran
        return lexer

    def advance(self, offset: int) -> Lexer:
        """The lexer moved on to ``offset``: it may stand past ``offset``, inside a unit
        it took at once. Whatever queries came before (another reader's, further on), the
        answer is that of a lexer only ever moved forward to ``offset``: one standing past
        a unit boundary at or after ``offset`` goes back to it. Shared: do not change it."""
        lexer = self._lexer
        if lexer.pos < offset:
            self._run(lexer, offset)
            self._ran = (-1, -1)
        elif lexer.pos > offset:
            back = self._back
            fresh = back.copy() if back is not None and back.pos <= offset else Lexer(self.lex)
            fresh.run(self.text, offset)
            if fresh.pos != lexer.pos:  # a boundary between: go back to it
                self._lexer = lexer = fresh
                self._ran = (-1, -1)
        return lexer

    def _rewind(self, offset: int) -> Lexer:
        """A lexer at or before ``offset`` (the checkpoint, else the start), made current."""
        back = self._back
        lexer = back.copy() if back is not None and back.pos <= offset else Lexer(self.lex)
        self._lexer = lexer
        return lexer

    def _run(self, lexer: Lexer, offset: int) -> None:
        """Run ``lexer`` (the current one) forward to ``offset``; one that crosses
        ``_mark`` stops there first and leaves a copy behind (the checkpoint)."""
        mark = self._mark
        text = self.text
        if lexer.pos <= mark < offset:
            lexer.run(text, mark)
            back = self._back
            if back is None or back.pos != lexer.pos:
                self._back = lexer.copy()
        lexer.run(text, offset)

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
        """An independent copy: feeding one does not change the other. While
        :meth:`share_forks` is set, that one copy (readers of one sequence forked
        together share the fork of their document)."""
        if self._fork_to is not None:
            return self._fork_to
        new = Document.__new__(Document)
        new.lex = self.lex
        new._text = self.text
        new._parts = []
        new._size = self._size
        new._lexer = self._lexer.copy()
        new._ran = self._ran
        new._back = self._back  # (never run: only copied)
        new._mark = self._mark
        new._fork_to = None
        return new

    def share_forks(self, fork: Document | None) -> None:
        """Until called again with None, :meth:`fork` returns ``fork`` (a fork of this
        document): the readers of one sequence, forked one by one, get one document
        (:func:`monitors.base.fork_monitors`)."""
        self._fork_to = fork

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
        self._back = None
        self._mark = 0

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
    """A base for detectors whose text is a :class:`Document` (``_doc``, maybe shared
    with the other readers of the sequence; ``_end``: this reader's end of it):
    appending, length, text and the document itself."""

    __slots__ = ("_doc", "_end")

    _doc: Document
    _end: int

    def _read(self, doc: Document) -> None:
        """Follow ``doc`` (its text so far is this reader's)."""
        self._doc = doc
        self._end = len(doc)

    def append(self, text: str) -> None:
        """Add ``text`` at the end (nothing when another reader of a shared document
        added it already). Cheap: nothing is lexed or parsed until a check."""
        self._doc = self._doc.feed_at(self._end, text)
        self._end += len(text)

    def __len__(self) -> int:
        return self._end

    @property
    def text(self) -> str:
        """The whole text so far."""
        return self._doc.text

    @property
    def document(self) -> Document:
        """The text and its lexical state (maybe shared: feed it only through :meth:`append`)."""
        return self._doc
