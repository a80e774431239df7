"""Strict compile rate (CR): the completed file parses and adds no error over the original.

A :class:`CheckItem` is a completed file (original prefix + the generated method
cut by the case's stop rule + the original suffix) and its original. Each language
has one checker, run on both under the same settings; an error counts when the
completed file has it more often than the original, matched by rule and message
with line numbers ignored (:mod:`mgd.evaluation.diagnostics`):

- **Python**: CPython's parser, then pyright (basic mode), every error of the file
  (:mod:`~mgd.evaluation.checkers.python`);
- **Java**: javac (:mod:`~mgd.evaluation.checkers.java`);
- **Go**: ``go build``, then ``go vet``; **TypeScript**: ``tsc --noEmit``
  (:mod:`~mgd.evaluation.checkers.copies`).

Every error carries its class (unknown member, undefined name, wrong call,
incompatible types, syntax, other) for the report's breakdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path

from lsp_bridge.servers import find_program
from mgd.evaluation.checkers.base import CheckItem, CheckResult
from mgd.evaluation.checkers.copies import check_copies, go_errors, tsc_errors
from mgd.evaluation.checkers.java import check_java, java_errors
from mgd.evaluation.checkers.python import check_python, python_errors
from mgd.evaluation.diagnostics import Diagnostic
from monitors.errors import ConfigError

__all__ = ["CheckItem", "CheckResult", "available_checkers", "check_items", "file_errors"]

def available_checkers() -> dict[str, str | None]:
    """Language -> the tool used (None: not installed)."""
    return {
        "python": find_program("pyright"),
        "java": find_program("javac"),
        "go": find_program("go"),
        "typescript": find_program("tsc"),
    }


def check_items(
    items: Sequence[CheckItem], *, jobs: int = 2, timeout_s: float = 1800.0, progress: object | None = None,
) -> dict[str, CheckResult]:
    """Check every item (grouped per language); key -> result.

    ``progress``: an object with ``update(n)`` (a tqdm bar), told as items are checked.
    """
    update = getattr(progress, "update", None)
    tick = update if callable(update) else None
    out: dict[str, CheckResult] = {}
    by_lang: dict[str, list[CheckItem]] = {}
    for it in items:
        by_lang.setdefault(it.language, []).append(it)
    tools = available_checkers()
    for lang, group in by_lang.items():
        tool = tools.get("typescript" if lang in ("tsx", "javascript") else lang)
        if tool is None:
            raise ConfigError(f"no checker for {lang}: install it (python: pyright, java: javac, go, typescript: tsc)")
        if lang == "python":
            out.update(check_python(tool, group, jobs, timeout_s, tick))
        elif lang == "java":
            out.update(check_java(tool, group, timeout_s, tick))
        elif lang == "go":
            out.update(check_copies(group, jobs, partial(go_errors, tool, timeout_s=timeout_s), tick))
        else:
            out.update(check_copies(group, jobs, partial(tsc_errors, tool, timeout_s=timeout_s), tick))
    return out


def file_errors(language: str, workspace: Path, file: str, text: str, *, timeout_s: float = 600.0) -> list[Diagnostic]:
    """Every error the language's checker reports for ``text`` as ``file`` in ``workspace``
    (with 0-based lines), e.g. to judge a generation independently of the monitors."""
    lang = "typescript" if language in ("tsx", "javascript") else language
    tool = available_checkers().get(lang)
    if tool is None:
        raise ConfigError(f"no checker for {language}: install it (python: pyright, java: javac, go, typescript: tsc)")
    item = CheckItem("file", language, Path(workspace), file, text, text)
    if lang == "python":
        return python_errors(tool, Path(workspace), file, text, timeout_s)
    if lang == "java":
        return java_errors(tool, item, timeout_s)
    if lang == "go":
        return go_errors(tool, item, text, timeout_s)
    return tsc_errors(tool, item, text, timeout_s)
