"""Checker errors as data: one :class:`Diagnostic` per error, its class, and the diff.

Strict CR compares the completed file with the original under the same checker:
an error *introduced* by the generation is one the completed file has more often
than the original, matched by ``(rule, message)`` with line numbers ignored
(:func:`introduced`). Each error gets one of :data:`ERROR_CLASSES`, so a report can
show what kind of mistake a configuration trades for another:

- ``unknown_member``: a member that does not exist (``obj.nope``, ``pkg.Nope``);
- ``undefined_name``: an unqualified name that does not exist;
- ``wrong_call``: a call with the wrong number/names of arguments, no matching overload;
- ``incompatible_types``: a value of the wrong type (assignment, argument, return, operand);
- ``syntax``: the file does not parse;
- ``other``: everything else the checker reports as an error.

The per-language classifiers read the checker's own rule ids where it has them
(pyright rules, TypeScript codes) and its message text where it has none (javac, go).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ERROR_CLASSES",
    "Diagnostic",
    "go_class",
    "introduced",
    "java_class",
    "normalize_message",
    "python_class",
    "typescript_class",
]

#: Error classes, in report order.
ERROR_CLASSES = ("unknown_member", "undefined_name", "wrong_call", "incompatible_types", "syntax", "other")


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One checker error: its class, the checker's rule id, the message (line-free) and
    where it was (0-based line of the checked file; informative, never matched)."""

    kind: str
    rule: str
    message: str
    line: int = -1

    @property
    def key(self) -> tuple[str, str]:
        """What two errors must share to be "the same error" (line numbers ignored)."""
        return (self.rule, self.message)

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "rule": self.rule, "message": self.message, "line": self.line}


_LINE_REFS = re.compile(r"\b(line|lines)\s+\d+(?:\s*-\s*\d+)?|(?<=[\w.)]):\d+(?::\d+)?\b")


def normalize_message(message: str) -> str:
    """The message without line/column references and with single spaces."""
    text = _LINE_REFS.sub(lambda m: "line N" if m.group(1) else ":N", message)
    return " ".join(text.replace("\xa0", " ").split())


def introduced(original: Iterable[Diagnostic], completed: Iterable[Diagnostic]) -> tuple[Diagnostic, ...]:
    """Errors of ``completed`` beyond those of ``original`` (a multiset difference by key)."""
    left = Counter(d.key for d in original)
    out: list[Diagnostic] = []
    for d in completed:
        if left[d.key] > 0:
            left[d.key] -= 1
        else:
            out.append(d)
    return tuple(out)


# -- Python (pyright rules) ------------------------------------------------------

_PYRIGHT: dict[str, str] = {
    "reportAttributeAccessIssue": "unknown_member",
    "reportOptionalMemberAccess": "unknown_member",
    "reportFunctionMemberAccess": "unknown_member",
    "reportUndefinedVariable": "undefined_name",
    "reportCallIssue": "wrong_call",
    "reportArgumentType": "incompatible_types",
    "reportAssignmentType": "incompatible_types",
    "reportReturnType": "incompatible_types",
    "reportOperatorIssue": "incompatible_types",
    "reportIndexIssue": "incompatible_types",
    "reportOptionalSubscript": "incompatible_types",
    "reportOptionalIterable": "incompatible_types",
    "reportOptionalOperand": "incompatible_types",
    "reportGeneralTypeIssues": "incompatible_types",
}


def python_class(rule: str | None, message: str = "") -> str:
    """Class of a pyright error; errors without a rule are the parser's (``syntax``).

    ``reportAttributeAccessIssue`` also covers assigning a wrong type to an existing
    attribute ("Cannot assign to attribute ... is not assignable"): incompatible types
    unless the message says the attribute is unknown.
    """
    if not rule or rule == "SyntaxError":
        return "syntax"
    if rule == "reportAttributeAccessIssue" and message.startswith(("Cannot assign to attribute",
                                                                     "Cannot delete attribute")):
        return "unknown_member" if "is unknown" in message else "incompatible_types"
    return _PYRIGHT.get(rule, "other")


# -- Java (javac messages) --------------------------------------------------------

_JAVA_SYNTAX = re.compile(
    r"expected$|^illegal start of|^not a statement|^reached end of file while parsing|^unclosed |"
    r"^else without if|^orphaned |^illegal character|^malformed |^empty character literal|"
    r"^illegal line end|^'(catch|finally)' without 'try'|^'try' without|"
    r"^variable declaration not allowed here|^illegal unicode escape|^illegal escape character|"
    r"^invalid method declaration; return type required"
)
_JAVA_CALL = re.compile(
    r"cannot be applied to given types|^no suitable (method|constructor) found|"
    r"^method .* in .* cannot be applied|^constructor .* in .* cannot be applied"
)
_JAVA_TYPES = re.compile(r"^incompatible types|^bad operand type|cannot be dereferenced|^incomparable types")


def java_class(message: str, dotted: bool) -> str:
    """Class of a javac error (its first message line); ``dotted``: the caret points at
    a member access (``expr.name``), which makes "cannot find symbol" an unknown member."""
    if message.startswith("cannot find symbol"):
        return "unknown_member" if dotted else "undefined_name"
    if _JAVA_SYNTAX.search(message):
        return "syntax"
    if _JAVA_CALL.search(message):
        return "wrong_call"
    if _JAVA_TYPES.search(message):
        return "incompatible_types"
    return "other"


# -- Go (go build / go vet messages) ------------------------------------------------

_GO_MEMBER = re.compile(r"^\S+\.\S+ undefined \(type .* has no field or method|^undefined: \w+\.\w+$")


def go_class(message: str) -> str:
    """Class of a Go compiler/vet error message."""
    if message.startswith("syntax error") or message.startswith("expected ") or "expected '" in message:
        return "syntax"
    if _GO_MEMBER.search(message):
        return "unknown_member"
    if message.startswith("undefined: "):
        return "undefined_name"
    if re.search(r"^(not enough|too many) arguments in call|^too many arguments|^not enough arguments", message):
        return "wrong_call"
    if re.search(r"^cannot use |mismatched types|^invalid operation|^cannot convert", message):
        return "incompatible_types"
    return "other"


# -- TypeScript (tsc codes) -----------------------------------------------------------

_TS: dict[str, str] = {
    "TS2339": "unknown_member", "TS2551": "unknown_member", "TS2694": "unknown_member", "TS2724": "unknown_member",
    "TS2304": "undefined_name", "TS2552": "undefined_name", "TS2580": "undefined_name", "TS2582": "undefined_name",
    "TS2554": "wrong_call", "TS2555": "wrong_call", "TS2556": "wrong_call", "TS2769": "wrong_call",
    "TS2575": "wrong_call", "TS2349": "wrong_call", "TS2353": "wrong_call",
    "TS2322": "incompatible_types", "TS2345": "incompatible_types", "TS2741": "incompatible_types",
    "TS2740": "incompatible_types", "TS2739": "incompatible_types", "TS2367": "incompatible_types",
    "TS2365": "incompatible_types", "TS2362": "incompatible_types", "TS2363": "incompatible_types",
    "TS2678": "incompatible_types",
}


def typescript_class(code: str) -> str:
    """Class of a tsc error code (``TS1xxx`` are the parser's)."""
    if re.fullmatch(r"TS1\d{3}", code):
        return "syntax"
    return _TS.get(code, "other")
