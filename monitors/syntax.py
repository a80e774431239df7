"""The syntax guard: a bracket stack over the document, no language server.

:class:`SyntaxMonitor` reads the prompt and then every generated character through
the one lexer (:class:`BracketLexer` is its view of a :class:`~monitors.document.Document`:
top-level brackets, strings, comments; the sequence's document, shared with its other
monitors, or its own) and says two things:

* a token may not close a bracket that is not open: its closers that its own
  openers do not match must match the open brackets, innermost first (``)`` with
  nothing open, ``]`` where ``(`` is innermost, ``(]`` anywhere);
* the completion may not end (EOS) inside a string, or with more brackets open than
  the rest of the document closes: the brackets opened on earlier lines of the prompt
  (a method's braces, a call spanning lines), and of those opened on the prompt's last
  line the ones the suffix's first line closes (``f(|)`` with the suffix ``)``: the
  call stays open; a suffix that starts on a new line: the completion closes it);
* with stop texts (``stops``: ``mgd generate --stop``, vLLM's ``stop``), the same
  holds where a stop text fires: a token that would complete a stop text whose start
  (the cut) lies in a string or an unclosed bracket is forbidden
  (:class:`StopGuard`). Not judged: a token that itself opens a bracket and holds a
  whole stop text while nothing is open before it.

Only text before a token's first quote or comment start is judged (what follows
is string or comment text). The constraint is a
:class:`~monitors.base.SyntaxConstraint`; the mask is
:func:`monitors.vocab.rules.syntax_ids`.

Languages: Python (``#`` comments, prefixed and triple-quoted strings; an f-string's
fields are code inside the string, so their brackets are the string's), Java (``//``,
``/* */``, strings, char literals, text blocks) and Go (plus backtick raw strings).
The lexer knows TypeScript/JavaScript and Rust too, but the guard is not enabled
for them (``LANGUAGES``).

Fails open: anything the lexer cannot follow (a closer that does not match in the
prompt, a string that runs into a newline, a quote or ``/`` at the very end of the
text whose meaning the next character decides) gives no opinion, for that step
or, when the state is lost, for the rest of the sequence (``lost``). Counters:
``violations`` (the text closed a bracket that was not open: the engine did not
mask), ``lost``, ``eos_blocked`` (steps where EOS was forbidden), ``stop_guarded``
(steps where some stop-completing tokens were judged).
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Iterable
from typing import Final

from monitors.base import MonitorBase, SyntaxConstraint
from monitors.document import Document
from monitors.languages import PYTHON_LEX, LanguageSpec, LexSpec

__all__ = ["LANGUAGES", "BracketLexer", "BudgetGuard", "StopGuard", "SyntaxMonitor"]

#: The languages the lexer follows.
LANGUAGES: Final = frozenset({"python", "java", "go"})
_VISIBLE: Final = 8  # the innermost brackets a constraint holds
_EXTRA_KEYS = ("violations", "lost", "eos_blocked", "stop_guarded", "budget_closing")


_MODES: Final = {"code": "", "string": "str", "regex": "str", "line_comment": "line", "block_comment": "block"}


class BracketLexer:
    """The syntax guard's view of a :class:`~monitors.document.Document`: its top-level
    brackets, mode and pending text, and whether it was lost.

    ``stack``: the open brackets of the top-level code. ``mode``: ``""`` code, ``"str"``
    in a string (or an interpolation inside one), ``"line"`` a line comment, ``"block"``
    a block comment. ``pending``: a quote or ``/`` at the end whose meaning the next
    character decides. ``lost``: the text closed a bracket that was not open
    (``mismatch``) or a one-line string ran into a newline: no opinion from then on.
    """

    __slots__ = ("_end", "doc", "python")

    def __init__(self, python: bool = False, lex: LexSpec | None = None, doc: Document | None = None) -> None:
        self.python = python
        self.doc = doc if doc is not None else Document(lex or (PYTHON_LEX if python else LexSpec()))
        self._end = len(self.doc)  # this reader's end of ``doc`` (which others may share)

    @property
    def stack(self) -> list[str]:
        return list(self.doc.brackets)

    @property
    def mode(self) -> str:
        return _MODES[self.doc.mode]

    @property
    def pending(self) -> str:
        return self.doc.pending

    @property
    def mismatch(self) -> bool:
        return self.doc.lexer.trouble == "mismatch"

    @property
    def lost(self) -> bool:
        return bool(self.doc.lexer.trouble)

    def copy(self) -> BracketLexer:
        new = BracketLexer(self.python, doc=self.doc.fork())
        new._end = self._end
        return new

    def __eq__(self, other: object) -> bool:
        """Two lexers are equal in the same lexical state (:meth:`key`)."""
        return isinstance(other, BracketLexer) and self.key() == other.key()

    __hash__ = None  # type: ignore[assignment] - mutable, like the dataclass it was

    def key(self) -> tuple[object, ...]:
        """The whole state as a hashable tuple (:meth:`from_key` rebuilds it)."""
        return (self.python, self.doc.lex, self.doc.key())

    @classmethod
    def from_key(cls, key: tuple[object, ...]) -> BracketLexer:
        python, lex, state = key
        assert isinstance(lex, LexSpec) and isinstance(state, tuple)
        return cls(bool(python), doc=Document.from_key(lex, state))

    def summary(self) -> tuple[bool, bool, int]:
        """``(lost, open, brackets)``: lost; in a string or block comment, or a quote just
        opened; how many top-level brackets are open. (One look at the document.)"""
        doc = self.doc
        lexer = doc.lexer
        stack = lexer.stack
        opened = len(stack) > 1 and stack[1][0] != "lc"
        if not opened and lexer.pos < len(doc):
            opened = doc.text[lexer.pos :] in ("'", '"')
        return bool(lexer.trouble), opened, len(str(stack[0][3]))

    def may_end(self, depth: int) -> bool:
        """The text may end here: not in a string or block comment (nor a quote just
        opened), at most ``depth`` brackets open; True once lost (no opinion)."""
        return _may_end(self.summary(), depth)

    def open_count(self, depth: int) -> int:
        """What must still be closed before the text may end (:meth:`may_end`): the
        brackets past ``depth``, plus one for an open string (or a quote just opened) or
        block comment; 0 once lost."""
        return _open_count(self.summary(), depth)

    @property
    def settled(self) -> bool:
        """In code, nothing pending: a token's brackets can be judged."""
        return not self.lost and self.doc.top_level

    def feed(self, text: str) -> None:
        if not self.lost:  # (a shared document another reader fed this text already may be lost now: it holds it)
            self.doc = self.doc.feed_at(self._end, text)
        self._end += len(text)


def _may_end(summary: tuple[bool, bool, int], depth: int) -> bool:
    lost, opened, brackets = summary
    return lost or (not opened and brackets <= depth)


def _open_count(summary: tuple[bool, bool, int], depth: int) -> int:
    lost, opened, brackets = summary
    return 0 if lost else max(brackets - depth, 0) + opened


@functools.lru_cache(maxsize=64)
def _from_key(key: tuple[object, ...]) -> tuple[BracketLexer, re.Pattern[str] | None, tuple[bool, bool, int]]:
    """A guard's state: its lexer (shared: never fed), the pattern of the characters that
    can change it (None: something is pending) and its summary."""
    base = BracketLexer.from_key(key)
    quiet = None if base.pending else base.doc.lexer.quiet_pattern()
    return base, quiet, base.summary()


def _after(key: tuple[object, ...], data: bytes) -> tuple[bool, bool, int]:
    """The summary of state ``key`` after ``data`` (:meth:`BracketLexer.summary`); without
    lexing when no character of ``data`` can change it (most tokens)."""
    base, quiet, summary = _from_key(key)
    text = data.decode("utf-8", "replace")
    if quiet is not None and quiet.search(text) is None:
        return summary
    lexer = base.copy()
    lexer.feed(text)
    return lexer.summary()


def _lexer(spec: LanguageSpec) -> BracketLexer:
    return BracketLexer(python=spec.name == "python", lex=spec.lex)


@dataclasses.dataclass(frozen=True, slots=True)
class StopGuard:
    """Which stop-completing tokens would cut the completion where it may not end.

    ``tail``: the completion's last bytes (shorter than the longest stop); ``bad``:
    the ``k`` for which a stop text starting ``k`` bytes before the tail's end would
    cut in a string or an open bracket; ``state``: the lexer now
    (:meth:`BracketLexer.key`), judged with ``depth`` for a stop that starts inside the
    token. ``prefixes`` and ``contains``: the candidates, tokens starting with one of
    ``prefixes`` or containing one of ``contains``, the only ones that can be
    forbidden (:func:`monitors.vocab.rules.syntax_ids`).
    """

    stops: tuple[bytes, ...]
    tail: bytes
    bad: frozenset[int]
    state: tuple[object, ...]
    depth: int
    prefixes: tuple[bytes, ...]
    contains: tuple[bytes, ...]

    def forbids(self, token: bytes) -> bool:
        """Whether ``token`` makes a stop text fire where the completion may not end."""
        tail = self.tail
        data = tail + token
        start = None
        for s in self.stops:  # the earliest stop wins (as in mgd.engines.stopping.StopTexts)
            i = data.find(s, max(0, len(tail) - len(s) + 1))
            if i >= 0 and (start is None or i < start):
                start = i
        if start is None:
            return False
        if start < len(tail):
            return len(tail) - start in self.bad
        return not _may_end(_after(self.state, token[: start - len(tail)]), self.depth)


#: The most opening characters one token is assumed to hold: with more slack the guard is idle.
_MAX_OPEN_PER_TOKEN: Final = 16


@dataclasses.dataclass(frozen=True, slots=True)
class BudgetGuard:
    """Which tokens would leave more to close than tokens remain (the token budget).

    ``state``: the lexer now (:meth:`BracketLexer.key`); ``depth``: the brackets the rest
    of the document closes; ``limit``: the most that may remain open after the token
    (the tokens left after it, or one less than now when that is already too many: the
    token must make progress). ``progress``: the latter case; the mask then offers only
    tokens made of closers and blanks (:meth:`monitors.vocab.rules.RuleTables.closers_only`),
    and those that do not close enough are forbidden. ``min_open``: otherwise, the fewest
    opening characters a token needs to go past ``limit``.
    """

    state: tuple[object, ...]
    depth: int
    limit: int
    progress: bool
    min_open: int = 1

    def forbids(self, token: bytes) -> bool:
        summary = _after(self.state, token)
        return summary[0] or _open_count(summary, self.depth) > self.limit


@dataclasses.dataclass(slots=True, init=False, eq=False, repr=False)
class SyntaxMonitor(MonitorBase):
    """No closer without its opener; no EOS (nor a stop text) inside a string or an
    unclosed bracket.

    ``SyntaxMonitor(spec, prefix, suffix, stops)``: the document around the
    generation point (only the suffix's first line is read: the brackets it closes
    may stay open at the end) and the stop texts that end the completion. Pure;
    never needs facts.
    """

    spec: LanguageSpec
    _constraint: SyntaxConstraint | None
    _left: int | None  # tokens the engine may still sample (this one included)
    _stops: tuple[bytes, ...]
    _tail: bytes  # the completion's last bytes (shorter than the longest stop)
    _fed: int  # completion bytes fed
    _buf: bytes  # the completion's bytes from offset _buf_at (the oldest snapshot) on
    _buf_at: int
    _snapshots: list[tuple[int, BracketLexer]]  # (offset, lexer before the bytes there; never changed)
    _lexer: BracketLexer  # reads the sequence's document
    _lost: bool  # the document was lost when this monitor last followed it (no opinion since)
    _prev: BracketLexer | None  # with stops: a copy of the lexer before the next bytes (never changed)
    _eos_depth: int

    def __init__(self, spec: LanguageSpec, prefix: str = "", suffix: str = "", stops: Iterable[str] = (),
                 doc: Document | None = None) -> None:
        """``doc``: the sequence's document holding ``prefix`` (shared with the other
        monitors: :func:`monitors.registry.build_monitors`); None: one of its own."""
        self._start(_EXTRA_KEYS)
        self.spec = spec
        self._constraint = None
        self._left = None
        self._stops = tuple(dict.fromkeys(s.encode("utf-8") for s in stops if s))
        self._tail = b""
        self._fed = 0
        self._buf = b""
        self._buf_at = 0
        self._snapshots = []
        if doc is None:
            lexer = _lexer(spec)
            lexer.feed(prefix)
        else:
            lexer = BracketLexer(python=spec.name == "python", doc=doc)
        cut = prefix.rfind("\n") + 1
        doc = lexer.doc
        # the fewest open on the prompt's last line: earlier lines' brackets
        low = min(len(str(doc.advance(k).stack[0][3])) for k in range(cut, len(prefix) + 1))
        self._lost = lexer.lost
        if self._lost:
            self._stats.extra["lost"] += 1
        self._lexer = lexer
        self._prev = lexer.copy() if self._stops else None
        self._eos_depth = low + min(self._closed_by(suffix), len(lexer.stack) - low)

    @property
    def document(self) -> Document:
        """The sequence's document this monitor reads."""
        return self._lexer.doc

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

    def feed(self, data: bytes) -> None:
        if not data or self._lost:
            return
        lexer = self._lexer
        if self._stops:
            self._constraint = None
            self._remember(data)
        chars = self._utf8.decode(data)
        if not chars:
            return
        self._constraint = None
        lexer.feed(chars)
        if lexer.lost:
            self._lost = True
            self._stats.extra["violations" if lexer.mismatch else "lost"] += 1
        elif self._stops:
            self._prev = lexer.copy()

    def _remember(self, data: bytes) -> None:
        """Keep the tail, the lexer states from the last one at or before its start, and
        the bytes fed since that state (``_buf``, from completion offset ``_buf_at``)."""
        window = max(len(s) for s in self._stops) - 1
        snaps = self._snapshots
        assert self._prev is not None
        snaps.append((self._fed, self._prev))
        self._fed += len(data)
        self._buf += data
        start = max(self._fed - window, 0)
        while len(snaps) > 1 and snaps[1][0] <= start:
            del snaps[0]
        if snaps[0][0] > self._buf_at:
            self._buf = self._buf[snaps[0][0] - self._buf_at :]
            self._buf_at = snaps[0][0]
        self._tail = self._buf[-window:] if window else b""

    def _state_at(self, offset: int) -> BracketLexer:
        """The lexer after the completion's first ``offset`` bytes (within the tail)."""
        at, lexer = next(s for s in reversed(self._snapshots) if s[0] <= offset)
        lexer = lexer.copy()
        lexer.feed(self._buf[at - self._buf_at : offset - self._buf_at].decode("utf-8", "replace"))
        return lexer

    def _stop_guard(self, now_ok: bool) -> StopGuard | None:
        """The stop texts' part of the constraint (None: no stop can fire badly now)."""
        tail, stops = self._tail, self._stops
        bad: list[int] = []
        prefixes: list[bytes] = []
        for k in range(1, len(tail) + 1):
            partial = [s[k:] for s in stops if len(s) > k and s.startswith(tail[-k:])]
            if partial and not self._state_at(self._fed - k).may_end(self._eos_depth):
                bad.append(k)
                prefixes += partial
        if now_ok and not bad:
            return None
        self._stats.extra["stop_guarded"] += 1
        return StopGuard(stops, tail, frozenset(bad), self._lexer.key(), self._eos_depth,
                         tuple(dict.fromkeys(prefixes)), () if now_ok else stops)

    def set_budget(self, left: int | None) -> None:
        """The engine may sample at most ``left`` more tokens, this step's included (the
        guide says so before each step; None: no budget)."""
        if left != self._left:
            self._left = left
            if self._constraint is not None and (self._constraint.budget is not None or self._budget() is not None):
                self._constraint = None

    def _budget(self) -> BudgetGuard | None:
        """The budget's part of the constraint: None while enough tokens remain to close
        everything whatever this token opens."""
        left, lexer = self._left, self._lexer
        if left is None or lexer.lost:
            return None
        needed = lexer.open_count(self._eos_depth)
        limit = max(left - 1, needed - 1)
        if needed + _MAX_OPEN_PER_TOKEN <= limit or limit < 0:
            return None
        progress = needed > left - 1
        return BudgetGuard(lexer.key(), self._eos_depth, limit, progress, 1 if progress else limit - needed + 1)

    def constraint(self) -> SyntaxConstraint | None:
        lexer = self._lexer
        if lexer.lost:
            return None
        c = self._constraint
        if c is None:
            eos = lexer.may_end(self._eos_depth)
            stop = self._stop_guard(eos) if self._stops else None
            budget = self._budget()
            settled = lexer.settled
            if not settled and eos and stop is None and budget is None:
                return None  # nothing to judge
            c = SyntaxConstraint(stack="".join(lexer.stack[-_VISIBLE:]) if settled else None,
                                 deep=len(lexer.stack) > _VISIBLE, eos=eos, python=lexer.python, stop=stop,
                                 budget=budget)
            if not eos:
                self._stats.extra["eos_blocked"] += 1
            if budget is not None and budget.progress:
                self._stats.extra["budget_closing"] += 1
            self._constraint = c
        return c
