"""The syntax guard: a bracket stack over the document, no language server.

:class:`SyntaxMonitor` lexes the prompt and then every generated character
(strings, comments, ``()[]{}``) and says two things:

* a token may not close a bracket that is not open: its closers that its own
  openers do not match must match the open brackets, innermost first (``)`` with
  nothing open, ``]`` where ``(`` is innermost, ``(]`` anywhere);
* the completion may not end (EOS) inside a string, or with more brackets open than
  the suffix closes on its first line (``f(|)`` with the suffix ``)``: one; a suffix
  that starts on a new line: none).

Only text before a token's first quote or comment start is judged (what follows
is string or comment text). The constraint is a
:class:`~monitors.base.SyntaxConstraint`; the mask is
:func:`monitors.vocab.rules.syntax_ids`.

Languages: Python (``#`` comments, ``'``/``"`` and triple-quoted strings, any
prefix), Java (``//``, ``/* */``, strings, char literals, text blocks) and Go
(plus backtick raw strings). TypeScript/JavaScript (regex literals, template
literals) and Rust (lifetimes, raw strings) are not lexed here: the monitor does not
apply to them.

Fails open: anything the lexer cannot follow (a closer that does not match in the
prompt, a string that runs into a newline, a quote or ``/`` at the very end of the
text whose meaning the next character decides) gives no opinion, for that step
or, when the state is lost, for the rest of the sequence (``lost``). Counters:
``violations`` (the text closed a bracket that was not open: the engine did not
mask), ``lost``, ``eos_blocked`` (steps where EOS was forbidden).
"""

from __future__ import annotations

import codecs
import dataclasses
from typing import Final

from monitors.base import MonitorStats, SyntaxConstraint
from monitors.languages import LanguageSpec

__all__ = ["LANGUAGES", "BracketLexer", "SyntaxMonitor"]

#: The languages the lexer follows.
LANGUAGES: Final = frozenset({"python", "java", "go"})
_OPENER: Final = {")": "(", "]": "[", "}": "{"}
_VISIBLE: Final = 8  # the innermost brackets a constraint holds
_EXTRA_KEYS = ("violations", "lost", "eos_blocked")
_Utf8Decoder = codecs.getincrementaldecoder("utf-8")


@dataclasses.dataclass(slots=True)
class BracketLexer:
    """Brackets, strings and comments of Python or a C-like language, char by char.

    ``mode``: ``""`` code, ``"str"`` in a string (``quote``, ``triple``), ``"line"`` a
    line comment, ``"block"`` a block comment. ``pending``: quote characters or a
    ``/`` whose meaning the next character decides. ``lost``: the lexer could not
    follow the text (no opinion from then on).
    """

    python: bool
    go: bool = False
    text_blocks: bool = False
    stack: list[str] = dataclasses.field(default_factory=list)
    mode: str = ""
    quote: str = ""
    triple: bool = False
    escape: bool = False
    run: int = 0  # consecutive closing quotes seen in a triple-quoted string
    pending: str = ""
    star: bool = False  # "*" seen in a block comment
    lost: bool = False
    mismatch: bool = False  # the last feed closed a bracket that was not open

    def copy(self) -> BracketLexer:
        return dataclasses.replace(self, stack=list(self.stack))

    @property
    def settled(self) -> bool:
        """In code, nothing pending: a token's brackets can be judged."""
        return not self.lost and not self.mode and not self.pending

    def feed(self, text: str) -> None:
        for ch in text:
            if self.lost:
                return
            self._char(ch)

    def _char(self, ch: str) -> None:
        if self.pending:
            p = self.pending
            if p == "/":
                self.pending = ""
                if ch == "/":
                    self.mode = "line"
                    return
                if ch == "*":
                    self.mode, self.star = "block", False
                    return
                # a division: fall through with ch in code
            else:  # one or two quotes
                q = p[0]
                if ch == q and len(p) == 1:
                    self.pending = p + ch
                    return
                self.pending = ""
                if ch == q:  # three quotes: a triple-quoted string (Python, Java text block)
                    self.mode, self.quote, self.triple, self.run, self.escape = "str", q, True, 0, False
                    return
                if len(p) == 2:  # "" : an empty string, then ch in code
                    pass
                else:  # one quote: a string starts, ch is its first character
                    self.mode, self.quote, self.triple, self.escape = "str", q, False, False
                    self._string(ch)
                    return
        mode = self.mode
        if mode == "str":
            self._string(ch)
        elif mode == "line":
            if ch == "\n":
                self.mode = ""
        elif mode == "block":
            if self.star and ch == "/":
                self.mode = ""
            self.star = ch == "*"
        else:
            self._code(ch)

    def _string(self, ch: str) -> None:
        if self.escape:
            self.escape = False
            return
        q = self.quote
        if q == "`":  # Go raw string: no escapes, any line
            if ch == "`":
                self.mode = ""
            return
        if ch == "\\":
            self.escape = True
            self.run = 0
            return
        if self.triple:
            if ch == q:
                self.run += 1
                if self.run == 3:
                    self.mode = ""
            else:
                self.run = 0
            return
        if ch == q:
            self.mode = ""
        elif ch == "\n":
            self.lost = True  # an unterminated one-line string: stop following

    def _code(self, ch: str) -> None:
        if ch in "([{":
            self.stack.append(ch)
        elif ch in ")]}":
            if not self.stack or self.stack[-1] != _OPENER[ch]:
                self.mismatch = True
                self.lost = True
                return
            self.stack.pop()
        elif ch in "\"'":
            if self.python or (ch == '"' and self.text_blocks):
                self.pending = ch
            else:
                self.mode, self.quote, self.triple, self.escape = "str", ch, False, False
        elif ch == "`" and self.go:
            self.mode, self.quote, self.triple = "str", "`", False
        elif ch == "#" and self.python:
            self.mode = "line"
        elif ch == "/" and not self.python:
            self.pending = "/"


def _lexer(spec: LanguageSpec) -> BracketLexer:
    return BracketLexer(python=spec.name == "python", go=spec.name == "go", text_blocks=spec.lex.text_blocks)


class SyntaxMonitor:
    """No closer without its opener; no EOS inside a string or an unclosed bracket.

    ``SyntaxMonitor(spec, prefix, suffix)``: the document around the generation
    point (only the suffix's first line is read: the brackets it closes may stay
    open at EOS). Pure; never needs facts.
    """

    __slots__ = ("_constraint", "_decoder", "_eos_depth", "_lexer", "_stats", "spec")

    def __init__(self, spec: LanguageSpec, prefix: str = "", suffix: str = "") -> None:
        self.spec = spec
        self._decoder = _Utf8Decoder("replace")
        self._stats = MonitorStats(extra=dict.fromkeys(_EXTRA_KEYS, 0))
        self._constraint: SyntaxConstraint | None = None
        lexer = _lexer(spec)
        lexer.feed(prefix)
        if lexer.lost:
            self._stats.extra["lost"] += 1
        self._lexer = lexer
        self._eos_depth = self._closed_by(suffix)

    def _closed_by(self, suffix: str) -> int:
        """How many of the prompt's open brackets the suffix's first line closes."""
        if self._lexer.lost or not suffix:
            return 0
        probe = self._lexer.copy()
        depth = low = len(probe.stack)
        for ch in suffix.split("\n", 1)[0]:
            probe.feed(ch)
            if probe.lost:
                break
            low = min(low, len(probe.stack))
        return depth - low

    @property
    def stats(self) -> MonitorStats:
        return self._stats

    def feed(self, data: bytes) -> None:
        if not data or self._lexer.lost:
            return
        chars = self._decoder.decode(data)
        if not chars:
            return
        self._constraint = None
        lexer = self._lexer
        lexer.feed(chars)
        if lexer.lost:
            self._stats.extra["violations" if lexer.mismatch else "lost"] += 1

    def need(self) -> None:
        return None

    def provide(self, facts: object) -> None:
        return None

    def constraint(self) -> SyntaxConstraint | None:
        lexer = self._lexer
        if lexer.lost:
            return None
        c = self._constraint
        if c is None:
            if lexer.mode in ("str", "block") or lexer.pending in ("'", '"'):
                eos = False  # inside a string or block comment (or one just opened)
            else:
                eos = len(lexer.stack) <= self._eos_depth
            settled = lexer.settled
            if not settled and eos:
                return None  # nothing to judge
            c = SyntaxConstraint(stack="".join(lexer.stack[-_VISIBLE:]) if settled else None,
                                 deep=len(lexer.stack) > _VISIBLE, eos=eos, python=lexer.python)
            if not eos:
                self._stats.extra["eos_blocked"] += 1
            self._constraint = c
        return c

    def fork(self) -> SyntaxMonitor:
        new = SyntaxMonitor.__new__(SyntaxMonitor)
        new.spec = self.spec
        new._decoder = _Utf8Decoder("replace")
        new._decoder.setstate(self._decoder.getstate())
        new._stats = dataclasses.replace(self._stats, extra=dict(self._stats.extra))
        new._constraint = self._constraint
        new._lexer = self._lexer.copy()
        new._eos_depth = self._eos_depth
        return new
