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

from dataclasses import dataclass
from typing import Any

from monitors.document import Document
from monitors.errors import ConfigError
from monitors.languages import PYTHON_LEX, LexSpec
from monitors.lexer import bracket_events

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


@dataclass(frozen=True, slots=True)
class MethodStop:
    """A case's method end as a stop rule: generation stops once the method has ended.

    The completion text is kept whole (scoring cuts it with :func:`cut_method`)."""

    stop: dict[str, Any]

    def cut(self, text: str) -> int | None:
        return method_end(text, self.stop)

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
