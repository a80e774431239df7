"""Expected types, the language-neutral part: what a site is and how a language reads types.

:class:`TypeSite` is what the text before a member-access dot says about the value there;
:class:`TypeRules` is one language's strategy (:mod:`monitors.java_types`,
:mod:`monitors.python_types`), chosen once by the dereference monitor. Both languages find
the receiver chain (:func:`receiver_start`) and the call argument an access starts
(:func:`argument_position`) with the scans here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from monitors.base import Signature
from monitors.document import Document
from monitors.identifiers import is_ident_char

__all__ = ["NO_SITE", "TypeRules", "TypeSite", "argument_position", "receiver_start"]

_NOT_TYPE_WORDS: Final = frozenset({
    "return", "throw", "new", "else", "case", "assert", "yield", "instanceof", "package", "import",
})
_CONTROL: Final = frozenset({"if", "for", "while", "else", "do", "try", "catch", "finally", "switch",
                             "synchronized", "static"})


def receiver_start(text: str, dot: int) -> int:
    """Where the receiver expression of the member-access dot at ``dot`` starts.

    Walks back over identifiers, dots, balanced ``(...)``/``[...]``/``<...>`` groups,
    string literals and ``new``: ``foo(a, b).bar[0].`` -> the offset of ``foo``.
    """
    i = dot
    while i > 0:
        j = _blank_back(text, i - 1)
        if j < 0:
            return 0
        ch = text[j]
        if ch in ")]":
            k = _open_of(text, j)
            if k is None:
                return i
            i = k
            continue
        if ch == ">" and i < len(text) and text[i] == "(":  # ``new Foo<>(`` / ``List.<T>of(``
            k = _generic_open(text, j)
            if k is None:
                return i
            i = k
            continue
        if ch == '"':
            k = text.rfind('"', 0, j)
            while k > 0 and text[k - 1] == "\\":
                k = text.rfind('"', 0, k - 1)
            if k < 0:
                return i
            i = k
            continue
        word = _word_before(text, j + 1)
        if word and not word[0].isdigit():
            if word in _NOT_TYPE_WORDS:
                return i
            i = j + 1 - len(word)
            # ``new Foo(`` keeps going over ``new``; ``a.b`` over the dot before ``b``.
            k = _blank_back(text, i - 1)
            if k >= 0 and text[k] == ">":  # explicit type arguments: ``List.<String>of(``
                g = _generic_open(text, k)
                if g is not None:
                    k = _blank_back(text, g - 1)
            if k >= 0 and text[k] == ".":
                i = k
                continue
            if k >= 2 and text[k - 2 : k + 1] == "new" and (k < 3 or not is_ident_char(text[k - 3])):
                i = k - 2
            return i
        return i
    return 0


def _generic_open(text: str, close: int) -> int | None:
    """The ``<`` that the ``>`` at ``close`` closes, when what lies between reads as type arguments."""
    depth = 0
    i = close
    while i >= 0:
        ch = text[i]
        if ch == ">":
            depth += 1
        elif ch == "<":
            depth -= 1
            if depth == 0:
                return i
        elif not (is_ident_char(ch) or ch in " \t\r\n,.?[]&"):
            return None
        i -= 1
    return None


def _blank_back(text: str, i: int) -> int:
    """The offset of the last non-blank character at or before ``i`` (-1: none)."""
    while i >= 0 and text[i] in " \t\r\n":
        i -= 1
    return i


def _open_of(text: str, close: int, *, statement: bool = True) -> int | None:
    """The offset of the bracket that ``text[close]`` closes (strings skipped roughly);
    with ``statement``, None once the scan leaves the statement (``;``, ``{``, ``}``)."""
    pairs = {")": "(", "]": "["}
    stack = [text[close]]
    i = close - 1
    while i >= 0:
        ch = text[i]
        if ch == '"':
            k = text.rfind('"', 0, i)
            if k < 0:
                return None
            i = k - 1
            continue
        if ch in ")]":
            stack.append(ch)
        elif ch in "([":
            if pairs[stack[-1]] != ch:
                return None
            stack.pop()
            if not stack:
                return i
        elif statement and ch in ";{}":
            return None
        i -= 1
    return None


def _word_before(text: str, end: int) -> str:
    """The identifier ending right before ``end`` (after blanks), or ``""``."""
    j = _blank_back(text, end - 1)
    k = j
    while k >= 0 and is_ident_char(text[k]):
        k -= 1
    return text[k + 1 : j + 1]


def _innermost_open(text: str, end: int, doc: Document | None = None, dot: int = -1) -> int | None:
    """The offset of the innermost bracket open at ``end`` within the statement, or None.

    With ``doc`` (the caller's document, lexed to the member-access dot at ``dot`` after
    ``end``, the receiver chain between them balanced): its lexer's open brackets, None
    when that is a ``{`` or a ``;`` stands at its level before ``end`` (``for (a; b``).
    Without: a backward scan (string and char literals skipped roughly)."""
    if doc is not None:
        return _innermost_in(doc, text, end, dot)
    depth = 0
    i = end - 1
    while i >= 0:
        ch = text[i]
        if ch in "\"'":
            k = text.rfind(ch, 0, i)
            if k < 0:
                return None
            i = k - 1
            continue
        if ch in ")]":
            depth += 1
        elif ch in "([":
            if depth == 0:
                return i
            depth -= 1
        elif ch in ";{}" and depth == 0:
            return None
        i -= 1
    return None


def _code_frame(doc: Document, text: str, dot: int) -> tuple[str, tuple[int, ...]]:
    """The open brackets (kinds, offsets) of the code around the dot at ``dot``."""
    lexer = doc.advance(dot + 1)
    if lexer.pos != dot + 1:  # the document is lexed past the dot: lex the text up to it
        lexer = Document(doc.lex, text[: dot + 1]).lexer
    frame = next(f for f in reversed(lexer.stack) if f[0] == "code")
    return str(frame[3]), frame[4]  # type: ignore[return-value]


def _level_chars(doc: Document, segment: str, ch: str) -> int:
    """How many ``ch`` stand in ``segment``'s code outside its own brackets."""
    seg = Document(doc.lex, segment)
    count = 0
    at = segment.find(ch)
    while at >= 0:
        lexer = seg.lexer_at(at + 1)
        count += len(lexer.stack) == 1 and not lexer.stack[0][3] and lexer.pos == at + 1
        at = segment.find(ch, at + 1)
    return count


def _innermost_in(doc: Document, text: str, end: int, dot: int) -> int | None:
    kinds, offsets = _code_frame(doc, text, dot)
    k = len(offsets)
    while k and offsets[k - 1] >= end:
        k -= 1
    if not k or kinds[k - 1] == "{":
        return None
    opened = offsets[k - 1]
    return None if _level_chars(doc, text[opened + 1 : end], ";") else opened


def argument_position(text: str, dot: int, doc: Document | None = None) -> int | None:
    """The 0-based argument index when the member access at ``dot`` (its whole receiver
    chain) starts an argument of a method or constructor call (``f(a, obj.`` -> 1);
    None elsewhere (a condition, a parenthesised expression, after an operator).
    ``doc``: the caller's document (see :func:`_innermost_open`): its lexer then also
    says which commas separate arguments."""
    start = receiver_start(text, dot)
    j = _blank_back(text, start - 1)
    if j < 0 or text[j] not in "(,":
        return None
    opened = j if text[j] == "(" else _innermost_open(text, j, doc, dot)
    if opened is None or text[opened] != "(":
        return None
    name = _word_before(text, opened)
    if not name or name[0].isdigit() or name in _CONTROL or name in _NOT_TYPE_WORDS:
        return None
    if doc is not None:
        return _level_chars(doc, text[opened + 1 : start], ",")
    commas = depth = 0
    i = opened + 1
    while i < start:
        ch = text[i]
        if ch in "\"'":  # a literal: skip to its closing quote
            k = i + 1
            while k < start and text[k] != ch:
                k += 2 if text[k] == "\\" else 1
            i = k + 1
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            commas += 1
        i += 1
    return commas


@dataclass(frozen=True, slots=True)


class TypeSite:
    """What the text before a member-access dot says about the value there.

    ``value_site``: the access is part of a larger expression (a ``void`` member cannot
    be); ``expected``: the type it must have (None: unknown); ``argument``: the call
    argument it starts (index, or Python keyword), asked only where ``expected`` is
    unknown."""

    value_site: bool = False
    expected: str | None = None
    argument: int | str | None = None


#: A site the text says nothing about.
NO_SITE: Final = TypeSite()


@dataclass(frozen=True, slots=True)


class TypeRules:
    """How one language reads member types, the dereference monitor's expected-types
    strategy (one object per language and option, chosen at construction).

    ``member_type(detail)``, ``fits(member, expected)``, ``parameter_types(signatures,
    slot)``; for reach probes ``probe_type(type)`` and ``universal_member(name)`` (members
    every object has); ``site(text, dot, doc)``: the :class:`TypeSite` there (``doc``: the monitor's document); ``drops(type,
    site)``: a member of that type cannot be used at the site (removed from the
    candidates); ``resolve``: the servers report member types only for resolved items
    (:attr:`monitors.base.CompletionNeed.types`, asked at a site with an expected type
    or an argument)."""

    member_type: Callable[[str | None], str | None]
    fits: Callable[[str | None, str | None], bool]
    parameter_types: Callable[[tuple[Signature, ...], Any], tuple[str, ...]]
    probe_type: Callable[[str], bool]
    universal_member: Callable[[str], bool]
    site: Callable[[str, int, Document | None], TypeSite]
    drops: Callable[[str | None, TypeSite], bool]
    resolve: bool = False
