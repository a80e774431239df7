"""The repository's own rules: committed benchmark results stay small, and every path under
``benchmarks/`` that the README and the docs cite exists."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
#: What ``benchmarks/results/`` may hold: the results the README and docs cite.
RESULTS_MAX_BYTES = 3 * 1024 * 1024
#: Paths the docs name that are not committed: the download cache and the development
#: rounds' run directories (git-ignored; benchmarks/cases/dev/README.md reproduces them).
UNCOMMITTED = ("benchmarks/.cache", "benchmarks/results/eval/dev/")
_PATH = re.compile(r"(?<![\w./-])benchmarks/[\w./+-]*[\w/]")
_PLACEHOLDER = re.compile(r"(?<![A-Za-z])(NAME|PATH|DIR)(?![A-Za-z])")


def _committed(folder: Path) -> list[Path]:
    """The files git tracks under ``folder`` (every file there when this is not a git checkout)."""
    if shutil.which("git") and (ROOT / ".git").exists():
        out = subprocess.run(["git", "ls-files", "-z", "--", str(folder.relative_to(ROOT))], cwd=ROOT,
                             capture_output=True, check=True).stdout
        return [ROOT / p for p in out.decode().split("\0") if p and (ROOT / p).is_file()]
    return [p for p in folder.rglob("*") if p.is_file()]


def _documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
            *sorted(p for p in _committed(ROOT / "benchmarks") if p.name == "README.md")]


def cited_paths(text: str) -> set[str]:
    """Paths under ``benchmarks/`` in ``text``, less placeholders (``NAME``) and uncommitted ones."""
    found = {m.group(0) for m in _PATH.finditer(text)}
    return {p for p in found if not _PLACEHOLDER.search(p) and not p.startswith(UNCOMMITTED)}


def test_cited_paths_parse() -> None:
    text = ("`benchmarks/results/eval/python/python.md`, (benchmarks/cases/dev/README.md: x) "
            "--out benchmarks/results/eval/NAME, benchmarks/.cache/packages, benchmarks/results/eval/dev/python-v2")
    assert cited_paths(text) == {"benchmarks/results/eval/python/python.md", "benchmarks/cases/dev/README.md"}


@pytest.mark.parametrize("doc", _documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_cited_benchmark_path_exists(doc: Path) -> None:
    missing = sorted(p for p in cited_paths(doc.read_text(encoding="utf-8")) if not (ROOT / p).exists())
    assert not missing, f"{doc.relative_to(ROOT)} cites paths that do not exist: {missing}"


def test_committed_results_stay_small() -> None:
    files = _committed(RESULTS)
    total = sum(p.stat().st_size for p in files)
    biggest = sorted(files, key=lambda p: p.stat().st_size)[-3:]
    assert total <= RESULTS_MAX_BYTES, (
        f"benchmarks/results/ holds {total / 2**20:.1f} MiB (at most {RESULTS_MAX_BYTES / 2**20:.0f}): keep what the "
        f"README and docs cite, gzip per-sample files; biggest: {[str(p.relative_to(ROOT)) for p in biggest]}")
