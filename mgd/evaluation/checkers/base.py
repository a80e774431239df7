"""What every checker takes and returns."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mgd.evaluation.diagnostics import Diagnostic

__all__ = ["CheckItem", "CheckResult"]


@dataclass(frozen=True, slots=True)
class CheckItem:
    """A completed file (``completed``) to check against its ``original`` in ``workspace``."""

    key: str
    language: str
    workspace: Path
    file: str
    original: str
    completed: str


@dataclass(frozen=True, slots=True)
class CheckResult:
    """``ok``: the completed file parses and adds no error over the original (None: the
    checker gave no verdict, ``note`` says why); ``errors``: the errors it adds;
    ``original_errors``: how many errors the original has under the same checker;
    ``unknown``: the checker did not vouch for the file (pyright did not analyse it, javac
    reported an error it did not tie to a file): counted as not compiling (``ok`` False)."""

    key: str
    ok: bool | None
    errors: tuple[Diagnostic, ...] = ()
    original_errors: int = 0
    note: str = ""
    unknown: bool = False

    @classmethod
    def unseen(cls, key: str, note: str, original_errors: int = 0) -> CheckResult:
        """A file the checker did not vouch for: unknown, not compiling."""
        return cls(key, False, (), original_errors, note, unknown=True)
