"""The syntax guard: a bracket stack over the document, no language server.

:class:`SyntaxMonitor` lexes the prompt and then every generated character
(strings, comments, ``()[]{}``) and says two things:

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
mask), ``lost``, ``eos_blocked`` (steps where EOS was forbidden), ``stop_guarded``
(steps where some stop-completing tokens were judged).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Final

from monitors.base import MonitorBase, SyntaxConstraint
from monitors.languages import LanguageSpec

__all__ = ["LANGUAGES", "BracketLexer", "BudgetGuard", "StopGuard", "SyntaxMonitor"]

#: The languages the lexer follows.
LANGUAGES: Final = frozenset({"python", "java", "go"})
_OPENER: Final = {")": "(", "]": "[", "}": "{"}
_VISIBLE: Final = 8  # the innermost brackets a constraint holds
_EXTRA_KEYS = ("violations", "lost", "eos_blocked", "stop_guarded", "budget_closing")


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

    def key(self) -> tuple[object, ...]:
        """The whole state as a hashable tuple (:meth:`from_key` rebuilds it)."""
        return tuple(tuple(v) if isinstance(v, list) else v for v in dataclasses.astuple(self))

    @classmethod
    def from_key(cls, key: tuple[object, ...]) -> BracketLexer:
        lexer = cls(*key)  # type: ignore[arg-type]
        lexer.stack = list(lexer.stack)
        return lexer

    def may_end(self, depth: int) -> bool:
        """The text may end here: not in a string or block comment (nor a quote just
        opened), at most ``depth`` brackets open; True once lost (no opinion)."""
        if self.lost:
            return True
        if self.mode in ("str", "block") or self.pending in ("'", '"'):
            return False
        return len(self.stack) <= depth

    def open_count(self, depth: int) -> int:
        """What must still be closed before the text may end (:meth:`may_end`): the
        brackets past ``depth``, plus one for an open string (or a quote just opened) or
        block comment; 0 once lost."""
        if self.lost:
            return 0
        extra = 1 if self.mode in ("str", "block") or self.pending in ("'", '"') else 0
        return max(len(self.stack) - depth, 0) + extra

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
        lexer = BracketLexer.from_key(self.state)
        lexer.feed(token[: start - len(tail)].decode("utf-8", "replace"))
        return not lexer.may_end(self.depth)


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
        lexer = BracketLexer.from_key(self.state)
        lexer.feed(token.decode("utf-8", "replace"))
        return lexer.lost or lexer.open_count(self.depth) > self.limit


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
    _lexer: BracketLexer
    _eos_depth: int

    def __init__(self, spec: LanguageSpec, prefix: str = "", suffix: str = "", stops: Iterable[str] = ()) -> None:
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
        lexer = _lexer(spec)
        cut = prefix.rfind("\n") + 1
        lexer.feed(prefix[:cut])
        low = len(lexer.stack)  # the fewest open on the prompt's last line: earlier lines' brackets
        for ch in prefix[cut:]:
            lexer.feed(ch)
            low = min(low, len(lexer.stack))
        if lexer.lost:
            self._stats.extra["lost"] += 1
        self._lexer = lexer
        self._eos_depth = low + min(self._closed_by(suffix), len(lexer.stack) - low)

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
        if not data or self._lexer.lost:
            return
        lexer = self._lexer
        if self._stops:
            self._constraint = None
            self._remember(data, lexer)
        chars = self._utf8.decode(data)
        if not chars:
            return
        self._constraint = None
        lexer.feed(chars)
        if lexer.lost:
            self._stats.extra["violations" if lexer.mismatch else "lost"] += 1

    def _remember(self, data: bytes, lexer: BracketLexer) -> None:
        """Keep the tail, the lexer states from the last one at or before its start, and
        the bytes fed since that state (``_buf``, from completion offset ``_buf_at``)."""
        window = max(len(s) for s in self._stops) - 1
        snaps = self._snapshots
        snaps.append((self._fed, lexer.copy()))
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
