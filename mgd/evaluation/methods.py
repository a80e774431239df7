"""Where a generated method ends, and how an unfinished one is closed for checking.

A case's ``stop`` (written by the builder) says what ends the method: for Python
the first non-blank line indented no deeper than the ``def`` (``indent``) that starts
in code (not inside a triple-quoted string); for
brace languages the ``}`` that brings the open brace depth at the dot to zero.
A generation that runs out of tokens first is cut after its last complete line,
and in brace languages the missing ``}`` are appended, so the checker sees code
the model wrote (never half a line) in a file that still parses; it counts as
unfinished (truncated), and scoring fails it.

:class:`MethodStop` is the same rule as a stop rule (:class:`mgd.engines.stopping.StopRule`):
``mgd bench run`` and ``mgd generate --cases`` give it to the engine so that generation
stops where :func:`cut_method` will cut, and no token is spent past the method's end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitors.document import Document
from monitors.errors import ConfigError
from monitors.languages import PYTHON_LEX, LexSpec
from monitors.lexer import Lexer, bracket_events

__all__ = ["MethodCut", "MethodStop", "case_stop_rule", "cut_method", "method_end", "open_braces"]

#: The brace languages' common rules: ``"`` ``'`` and backtick strings, ``//`` and ``/* */``.
_BRACES_LEX = LexSpec(quotes="\"'`")


@dataclass(frozen=True, slots=True)
class MethodCut:
    """The method text to splice into the file, and whether the model finished it."""

    text: str
    finished: bool


def _python_end(completion: str, indent: int) -> int | None:
    """Offset of the newline before the first non-blank line indented no deeper than
    ``indent`` (a last line counts as soon as it has a non-blank character: its
    indentation is known then)."""
    doc = Document(PYTHON_LEX, completion)
    pos = completion.find("\n")
    while pos >= 0:
        nxt = completion.find("\n", pos + 1)
        line = completion[pos + 1 : nxt if nxt >= 0 else len(completion)]
        if line.strip() and len(doc.lexer_at(pos + 1).stack) == 1:
            width = len(line.expandtabs(8)) - len(line.expandtabs(8).lstrip())
            if width <= indent:
                return pos
        pos = nxt
    return None


def _cut_python(completion: str, indent: int, ended: bool) -> MethodCut:
    end = _python_end(completion, indent)
    if end is not None:
        return MethodCut(completion[:end], True)
    if ended:
        return MethodCut(completion.rstrip("\n"), True)
    return MethodCut(_last_full_line(completion), False)


def _last_full_line(completion: str) -> str:
    nl = completion.rfind("\n")
    if nl < 0:
        return completion  # the dot's own line: keep what there is
    return completion[:nl]


def open_braces(text: str, start: int = 0, end: int | None = None, lex: LexSpec | None = None) -> int:
    """Open ``{`` minus ``}`` in code between offsets (strings and comments skipped by
    the one lexer, :mod:`monitors.lexer`, with ``lex``'s rules; default: the brace
    languages' common ones)."""
    depth, _ = _scan_braces(text[start : len(text) if end is None else end], None, lex or _BRACES_LEX)
    return depth


def _scan_braces(text: str, close_at: int | None, lex: LexSpec = _BRACES_LEX) -> tuple[int, int]:
    """(net depth, offset just after the brace that reached ``-close_at`` or -1)."""
    depth = 0
    for at, ch in bracket_events(lex, text):
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if close_at is not None and depth <= -close_at:
                return depth, at + 1
    return depth, -1


def _cut_braces(completion: str, depth: int, ended: bool) -> MethodCut:
    _, end = _scan_braces(completion, max(depth, 1))
    if end >= 0:
        return MethodCut(completion[:end], True)
    text = completion.rstrip("\n") if ended else _last_full_line(completion)
    missing = depth + open_braces(text)
    return MethodCut(text + "\n" + "}" * max(missing, 0), ended)


def method_end(completion: str, stop: dict[str, Any]) -> int | None:
    """Where the method ends in ``completion`` per the case's ``stop`` (the offset
    :func:`cut_method` cuts at), or None while it has not ended."""
    kind = stop.get("kind")
    if kind == "indent":
        return _python_end(completion, int(stop["indent"]))
    if kind == "braces":
        _, end = _scan_braces(completion, max(int(stop["depth"]), 1))
        return end if end >= 0 else None
    raise ConfigError(f"unknown stop kind {kind!r} (expected 'indent' or 'braces')")


class _Scan:
    """Where the method ends in a growing completion, found incrementally: each call
    lexes only the text added since the last (the same answer as :func:`method_end`
    on the whole text; a text that does not extend the last one starts over)."""

    __slots__ = ("_braces", "_consumed", "_depth", "_doc", "_end", "_events", "_lexer", "_line", "_limit", "_text")

    def __init__(self, stop: dict[str, Any]) -> None:
        kind = stop.get("kind")
        if kind not in ("indent", "braces"):
            raise ConfigError(f"unknown stop kind {kind!r} (expected 'indent' or 'braces')")
        self._braces = kind == "braces"
        self._limit = max(int(stop["depth"]), 1) if self._braces else int(stop["indent"])
        self._reset()

    def _reset(self) -> None:
        self._text = ""
        self._end: int | None = None
        self._doc = Document(PYTHON_LEX)  # indent: the lexer states at line starts
        self._line = 0  # indent: where the first line not yet decided starts its search
        self._events: list[tuple[int, str]] = []  # braces: the brackets lexed so far
        self._lexer = Lexer(_BRACES_LEX, trace=self._events)
        self._depth = 0  # braces: net depth over the events consumed
        self._consumed = 0

    def end(self, text: str) -> int | None:
        if not text.startswith(self._text):
            self._reset()
        elif self._end is not None:
            return self._end  # the method ended in the text already seen
        added, self._text = text[len(self._text) :], text
        self._end = self._braces_end(text) if self._braces else self._python_end(text, added)
        return self._end

    def _python_end(self, text: str, added: str) -> int | None:
        self._doc.feed(added)
        pos = text.find("\n", self._line)
        while pos >= 0:
            nxt = text.find("\n", pos + 1)
            line = text[pos + 1 : nxt if nxt >= 0 else len(text)]
            if line.strip() and len(self._doc.lexer_at(pos + 1).stack) == 1:
                width = len(line.expandtabs(8)) - len(line.expandtabs(8).lstrip())
                if width <= self._limit:
                    return pos
            if nxt < 0:
                self._line = pos  # the last line may still grow: look at it again
            pos = nxt
        return None

    def _braces_end(self, text: str) -> int | None:
        self._lexer.run(text, len(text))
        events = self._events
        while self._consumed < len(events):
            at, ch = events[self._consumed]
            self._consumed += 1
            self._depth += 1 if ch == "{" else -1 if ch == "}" else 0
            if ch == "}" and self._depth <= -self._limit:
                return at + 1
        return None


@dataclass(frozen=True, slots=True)
class MethodStop:
    """A case's method end as a stop rule: generation stops once the method has ended.

    The completion text is kept whole (scoring cuts it with :func:`cut_method`). Fed the
    growing text of one row, it lexes each addition once (:class:`_Scan`)."""

    stop: dict[str, Any]
    _scan: _Scan = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_scan", _Scan(self.stop))

    def cut(self, text: str) -> int | None:
        return self._scan.end(text)

    def finish(self, text: str) -> str:
        return text


def case_stop_rule(extra: dict[str, Any]) -> MethodStop | None:
    """The stop rule of a case's ``stop`` key (written by ``mgd bench build``), if it has one."""
    stop = extra.get("stop")
    if not isinstance(stop, dict) or stop.get("kind") not in ("indent", "braces"):
        return None
    return MethodStop(stop)


def cut_method(completion: str, stop: dict[str, Any], *, ended: bool = False) -> MethodCut:
    """Cut ``completion`` at the end of the method per the case's ``stop`` info.

    ``ended``: the generation stopped by itself (EOS or a stop text that surely
    ends the method) rather than at the token limit, so its last line is whole
    and, if no end was found, the method counts as finished where it stops.
    """
    kind = stop.get("kind")
    if kind == "indent":
        return _cut_python(completion, int(stop["indent"]), ended)
    if kind == "braces":
        return _cut_braces(completion, int(stop["depth"]), ended)
    raise ConfigError(f"unknown stop kind {kind!r} (expected 'indent' or 'braces')")
