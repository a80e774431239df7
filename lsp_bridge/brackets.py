"""The brackets open at a cursor in Python, closed: the document a server is asked about.

Python joins the lines inside open brackets. With the rest of a line cut away (a hole, a
completion being generated), a document ``prefix + suffix`` whose prefix ends inside
``(max(self.`` continues the access with the suffix's next line (``self.write(...)``),
and a server answers for what that parses to (pyright: the global names, not the
members). Closing the open brackets right after the cursor, as an editor's auto-closed
brackets would, keeps the access what it is. Used for completion requests
(:mod:`lsp_bridge.lookup`) and by the member check (:mod:`mgd.evaluation.member_check`).
"""

from __future__ import annotations

import re
from typing import Final

from monitors.syntax import BracketLexer

__all__ = ["closers"]

_CLOSE: Final = {"(": ")", "[": "]", "{": "}"}
#: A ``def``/``class`` line: never inside brackets, so the lexer may start there.
_DEF: Final = re.compile(r"\n[ \t]*(?:async[ \t]+)?(?:def|class)[ \t]")
_WINDOW: Final = 1 << 15  # characters searched back for such a line (else: the whole text)


def closers(language: str, text: str) -> str:
    """What closes the brackets still open at the end of ``text`` (innermost first), for
    Python; "" in other languages, where ``text`` ends in a string or comment, or where
    the lexer cannot follow it (the document then stays as it is)."""
    if language != "python":
        return ""
    start = 0
    for m in _DEF.finditer(text, max(0, len(text) - _WINDOW)):
        start = m.start()
    lexer = BracketLexer(python=True)
    lexer.feed(text[start:])
    if not lexer.settled:
        return ""
    return "".join(_CLOSE[c] for c in reversed(lexer.stack))
