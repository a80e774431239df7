"""Training-data exclusion: which source files a model has already seen.

A model directory may ship the list of its training files (``training_files.txt``
or ``training_files.txt.gz``, one path a line, as the shared tinycode model does).
A repository file counts as training data when a listed path *ends with* its
repository-relative path at a directory boundary, so vendored copies count too
(``more_itertools/more.py`` matches
``python/setuptools/setuptools/_vendor/more_itertools/more.py``); a leading
``src/`` or ``lib/`` of the repository path is tried without it as well.

Exclusion is by project: a repository (``mgd bench build --repo``, a run's workspace)
with any file in the list is left out whole (:func:`training_files_in`), since a model
that saw some files of a project has seen its names, helpers and idioms (the Java
report split of 0.2 kept 130 JDK files whose 195 siblings in the same packages were
training files).

:func:`training_list_of` finds a model's list; ``mgd bench build --model M``,
``mgd bench run`` and the benchmarks leave those files out unless told otherwise
(``--no-exclude``), and record what they left out.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from monitors.errors import ConfigError

__all__ = ["ExcludeList", "TRAINING_LIST_NAMES", "read_exclude_list", "training_files_in", "training_list_of"]

#: File names of a model's training list, in the order they are looked for.
TRAINING_LIST_NAMES = ("training_files.txt.gz", "training_files.txt")
_LAYOUT_DIRS = ("src/", "lib/")
_SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv", "venv", ".tox"}


@dataclass(frozen=True, slots=True)
class ExcludeList:
    """Paths to leave out, matched by path suffix (see the module docstring)."""

    paths: frozenset[str]
    sources: tuple[str, ...] = ()
    _by_name: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def of(cls, paths: Iterable[str], sources: Iterable[str] = ()) -> ExcludeList:
        clean = frozenset(p.strip().removeprefix("./") for p in paths if p.strip())
        by_name: dict[str, list[str]] = {}
        for p in clean:
            by_name.setdefault(p.rsplit("/", 1)[-1], []).append(p)
        return cls(clean, tuple(sources), {k: tuple(v) for k, v in by_name.items()})

    def __or__(self, other: ExcludeList) -> ExcludeList:
        return ExcludeList.of(self.paths | other.paths, (*self.sources, *other.sources))

    def __len__(self) -> int:
        return len(self.paths)

    def __bool__(self) -> bool:
        return bool(self.paths)

    def contains(self, rel: str) -> bool:
        """Whether the repository-relative path ``rel`` is (a copy of) a listed file."""
        rel = rel.removeprefix("./")
        candidates = [rel] + [rel[len(d):] for d in _LAYOUT_DIRS if rel.startswith(d) and "/" in rel[len(d):]]
        for r in candidates:
            for p in self._by_name.get(r.rsplit("/", 1)[-1], ()):
                if p == r or p.endswith("/" + r):
                    return True
        return False


def read_exclude_list(path: str | Path) -> ExcludeList:
    """Paths (one per line, ``.gz`` allowed) of files to leave out, e.g. a training list."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
            return ExcludeList.of(fh, [str(path)])
    except OSError as exc:
        raise ConfigError(f"cannot read exclude list {path}: {exc}") from exc


def training_list_of(model: str | Path | None) -> Path | None:
    """The training list a local model directory ships, if any."""
    if model is None:
        return None
    root = Path(model).expanduser()
    if not root.is_dir():
        return None
    for name in TRAINING_LIST_NAMES:
        if (root / name).is_file():
            return root / name
    return None


def training_files_in(root: str | Path, exclude: ExcludeList) -> list[str]:
    """Root-relative paths of the files under ``root`` (a project) that ``exclude`` lists;
    any at all leaves the project out."""
    if not exclude:
        return []
    root = Path(root)
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        base = Path(dirpath).relative_to(root).as_posix()
        for name in filenames:
            rel = name if base == "." else f"{base}/{name}"
            if exclude.contains(rel):
                found.append(rel)
    return sorted(found)
