"""Loader for the MGD paper's DotPrompts/PragmaticCode ``dataset.csv``.

DotPrompts (microsoft/monitors4codegen) lists prompts as rows of a CSV: the
repository, the Java file, the offset of the dot that ends the prompt and the
end of the method it sits in. The repositories themselves are *not* in the
CSV: users must check them out at the listed commits under one directory
(``<repos_dir>/<repo>``) and build them (the paper's compile check runs each
project's build; JDT LS needs the build too). This module only turns rows into
``mgd bench`` cases; nothing here downloads anything.

Column names differ between releases, so they are parameters
(:class:`DotPromptsColumns`); the defaults follow the released file as we
understand it and are not verified against it here (we do not have it offline).
Offsets are taken as character offsets into the file.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from mgd.evaluation.builder import BenchCase
from mgd.evaluation.methods import open_braces
from monitors.errors import ConfigError

__all__ = ["DotPromptsColumns", "load_dotprompts"]


@dataclass(frozen=True, slots=True)
class DotPromptsColumns:
    """Which CSV column holds what."""

    repo: str = "repo"
    file: str = "classFileName"
    dot: str = "dot_idx"
    method_start: str = "methodStartIdx"
    method_end: str = "methodStopIdx"


def load_dotprompts(
    csv_path: str | Path,
    repos_dir: str | Path,
    *,
    columns: DotPromptsColumns | None = None,
    limit: int | None = None,
) -> tuple[list[BenchCase], list[str]]:
    """Cases for the rows whose repository and file exist; plus one message per skipped row."""
    cols = columns or DotPromptsColumns()
    root = Path(repos_dir)
    cases: list[BenchCase] = []
    skipped: list[str] = []
    texts: dict[Path, str] = {}
    try:
        fh = Path(csv_path).open(newline="", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {csv_path}: {exc}") from exc
    with fh:
        reader = csv.DictReader(fh)
        missing = [c for c in (cols.repo, cols.file, cols.dot, cols.method_end) if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError(f"{csv_path} has no column(s) {missing}; columns: {reader.fieldnames}")
        for n, row in enumerate(reader, 2):
            ws = root / row[cols.repo]
            path = ws / row[cols.file]
            if not path.is_file():
                skipped.append(f"line {n}: {path} not found (check the repository out at its commit)")
                continue
            if path not in texts:
                texts[path] = path.read_text(encoding="utf-8", errors="replace")
            text = texts[path]
            try:
                dot, end = int(row[cols.dot]), int(row[cols.method_end])
                start = int(row.get(cols.method_start) or 0)
            except ValueError:
                skipped.append(f"line {n}: non-integer offsets")
                continue
            prefix_end = dot + 1 if text[dot : dot + 1] == "." else dot
            if not 0 < prefix_end <= end <= len(text):
                skipped.append(f"line {n}: offsets outside {path}")
                continue
            cases.append(
                BenchCase(
                    f"{row[cols.repo]}/{row[cols.file]}:{prefix_end}", str(ws), row[cols.file], prefix_end, end,
                    text[prefix_end:end], end, "java",
                    {"kind": "braces", "depth": max(1, open_braces(text, start, prefix_end))},
                )
            )
            if limit is not None and len(cases) >= limit:
                break
    return cases, skipped
