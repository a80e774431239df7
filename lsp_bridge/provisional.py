"""Names to constrain a member access with while its lookup is still running.

A language server can take longer than an engine step (jedi: ~120 ms on an
80 KB file; a GPU decode step at batch 8: ~20 ms), so the first token after a
dot would often run free. A non-blocking guide may instead constrain it
*provisionally* to names that are very likely members of the receiver:

1. the last complete answer the server gave for the same receiver text in the
   same scope of the same file (:class:`ReceiverMemory`, per session), else
2. the identifiers that follow ``receiver.`` elsewhere in the document
   (:func:`document_members`; for ``self``/``cls``/``this`` only inside the
   enclosing Python class).

The server's answer replaces them as soon as it arrives. None of this is a server
fact: guides count such steps as ``provisional_steps``, never as constrained, and
a name the provisional set lacks is simply not offered for that token.

Scopes (:func:`scope_of`) are found from indentation, for Python only; in other
languages a receiver's scope is the whole file. Pure functions (no I/O).
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Hashable

__all__ = ["ReceiverMemory", "document_members", "receiver_at", "scope_of"]

_TAIL = 300  # characters before the cursor searched for the receiver
_RECEIVER = re.compile(r"((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)\.(\w*)\Z")
_SELF = frozenset({"self", "cls", "this"})
_CLASS = re.compile(r"[ \t]*class[ \t]+\w")
_DEF = re.compile(r"[ \t]*(?:async[ \t]+)?def[ \t]+\w")


def receiver_at(text_before: str) -> str | None:
    """The receiver of the member access the cursor is in (``a.b`` for ``a.b.na|``):
    a dotted chain of names, or None (``f().``, ``x[0].``, no dot)."""
    tail = text_before[-_TAIL:]
    m = _RECEIVER.search(tail)
    if m is None:
        return None
    start = m.start(1)
    if start > 0 and (tail[start - 1] in ".)]}\"'" or tail[start - 1].isalnum() or tail[start - 1] == "_"):
        return None  # the chain continues leftwards past a call, index or literal
    return m.group(1)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def scope_of(text: str, cursor: int, receiver: str, language: str | None) -> tuple[int, int, str]:
    """``(start, end, key)``: where ``receiver`` means the same thing around ``cursor``.

    Python ``self``/``cls``: the enclosing class block (key: its header line);
    other Python receivers: the whole file, keyed by the enclosing function's
    header (an answer is remembered per function); other languages: the whole
    file (key ``""``).
    """
    if language != "python":
        return 0, len(text), ""
    line_start = text.rfind("\n", 0, cursor) + 1
    current = _indent(text[line_start:cursor])
    root = receiver.split(".", 1)[0]
    wanted = _CLASS if root in _SELF else _DEF
    pos, header, header_at = line_start, None, 0
    while pos > 0:
        prev = text.rfind("\n", 0, pos - 1) + 1
        line = text[prev : pos - 1] if pos > 0 else ""
        if line.strip() and _indent(line) < current:
            current = _indent(line)
            if wanted.match(line):
                header, header_at = line, prev
                break
        pos = prev
    if header is None:
        return 0, len(text), ""
    if wanted is _DEF:
        return 0, len(text), header.strip()
    end, level = len(text), _indent(header)
    pos = text.find("\n", header_at) + 1
    while 0 < pos < len(text):
        nxt = text.find("\n", pos)
        line = text[pos : nxt if nxt >= 0 else len(text)]
        if line.strip() and not line.lstrip().startswith("#") and _indent(line) <= level:
            end = pos
            break
        if nxt < 0:
            break
        pos = nxt + 1
    return header_at, end, header.strip()


def document_members(text: str, receiver: str, start: int = 0, end: int | None = None) -> frozenset[str]:
    """Identifiers written right after ``receiver.`` in ``text[start:end]``."""
    pattern = re.compile(r"(?<![\w.])" + re.escape(receiver) + r"\.([A-Za-z_]\w*)")
    return frozenset(m.group(1) for m in pattern.finditer(text, start, len(text) if end is None else end))


class ReceiverMemory:
    """The last complete member list per receiver and scope (a bounded, thread-safe LRU)."""

    def __init__(self, max_entries: int = 1024) -> None:
        self._entries: OrderedDict[Hashable, frozenset[str]] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> frozenset[str] | None:
        with self._lock:
            names = self._entries.get(key)
            if names is not None:
                self._entries.move_to_end(key)
            return names

    def put(self, key: Hashable, names: frozenset[str]) -> None:
        with self._lock:
            self._entries[key] = names
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
