"""The workspace's source files and earlier outputs, as suffix indexes for drafting.

:class:`WorkspaceCorpus` tokenizes the files of a workspace that share the
prompt file's language (the language spec's extensions), builds one
:class:`~mgd.engines.speculative.suffix.SuffixIndex` per workspace and keeps the
last few (files change rarely; an index is rebuilt when a file's size or mtime
changed). :meth:`WorkspaceCorpus.view` gives a decoder the index with the text
*after the cursor* in the file being written blocked: drafts may copy the
file's own prefix and every other file, never the part of the file the model is
replacing or that follows the hole.

:class:`OutputStore` keeps earlier outputs (the latest ``max_tokens`` tokens) in
a second index, rebuilt lazily after new outputs arrive.
"""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mgd.engines.speculative.suffix import SuffixIndex
from monitors.errors import ConfigError
from monitors.languages import language_for_path

__all__ = ["CorpusView", "OutputStore", "Tokenize", "WorkspaceCorpus"]

#: ``texts -> [(ids, char start of each id)]`` (a fast tokenizer with offsets).
Tokenize = Callable[[list[str]], list[tuple[list[int], list[int]]]]

_SKIP_DIRS = {".git", ".hg", ".svn", "node_modules", "__pycache__", ".venv", "venv", ".tox", "build", "dist"}


@dataclass(frozen=True, slots=True)
class CorpusView:
    """One index and the forward span drafts must not use (None: nothing blocked)."""

    index: SuffixIndex
    blocked: tuple[int, int] | None = None


@dataclass(slots=True)
class _Built:
    index: SuffixIndex
    files: dict[Path, int]  # file -> document number
    offsets: list[np.ndarray]  # per document: char start of each token
    stamp: tuple[tuple[str, int, int], ...]
    seconds: float
    checked: float = 0.0  # when the files were last listed (time.monotonic)


@dataclass(slots=True)
class WorkspaceCorpus:
    """Suffix indexes of workspaces' files (one per workspace and language, LRU)."""

    tokenize: Tokenize
    max_tokens: int = 400_000
    max_file_bytes: int = 300_000
    max_files: int = 5_000
    keep: int = 4
    #: Seconds a workspace's file listing is trusted before it is walked again.
    recheck_s: float = 5.0
    _built: OrderedDict[tuple[Path, tuple[str, ...]], _Built] = field(default_factory=OrderedDict)
    #: Seconds spent building indexes (tokenizing included), for reports.
    build_seconds: float = 0.0

    def _files(self, root: Path, extensions: Sequence[str]) -> list[Path]:
        out: list[Path] = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
            for name in sorted(filenames):
                if os.path.splitext(name)[1].lower() in extensions:
                    out.append(Path(dirpath) / name)
                    if len(out) >= self.max_files:
                        return out
        return out

    def view(self, workspace: Path, file: Path, cursor: int) -> CorpusView | None:
        """The workspace's index with ``file`` blocked from character ``cursor`` on."""
        try:
            extensions = tuple(language_for_path(file).extensions)
        except ConfigError:
            extensions = (file.suffix.lower(),)
        root = Path(workspace).resolve()
        key = (root, extensions)
        built = self._built.get(key)
        if built is None or time.monotonic() - built.checked > self.recheck_s:
            stamp = self._stamp(root, extensions)
            if built is None or built.stamp != stamp:
                built = self._build(stamp)
                self._built[key] = built
                while len(self._built) > self.keep:
                    self._built.popitem(last=False)
            built.checked = time.monotonic()
        self._built.move_to_end(key)
        if not built.index.size:
            return None
        doc = built.files.get(Path(file).resolve())
        if doc is None:
            return CorpusView(built.index)
        offsets = built.offsets[doc]
        cut = int(np.searchsorted(offsets, cursor, "left"))  # first token starting at/after the cursor
        start = int(built.index.starts[doc])
        end = start + int(offsets.size)
        # The token that straddles the cursor is blocked too (the prompt's last token may be healed).
        return CorpusView(built.index, (start + max(cut - 1, 0), end))

    def _stamp(self, root: Path, extensions: Sequence[str]) -> tuple[tuple[str, int, int], ...]:
        """(path, size, mtime) of the files to index, within the size caps."""
        stamp = []
        total = 0
        for f in self._files(root, extensions):
            try:
                st = f.stat()
            except OSError:
                continue
            if st.st_size <= self.max_file_bytes and total < 6 * self.max_tokens:  # ~4-6 bytes a token
                stamp.append((str(f), st.st_size, st.st_mtime_ns))
                total += st.st_size
        return tuple(stamp)

    def _build(self, stamp: tuple[tuple[str, int, int], ...]) -> _Built:
        t0 = time.perf_counter()
        texts: list[str] = []
        paths: list[Path] = []
        for name, _size, _mtime in stamp:
            try:
                texts.append(Path(name).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                continue
            paths.append(Path(name).resolve())
        docs: list[list[int]] = []
        offsets: list[np.ndarray] = []
        files: dict[Path, int] = {}
        total = 0
        for path, (ids, starts) in zip(paths, self.tokenize(texts) if texts else [], strict=True):
            if total + len(ids) > self.max_tokens:
                break
            files[path] = len(docs)
            docs.append(ids)
            offsets.append(np.asarray(starts, dtype=np.int64))
            total += len(ids)
        index = SuffixIndex(docs)
        seconds = time.perf_counter() - t0
        self.build_seconds += seconds
        return _Built(index, files, offsets, stamp, seconds)


@dataclass(slots=True)
class OutputStore:
    """Earlier outputs of a decoder (newest kept), indexed lazily."""

    max_tokens: int = 50_000
    _outputs: list[list[int]] = field(default_factory=list)
    _tokens: int = 0
    _index: SuffixIndex | None = None

    def add(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        self._outputs.append([int(t) for t in ids])
        self._tokens += len(ids)
        while self._tokens > self.max_tokens and len(self._outputs) > 1:
            self._tokens -= len(self._outputs.pop(0))
        self._index = None

    def view(self) -> CorpusView | None:
        if not self._outputs:
            return None
        if self._index is None:
            self._index = SuffixIndex(self._outputs)
        return CorpusView(self._index)
