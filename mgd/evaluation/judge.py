"""An independent judge of the monitor rules: the language's checker, not the monitors.

A generation (``prefix + completion``) is checked once by the language's own
checker (:func:`mgd.evaluation.compile_check.file_errors`: pyright, tsc, go build,
javac). The sites where a monitor's rule applies are found in the completion by
syntax alone (a dot and a name, ``new X``, ``case X``, ``import``, a call and its
keyword arguments), and each site gets one verdict:

- ``violation``: the checker reports an error of the rule's kind for that site
  (its line, and for named sites its name in the message);
- ``ok``: it reports none and the site is complete in the text;
- ``unjudged``: it reports none but could not have: the text ends inside the site
  (a name cut at the end, a call never closed: there only "too many arguments" is a
  verdict), or a syntax error hides it (on the site's lines for pyright, anywhere in
  the file for tsc, go and javac, which then type-check nothing).

The monitors are never asked: a bug in a monitor cannot hide its own violations (what
is code, and which bracket closes which, is the one lexer's word, :mod:`monitors.lexer`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mgd.evaluation.casegen import dot_sites
from mgd.evaluation.diagnostics import Diagnostic
from monitors.document import Document
from monitors.languages import LexSpec, get_language
from monitors.lexer import bracket_events

__all__ = ["RULES", "Site", "judge", "find_sites"]

_NAME = r"[A-Za-z_$][\w$]*"
_CLOSER = {"(": ")", "[": "]", "{": "}"}


@dataclass(frozen=True, slots=True)
class Site:
    """One place a monitor's rule applies: ``start``/``end`` are offsets in the full text
    (the name, or the call from its ``(`` to its ``)``); ``complete``: the text goes on
    after it."""

    monitor: str
    name: str
    start: int
    end: int
    complete: bool


@dataclass(frozen=True, slots=True)
class Verdict:
    site: Site
    verdict: str  # "violation", "ok" or "unjudged"
    errors: tuple[str, ...] = ()


def _kinds(*kinds: str) -> frozenset[str]:
    return frozenset(kinds)


#: Per monitor: which checker errors break its rule (error classes, plus rules by id).
RULES: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "dereference": (_kinds("unknown_member"), frozenset()),
    "imports": (_kinds("unknown_member"), frozenset({"reportMissingImports", "reportMissingModuleSource"})),
    "instantiation": (_kinds("undefined_name", "unknown_member"), frozenset({"TS2351", "TS2511", "TS2693"})),
    "enum_cases": (_kinds("unknown_member", "undefined_name", "incompatible_types"), frozenset()),
    "arguments": (_kinds("wrong_call"), frozenset()),
    "keyword_arguments": (_kinds("wrong_call"), frozenset()),
}


def _closing(text: str, open_at: int, lex: LexSpec) -> int:
    """Offset just after the ``)`` matching the ``(`` at ``open_at`` (-1: never closed)."""
    depth = 0
    for at, ch in bracket_events(lex, text[open_at:]):
        depth += 1 if ch in "([{" else -1
        if depth == 0:
            return open_at + at + 1
    return -1


_NOT_CALLS = frozenset({"if", "elif", "for", "while", "return", "switch", "catch", "function", "with", "assert",
                        "not", "and", "or", "in", "is", "lambda", "yield", "await", "typeof", "sizeof"})


def find_sites(language: str, text: str, start: int, monitors: Sequence[str]) -> list[Site]:
    """Sites of ``monitors`` whose name (or call) starts at or after ``start`` (the end
    of the prompt; a prompt ending at a trigger contributes the site it opens)."""
    out: list[Site] = []
    want = set(monitors)
    n = len(text)

    def named(monitor: str, name_start: int, name: str) -> None:
        end = name_start + len(name)
        out.append(Site(monitor, name, name_start, end, end < n))

    if "dereference" in want:
        for s in dot_sites(get_language(language), text, indented_only=False):
            if s.prefix_end >= start:
                named("dereference", s.prefix_end, s.name)
    # `new X` / `case X`: X is whatever follows (a literal after `new` breaks the rule too)
    if "instantiation" in want:
        for m in re.finditer(r"\bnew\s+([^\s;(){}<>\[\],]+)", text):
            if m.start(1) >= start:
                named("instantiation", m.start(1), m.group(1))
    if "enum_cases" in want:
        for m in re.finditer(r"\bcase\s+(" + _NAME + r"(?:\s*\.\s*" + _NAME + r")?|[^\s:]+)", text):
            if m.start(1) >= start:
                named("enum_cases", m.start(1), m.group(1))
    if "imports" in want:
        for m in re.finditer(r"^[ \t]*(?:from\s+([\w.]+)\s+import\s+([^\n#]*)|import\s+([\w. ,]+))", text, re.M):
            if m.group(2) is not None:
                names = [(m.start(1), m.group(1))] + [
                    (m.start(2) + k.start(), k.group(0)) for k in re.finditer(_NAME, m.group(2))
                    if k.group(0) not in ("as",)]
            else:
                names = [(m.start(3) + k.start(), k.group(0)) for k in re.finditer(r"[\w.]+", m.group(3))]
            for at, name in names:
                if at + len(name) > start and name:
                    named("imports", at, name.rsplit(".", 1)[-1] if m.group(2) is None else name)
    if "arguments" in want or "keyword_arguments" in want:
        for m in re.finditer(r"(" + _NAME + r")\s*\(", text):
            open_at = m.end() - 1
            if open_at + 1 < start:
                continue
            if m.group(1) in _NOT_CALLS or re.search(r"\b(def|function|func|class)\s+$", text[: m.start(1)]):
                continue  # a keyword or a definition, not a call
            close = _closing(text, open_at, get_language(language).lex)
            end = close if close >= 0 else n
            if "arguments" in want:
                out.append(Site("arguments", m.group(1), open_at, end, close >= 0))
            if "keyword_arguments" in want:
                inner = text[open_at + 1 : end]
                for k in re.finditer(r"(?:^|[,(]\s*)(" + _NAME + r")\s*=(?!=)", inner):
                    named("keyword_arguments", open_at + 1 + k.start(1), k.group(1))
    return sorted(out, key=lambda s: (s.start, s.monitor))


def _too_many(message: str) -> bool:
    """The error says a call has too many arguments (what an unclosed call can already
    break; "missing argument" on a call the text never closes is not a verdict)."""
    if re.search(r"^Expected \d+ positional argument|too many arguments", message):
        return True
    m = re.search(r"Expected (\d+)(?:-(\d+))? arguments?, but got (\d+)", message)
    return bool(m) and int(m.group(3)) > int(m.group(2) or m.group(1))


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset)


def _mentions(message: str, name: str) -> bool:
    short = name.rsplit(".", 1)[-1].strip()
    return bool(re.search(r"(?<![\w$])" + re.escape(short) + r"(?![\w$])", message))


#: Checkers that type-check nothing once the file has a syntax error.
_STOP_AT_SYNTAX = frozenset({"typescript", "tsx", "javascript", "go", "java"})


def judge(text: str, sites: Sequence[Site], errors: Sequence[Diagnostic], language: str = "python") -> list[Verdict]:
    """One verdict per site from the checker's ``errors`` for ``text``.

    A syntax error leaves sites without a violation unjudged: anywhere in the file
    for checkers that stop there (tsc, go, javac), on the site's own lines for pyright.
    """
    syntax_lines = {e.line for e in errors if e.kind == "syntax"}
    blind = language in _STOP_AT_SYNTAX and bool(syntax_lines)
    out: list[Verdict] = []
    for site in sites:
        kinds, rules = RULES[site.monitor]
        first, last = _line(text, site.start), _line(text, max(site.start, site.end - 1))
        hits = [e for e in errors if first <= e.line <= last and (e.kind in kinds or e.rule in rules)]
        if site.monitor == "keyword_arguments":
            hits = [e for e in hits if "named" in e.message and _mentions(e.message, site.name)]
        elif site.monitor == "arguments":
            hits = [e for e in hits if "named" not in e.message and (site.complete or _too_many(e.message))]
        elif site.monitor in ("dereference", "imports") or re.fullmatch(_NAME + r"(\s*\.\s*" + _NAME + ")?",
                                                                       site.name):
            hits = [e for e in hits if _mentions(e.message, site.name)]
        if hits:
            out.append(Verdict(site, "violation", tuple(f"{e.rule}: {e.message}" for e in hits)))
        elif not site.complete or blind or any(first <= n <= last for n in syntax_lines):
            out.append(Verdict(site, "unjudged"))
        else:
            out.append(Verdict(site, "ok"))
    return out


def repaired(text: str, upto: int, language: str) -> str:
    """``text`` up to the end of the line holding offset ``upto``, with the brackets
    still open there closed (in order), so the checker sees a file that can parse."""
    nl = text.find("\n", upto)
    cut = text if nl < 0 else text[:nl]
    doc = Document(get_language(language).lex, cut)
    closers = "".join(_CLOSER[b] for b in reversed(doc.brackets))
    if not closers:
        return cut + "\n"
    if language == "python":
        return cut + closers + "\n"
    return cut + "\n" + closers + "\n"


def judge_file(language: str, workspace: Path, file: str, prefix: str, completion: str,
               monitors: Sequence[str]) -> list[Verdict]:
    """Find the sites of ``monitors`` in ``completion`` and judge them with the checker.

    Each site is judged on :func:`repaired` text (up to the end of its line, open
    brackets closed): one checker run per distinct line, so what the model wrote
    after a site cannot hide it behind a syntax error.
    """
    from mgd.evaluation.compile_check import file_errors

    text = prefix + completion
    sites = find_sites(language, text, len(prefix), monitors)
    by_line: dict[int, list[Site]] = {}
    for site in sites:
        by_line.setdefault(_line(text, max(site.start, site.end - 1)), []).append(site)
    out: list[Verdict] = []
    for group in by_line.values():
        end = max(site.end for site in group)
        fixed = repaired(text, max(end - 1, 0), language)
        out.extend(judge(fixed, group, file_errors(language, workspace, file, fixed), language))
    return sorted(out, key=lambda v: (v.site.start, v.site.monitor))
