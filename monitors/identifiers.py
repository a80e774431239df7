"""The one identifier rule of mgd, for text and for token bytes.

An identifier is a run of ASCII letters, digits, ``_``, ``$`` and any non-ASCII
character (in bytes: any byte >= 0x80, a part of such a character), not starting
with a digit. The rule is the same for every language; it is deliberately wide
(``$`` for Java/JS, Unicode letters for Python/Go/Rust) because it decides only
where an identifier *ends*, which every supported language agrees on.

Everything that asks "is this part of a name?" uses this module: the vocabulary
index, the trigger lexer, completion-item reduction in :mod:`lsp_bridge.names`,
case generation, the independent checker and the evaluation metrics.
"""

from __future__ import annotations

import re

__all__ = [
    "IDENTIFIER",
    "IDENTIFIER_BYTES",
    "IDENT_BYTES",
    "IDENT_BYTE_CLASS",
    "IDENT_CHARS",
    "IDENT_CLASS",
    "IDENT_PATTERN",
    "IDENT_START_BYTE_CLASS",
    "ident_run_length",
    "is_ident_byte",
    "is_ident_char",
    "trailing_ident_length",
]

#: ASCII characters that can be part of an identifier.
_ASCII = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$"
#: Every ASCII identifier character (non-ASCII characters always count too).
IDENT_CHARS: frozenset[str] = frozenset(_ASCII)
#: Every byte that can be part of an identifier (ASCII identifier bytes and >= 0x80).
IDENT_BYTES: bytes = bytes(sorted(set(_ASCII.encode()) | set(range(0x80, 0x100))))
_IDENT_BYTE_SET = frozenset(IDENT_BYTES)

#: A regular-expression character class of identifier characters (str patterns).
IDENT_CLASS = r"[A-Za-z0-9_$\u0080-\U0010ffff]"
#: An identifier as a str pattern (not starting with a digit).
IDENT_PATTERN = r"[A-Za-z_$\u0080-\U0010ffff][A-Za-z0-9_$\u0080-\U0010ffff]*"
#: :data:`IDENT_PATTERN` compiled.
IDENTIFIER: re.Pattern[str] = re.compile(IDENT_PATTERN)
#: Bytes pattern classes: any identifier byte, and a byte that can start an identifier.
IDENT_BYTE_CLASS = rb"[A-Za-z0-9_$\x80-\xff]"
IDENT_START_BYTE_CLASS = rb"[A-Za-z_$\x80-\xff]"
#: An identifier as a bytes pattern (a run of identifier bytes not starting with a digit).
IDENTIFIER_BYTES: re.Pattern[bytes] = re.compile(IDENT_START_BYTE_CLASS + IDENT_BYTE_CLASS + b"*")


def is_ident_char(ch: str) -> bool:
    """Whether the character ``ch`` can be part of an identifier."""
    return ch in IDENT_CHARS or ch >= "\x80"


def is_ident_byte(byte: int) -> bool:
    """Whether ``byte`` (0..255) can be part of an identifier."""
    return byte in _IDENT_BYTE_SET


def ident_run_length(data: bytes) -> int:
    """Length of the leading run of identifier bytes of ``data``."""
    return len(data) - len(data.lstrip(IDENT_BYTES))


def trailing_ident_length(text: str) -> int:
    """Number of identifier characters at the end of ``text``."""
    i = len(text)
    while i > 0 and (text[i - 1] in IDENT_CHARS or text[i - 1] >= "\x80"):
        i -= 1
    return len(text) - i
