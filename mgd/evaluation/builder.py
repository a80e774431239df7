"""DotPrompts-style cases from a real repository.

Scans the source files of one language with tree-sitter, finds the
methods/functions, and inside each the positions right after a member-access
dot. A case's prompt is the file up to the dot; its hole (and ``target``) is the
rest of the method, up to ``method_end``; the suffix is the file after the method.
The choice is deterministic for a seed: at most one dot per method, methods
spread round-robin over files (in path order after a seeded shuffle).

Output lines follow the ``mgd generate --cases`` contract plus the ground truth:
``target``, ``method_end``, ``language`` and ``stop`` (what ends the method: the
def's indentation for Python, the open brace depth at the dot for brace languages).
A repository with any file on the exclude list (:mod:`mgd.evaluation.leakage`, e.g.
a model's training files) is left out whole (``by_project``; per file without it);
:func:`excluded_candidates` counts the files and cases that removes. With ``workspace_root`` the cases name their workspace relative to it, so
a cases file runs on another machine (``mgd bench run --workspace-root``).
"""

from __future__ import annotations

import fnmatch
import json
import os
import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mgd.evaluation.casegen import dot_sites
from mgd.evaluation.leakage import ExcludeList, read_exclude_list, training_files_in
from mgd.evaluation.methods import open_braces
from monitors.errors import ConfigError
from monitors.languages import LanguageSpec, get_language

__all__ = [
    "FUNCTION_NODES",
    "BenchCase",
    "BuildOptions",
    "build_cases",
    "cases_in_text",
    "excluded_candidates",
    "read_exclude_list",
    "write_cases",
]

#: tree-sitter node types of a method/function body we cut prompts in.
FUNCTION_NODES: dict[str, frozenset[str]] = {
    "python": frozenset({"function_definition"}),
    "java": frozenset({"method_declaration", "constructor_declaration"}),
    "go": frozenset({"function_declaration", "method_declaration"}),
    "typescript": frozenset({"function_declaration", "method_definition"}),
    "tsx": frozenset({"function_declaration", "method_definition"}),
    "javascript": frozenset({"function_declaration", "method_definition"}),
    "rust": frozenset({"function_item"}),
}

_SKIP_DIRS = {".git", "node_modules", "__pycache__", ".venv", "venv", "build", "dist", ".tox"}


@dataclass(frozen=True, slots=True)
class BuildOptions:
    """How many cases and which ones."""

    seed: int = 0
    max_cases: int | None = None
    include: tuple[str, ...] = ()  # glob patterns on the repo-relative path (any matches)
    exclude: ExcludeList = field(default_factory=lambda: ExcludeList.of(()))  # files to skip (path suffixes)
    by_project: bool = True  # a listed file anywhere in the repository leaves all of it out
    max_target_chars: int | None = None  # skip holes longer than this (fits the token budget)
    min_target_chars: int = 1
    max_file_chars: int = 400_000
    id_prefix: str = ""
    workspace_root: Path | None = None  # write workspaces relative to this directory


@dataclass(frozen=True, slots=True)
class BenchCase:
    """One case: the ``mgd generate --cases`` keys plus the ground truth."""

    id: str
    workspace: str
    file: str
    prefix_end: int
    suffix_start: int
    target: str
    method_end: int
    language: str
    stop: dict[str, object]

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _char_offsets(data: bytes, text: str) -> list[int] | None:
    """Byte offset -> char offset table (None when the text is ASCII)."""
    if len(data) == len(text):
        return None
    table = [0] * (len(data) + 1)
    b = 0
    for i, ch in enumerate(text):
        n = len(ch.encode("utf-8"))
        for k in range(n):
            table[b + k] = i
        b += n
    table[len(data)] = len(text)
    return table


def _functions(language: LanguageSpec, data: bytes) -> list[tuple[int, int, int, int]]:
    """(start_byte, body_start_byte, end_byte, depth) of every function node."""
    import tree_sitter

    kinds = FUNCTION_NODES.get(language.name)
    if kinds is None:
        raise ConfigError(f"no function node types known for {language.name}")
    tree = tree_sitter.Parser(language.ts_language_loader()).parse(data)
    out: list[tuple[int, int, int, int]] = []
    stack = [(tree.root_node, 0)]
    while stack:
        node, depth = stack.pop()
        d = depth
        if node.type in kinds:
            body = node.child_by_field_name("body")
            if body is not None and not node.has_error:
                out.append((node.start_byte, body.start_byte, node.end_byte, depth))
            d = depth + 1
        stack.extend((c, d) for c in node.children)
    return out


def cases_in_text(
    language: LanguageSpec, text: str, *, min_target: int = 1, max_target: int | None = None
) -> list[list[tuple[int, int, dict[str, object]]]]:
    """Per innermost function: the candidate (dot offset, method end, stop info) list."""
    data = text.encode("utf-8")
    table = _char_offsets(data, text)

    def ch(b: int) -> int:
        return b if table is None else table[b]

    funcs = [(ch(s), ch(bs), ch(e), d) for s, bs, e, d in _functions(language, data)]
    sites = dot_sites(language, text)
    groups: dict[int, list[tuple[int, int, dict[str, object]]]] = {}
    for site in sites:
        owner = None
        for i, (_s, bs, e, d) in enumerate(funcs):
            if bs < site.prefix_end < e and (owner is None or d > funcs[owner][3]):
                owner = i
        if owner is None:
            continue
        s, bs, e, _ = funcs[owner]
        hole = e - site.prefix_end
        if hole < min_target or (max_target is not None and hole > max_target):
            continue
        if language.name == "python":
            line_start = text.rfind("\n", 0, s) + 1
            indent = text[line_start:s]
            if indent.strip():  # e.g. "async " before def: take the line's leading space
                indent = indent[: len(indent) - len(indent.lstrip())]
            stop: dict[str, object] = {"kind": "indent", "indent": len(indent.expandtabs(8))}
        else:
            stop = {"kind": "braces", "depth": open_braces(text, s, site.prefix_end)}
        groups.setdefault(owner, []).append((site.prefix_end, e, stop))
    return [groups[k] for k in sorted(groups)]


def _source_files(repo: Path, language: LanguageSpec, options: BuildOptions) -> tuple[list[Path], list[Path]]:
    """(files to use, files left out by the exclude list), in path order."""
    files: list[Path] = []
    excluded: list[Path] = []
    for path in sorted(repo.rglob("*")):
        if path.suffix not in language.extensions or not path.is_file():
            continue
        rel_parts = path.relative_to(repo).parts
        if any(part in _SKIP_DIRS for part in rel_parts[:-1]):
            continue
        rel = "/".join(rel_parts)
        if options.include and not any(fnmatch.fnmatch(rel, g) for g in options.include):
            continue
        (excluded if options.exclude.contains(rel) else files).append(path)
    if files and options.by_project and options.exclude and training_files_in(repo, options.exclude):
        return [], sorted(files + excluded)
    return files, excluded


def _read_source(path: Path, options: BuildOptions) -> str | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if len(text) > options.max_file_chars or "\r" in text:
        return None
    return text


def excluded_candidates(repo: str | Path, language: str, options: BuildOptions) -> tuple[int, int]:
    """(files, candidate cases) the exclude list removes from ``repo``: one candidate per
    method with a usable dot, as :func:`build_cases` counts them before sampling."""
    spec = get_language(language)
    _, excluded = _source_files(Path(repo).resolve(), spec, options)
    candidates = 0
    for path in excluded:
        text = _read_source(path, options)
        if text is not None:
            candidates += len(cases_in_text(spec, text, min_target=options.min_target_chars,
                                            max_target=options.max_target_chars))
    return len(excluded), candidates


def _workspace_name(root: Path, options: BuildOptions) -> str:
    if options.workspace_root is None:
        return str(root)
    base = Path(options.workspace_root).resolve()
    if not root.is_relative_to(base):
        raise ConfigError(f"--repo {root} is not inside --workspace-root {base}")
    return os.path.relpath(root, base)


def build_cases(repo: str | Path, language: str, options: BuildOptions | None = None) -> list[BenchCase]:
    """Deterministic cases for one repository (see the module docstring)."""
    options = options or BuildOptions()
    root = Path(repo).resolve()
    if not root.is_dir():
        raise ConfigError(f"--repo {repo} is not a directory")
    spec = get_language(language)
    workspace = _workspace_name(root, options)
    rng = random.Random(options.seed)
    per_file: list[tuple[str, str, list[tuple[int, int, dict[str, object]]]]] = []
    for path in _source_files(root, spec, options)[0]:
        text = _read_source(path, options)
        if text is None:
            continue
        picks = []
        for group in cases_in_text(
            spec, text, min_target=options.min_target_chars, max_target=options.max_target_chars
        ):
            picks.append(group[rng.randrange(len(group))])
        rng.shuffle(picks)
        if picks:
            per_file.append((path.relative_to(root).as_posix(), text, picks))
    rng.shuffle(per_file)
    chosen: list[BenchCase] = []
    limit = options.max_cases
    round_ = 0
    while per_file and (limit is None or len(chosen) < limit):
        progressed = False
        for rel, text, picks in per_file:
            if round_ >= len(picks):
                continue
            progressed = True
            dot, end, stop = picks[round_]
            cid = f"{options.id_prefix}{rel}:{dot}"
            chosen.append(BenchCase(cid, workspace, rel, dot, end, text[dot:end], end, spec.name, stop))
            if limit is not None and len(chosen) >= limit:
                break
        if not progressed:
            break
        round_ += 1
    chosen.sort(key=lambda c: (c.file, c.prefix_end))
    return chosen


def write_cases(cases: Iterable[BenchCase], out: Path, *, append: bool = False) -> int:
    """Write cases as JSONL; returns how many."""
    out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with out.open("a" if append else "w", encoding="utf-8") as fh:
        for c in cases:
            fh.write(json.dumps(c.to_json(), ensure_ascii=False) + "\n")
            n += 1
    return n

