"""Independent check of generated code: is every identifier after a dot legal?

Used by tests, the demo and benchmarks. For each member-access dot in the
completion (and a dot that ends the prompt), it asks the language server for
the completions at that point — the document being prefix + completion up to
the dot + suffix — and says whether the identifier that follows is among them.
It judges the member, not the line around it: in Python the brackets still open at
the dot are closed right after it (and after the typed name) in the document it asks
about (:mod:`lsp_bridge.brackets`), so neither the rest of the completion nor a suffix
that Python would join to the open brackets changes what the server parses there.

Python definition sites: ``self.total = 0`` defines ``total`` (no completion list can
hold it), so a name after a bare ``self.`` that starts a statement, that the server does
not list but that is being assigned (:func:`monitors.definitions.assignment_state`) is legal, reported with
``definition=True``; ``self.total.append(x)`` with an unlisted ``total`` is not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lsp_bridge.brackets import closers
from lsp_bridge.pool import ServerPool
from lsp_bridge.servers import ServerSpec
from monitors.definitions import assignment_state, self_statement
from monitors.errors import LspError
from monitors.identifiers import IDENT_CLASS
from monitors.languages import LanguageSpec
from monitors.triggers import TriggerDetector

__all__ = ["MemberAccess", "check_member_accesses", "member_access_dots"]

_IDENT_RUN = re.compile(IDENT_CLASS + "*")


@dataclass(frozen=True, slots=True)
class MemberAccess:
    """An identifier generated after a member-access dot and the server's verdict.

    ``legal`` is None when the server offered nothing there (no ground truth).
    """

    dot: int  # offset of the dot in the completion (-1: the dot ends the prompt)
    name: str
    legal: bool | None
    candidates: int
    #: A new attribute defined by assignment (Python ``self.x = ...``): legal, unlisted.
    definition: bool = False


def member_access_dots(language: LanguageSpec, prefix: str, completion: str) -> list[tuple[int, str]]:
    """(dot offset in completion, identifier after it) for every member access.

    A dot that ends the prompt is reported with offset -1. Identifiers that are
    cut off by the end of the completion are reported as they stand.
    """
    detector = TriggerDetector(language, prefix + completion)
    found: list[tuple[int, str]] = []
    triggers = detector.trigger_chars
    start = len(prefix) - 1 if prefix[-1:] in triggers else len(prefix)
    full = prefix + completion
    for pos in range(start, len(full)):
        if full[pos] not in triggers or not detector.is_member_access(pos):
            continue
        name = _IDENT_RUN.match(full, pos + 1)
        assert name is not None
        found.append((pos - len(prefix), name.group(0)))
    return found


async def check_member_accesses(
    pool: ServerPool,
    spec: ServerSpec,
    language: LanguageSpec,
    workspace: Path,
    file: Path,
    prefix: str,
    completion: str,
    suffix: str,
    *,
    timeout: float = 10.0,
    open_end: bool = False,
) -> list[MemberAccess]:
    """Ask the server about every identifier generated after a member-access dot.

    With ``open_end`` (generation stopped at the token limit) an identifier that
    runs to the end of the completion only has to be a prefix of a legal one.
    """
    out: list[MemberAccess] = []
    for dot, name in member_access_dots(language, prefix, completion):
        if not name:
            continue
        cut_off = open_end and dot + 1 + len(name) == len(completion)
        found = await _check_one(pool, spec, language, workspace, file, prefix, completion, suffix, dot, name,
                                 cut_off, timeout)
        if found.legal is False and language.name == "python":
            found = _definition_site(found, prefix + completion, len(prefix) + dot, cut_off)
        out.append(found)
    return out


def _definition_site(found: MemberAccess, text: str, at: int, cut_off: bool) -> MemberAccess:
    """An unlisted ``self.<name>`` at a statement start (Python): legal where it is assigned
    (a definition), unjudged where the token limit cut it, else as the server said."""
    if not self_statement(text, at):
        return found
    after = text[at + 1 + len(found.name) :].split("\n", 1)[0]
    if assignment_state(after.encode("utf-8")) == "ok":
        return MemberAccess(found.dot, found.name, True, found.candidates, definition=True)
    if cut_off:
        return MemberAccess(found.dot, found.name, None, found.candidates)
    return found


async def _check_one(
    pool: ServerPool,
    spec: ServerSpec,
    language: LanguageSpec,
    workspace: Path,
    file: Path,
    prefix: str,
    completion: str,
    suffix: str,
    dot: int,
    name: str,
    cut_off: bool,
    timeout: float,
) -> MemberAccess:
    """One identifier: asked at the dot, and (for incomplete lists) as typed."""
    upto = completion[: dot + 1] if dot >= 0 else ""
    close = closers(language.name, prefix + upto)
    # At the dot; then, like an editor re-requesting an incomplete list, with the
    # identifier typed (the server filters by the word before the cursor).
    attempts = [upto, upto + name]
    seen = 0
    for typed_upto in attempts:
        text = prefix + typed_upto + close + suffix
        try:
            res = await pool.complete(spec, workspace, file, text, len(prefix) + len(typed_upto), timeout=timeout)
        except LspError:
            break
        if not res.names:
            if typed_upto == upto:
                break
            continue
        seen = max(seen, len(res.names))
        legal = any(n.startswith(name) for n in res.names) if cut_off else name in res.names
        if legal or not res.incomplete:
            return MemberAccess(dot, name, legal, seen)
    if seen:
        return MemberAccess(dot, name, False, seen)
    return MemberAccess(dot, name, None, 0)
