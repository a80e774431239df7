"""Definition sites (Python): what may follow a member name the server does not list.

In a dynamic language ``self.total = 0`` defines ``total``: no completion list can
hold it. With definition sites on, the dereference monitor lets such a *new* name
through after ``self.``, but only where it is being assigned: after the name (and
blanks) the next text must start an assignment, ``=`` (not ``==``), an augmented
assignment (``+=``, ``//=``, ...) or an annotation (``:``). :func:`assignment_state`
is that rule over the text after the name; the masks are in
:mod:`monitors.vocab.rules` (``definition_ids``).
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = ["AUGMENTED", "assignment_state", "self_statement"]

#: Augmented assignment operators (Python 3), longest first.
AUGMENTED: Final = (b"**=", b"//=", b">>=", b"<<=", b"+=", b"-=", b"*=", b"/=", b"%=", b"@=", b"&=", b"|=", b"^=")
_PARTIAL: Final = frozenset(op[:k] for op in AUGMENTED for k in range(1, len(op)))


def assignment_state(after: bytes) -> Literal["ok", "partial", "bad"]:
    """Whether ``after`` (the text right after a new name) starts an assignment.

    ``"ok"``: it does (anything may follow); ``"partial"``: not yet known (blanks,
    ``=`` that may become ``==``, ``+`` that may become ``+=``); ``"bad"``: it cannot.
    Only spaces and tabs may stand between the name and the operator.
    """
    u = after.lstrip(b" \t")
    if not u or u == b"=":
        return "partial"
    if u.startswith(b"=="):
        return "bad"
    if u[:1] in (b"=", b":"):
        return "ok"
    if u.startswith(AUGMENTED):
        return "ok"
    return "partial" if u in _PARTIAL else "bad"


def self_statement(text: str, dot: int) -> bool:
    """Whether the dot at ``dot`` follows a bare ``self`` that starts a statement (a line's
    first code, or after ``;``): only there can ``self.x = ...`` define ``x``. Inside an
    expression (``f(self.x)``, ``a + self.x``) a new name could only be used."""
    start = dot - 4
    if start < 0 or text[start:dot] != "self":
        return False
    line = text[text.rfind("\n", 0, start) + 1 : start]
    return not line[line.rfind(";") + 1 :].strip()
