"""A pure codec between Python string offsets and LSP positions.

LSP positions are ``(line, character)`` pairs where lines are separated by
``\\n``, ``\\r\\n`` or ``\\r``. ``character`` counts UTF-16 code units unless
client and server negotiated another ``positionEncoding`` (``utf-32``: code
points, as Python counts; ``utf-8``: bytes). Python ``str`` offsets count code
points, so a character outside the Basic Multilingual Plane (an emoji, say) is
one Python index but two UTF-16 units.

An offset that falls between the ``\\r`` and ``\\n`` of a ``\\r\\n`` is mapped to
the end of that line (before the ``\\r``). A position past the end of its line
is clamped to the line's end, as the LSP specification asks; a line past the
end of the text maps to the end of the text. A position inside a character
(mid surrogate pair, mid UTF-8 sequence) maps to the start of that character.
"""

from __future__ import annotations

import re
from typing import Literal

from lsprotocol.types import Position

__all__ = ["ENCODINGS", "Encoding", "offset_to_position", "position_to_offset", "unit_len"]

Encoding = Literal["utf-16", "utf-32", "utf-8"]
#: The position encodings this codec supports (LSP ``PositionEncodingKind`` values).
ENCODINGS: frozenset[str] = frozenset({"utf-16", "utf-32", "utf-8"})

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def unit_len(text: str, encoding: Encoding = "utf-16") -> int:
    """Length of ``text`` in the code units of ``encoding``."""
    if encoding == "utf-32" or text.isascii():
        return len(text)
    if encoding == "utf-16":
        return len(text.encode("utf-16-le", "surrogatepass")) // 2
    if encoding == "utf-8":
        return len(text.encode("utf-8", "surrogatepass"))
    raise ValueError(f"unknown position encoding {encoding!r}")


def _char_units(char: str, encoding: Encoding) -> int:
    if encoding == "utf-16":
        return 2 if ord(char) > 0xFFFF else 1
    if encoding == "utf-8":
        return len(char.encode("utf-8", "surrogatepass"))
    return 1


def offset_to_position(text: str, offset: int, encoding: Encoding = "utf-16") -> Position:
    """The LSP position of the Python string index ``offset`` in ``text``."""
    if not 0 <= offset <= len(text):
        raise ValueError(f"offset {offset} outside text of length {len(text)}")
    if 0 < offset < len(text) and text[offset - 1] == "\r" and text[offset] == "\n":
        offset -= 1  # inside a CRLF: the end of that line
    line_start = max(text.rfind("\n", 0, offset), text.rfind("\r", 0, offset)) + 1
    line = text.count("\n", 0, line_start) + text.count("\r", 0, line_start) - text.count("\r\n", 0, line_start)
    return Position(line=line, character=unit_len(text[line_start:offset], encoding))


def position_to_offset(text: str, pos: Position, encoding: Encoding = "utf-16") -> int:
    """The Python string index of the LSP position ``pos`` in ``text``."""
    if pos.line < 0 or pos.character < 0:
        raise ValueError(f"negative position {pos}")
    if encoding not in ENCODINGS:
        raise ValueError(f"unknown position encoding {encoding!r}")
    start = 0
    for _ in range(pos.line):
        match = _LINE_BREAK.search(text, start)
        if match is None:
            return len(text)
        start = match.end()
    match = _LINE_BREAK.search(text, start)
    end = len(text) if match is None else match.start()
    line = text[start:end]
    if encoding == "utf-32" or line.isascii():
        return start + min(pos.character, len(line))
    units = 0
    for index, char in enumerate(line):
        width = _char_units(char, encoding)
        if units + width > pos.character:
            return start + index
        units += width
    return end
