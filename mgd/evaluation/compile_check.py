"""Compile / type-check rate (CR): does the completed file check in its project?

Each :class:`CheckItem` is a completed file (original prefix + generated method
+ original suffix) and the original. Checkers run a real tool over copies, many
files per process, and return a :class:`CheckResult` per item:

- **Python** (pyright CLI ``--outputjson``): only errors *introduced in the
  generated region* count: pyright's ``reportAttributeAccessIssue`` (unknown
  attribute), ``reportUndefinedVariable`` (undefined name) and
  ``reportCallIssue`` (wrong call), minus the same errors in the original method
  text. Variants are written next to the original file, so relative imports work.
- **Java** (javac): the file must compile. JDK-style layouts
  (``<module>/module-info.java`` in the workspace) compile with
  ``--patch-module <module>=DIR``; other projects with ``-sourcepath`` at the
  source root implied by the package. Many variants go into one javac call (each
  class at most once per call); errors are attributed per file, and since javac
  skips type attribution once any file fails to parse, the files without errors
  are compiled again until a call reports none.
- **Go** (``go vet`` on a copy of the package) and **TypeScript**
  (``tsc --noEmit`` on a copy of the workspace), when those tools are installed.

A file whose original does not check is not scored (``ok`` is None).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from lsp_bridge.servers import find_program
from monitors.errors import ConfigError

__all__ = [
    "PYRIGHT_RULES",
    "CheckItem",
    "CheckResult",
    "available_checkers",
    "check_items",
]

#: pyright rules counted as errors introduced by a generation.
PYRIGHT_RULES = frozenset({"reportAttributeAccessIssue", "reportUndefinedVariable", "reportCallIssue"})


@dataclass(frozen=True, slots=True)
class CheckItem:
    """A completed file to check; ``region`` is the generated text's span in ``completed``.

    ``original_region`` is the ground truth's span in ``original``.
    """

    key: str
    language: str
    workspace: Path
    file: str
    original: str
    completed: str
    region: tuple[int, int]
    original_region: tuple[int, int]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """``ok``: checks (None: not scored because the original fails); ``errors``: messages."""

    key: str
    ok: bool | None
    errors: tuple[str, ...] = ()


def available_checkers() -> dict[str, str | None]:
    """Language -> the tool used (None: not installed)."""
    return {
        "python": find_program("pyright"),
        "java": find_program("javac"),
        "go": find_program("go"),
        "typescript": find_program("tsc"),
    }


def check_items(items: Sequence[CheckItem], *, jobs: int = 2, timeout_s: float = 1800.0) -> dict[str, CheckResult]:
    """Check every item (grouped per language and workspace); key -> result."""
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
            out.update(_check_python(tool, group, jobs, timeout_s))
        elif lang == "java":
            out.update(_check_java(tool, group, timeout_s))
        elif lang == "go":
            out.update(_check_copies(group, jobs, partial(_go_vet, tool, timeout_s=timeout_s)))
        else:
            out.update(_check_copies(group, jobs, partial(_tsc, tool, timeout_s=timeout_s)))
    return out


def _check_copies(items: Sequence[CheckItem], jobs: int, run) -> dict[str, CheckResult]:  # type: ignore[no-untyped-def]
    """Per item a checked copy of the workspace; each original is checked once."""
    originals = {(it.workspace, it.file): it for it in items}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        base = dict(zip(originals, ex.map(lambda it: run(it, None), originals.values()), strict=True))
        done = list(ex.map(lambda it: run(it, it.completed), items))
    out: dict[str, CheckResult] = {}
    for it, (ok, log) in zip(items, done, strict=True):
        if not base[(it.workspace, it.file)][0]:
            out[it.key] = CheckResult(it.key, None, ("original does not check",))
        else:
            out[it.key] = CheckResult(it.key, ok, () if ok else (log,))
    return out


def _lines(text: str, span: tuple[int, int]) -> range:
    first = text.count("\n", 0, span[0])
    last = text.count("\n", 0, span[1])
    return range(first, last + 1)


# -- Python --------------------------------------------------------------------


def _check_python(tool: str, items: Sequence[CheckItem], jobs: int, timeout_s: float) -> dict[str, CheckResult]:
    by_ws: dict[Path, list[CheckItem]] = {}
    for it in items:
        by_ws.setdefault(it.workspace, []).append(it)
    out: dict[str, CheckResult] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        for part in ex.map(lambda kv: _pyright_workspace(tool, kv[0], kv[1], timeout_s), by_ws.items()):
            out.update(part)
    return out


def _pyright_workspace(tool: str, ws: Path, items: Sequence[CheckItem], timeout_s: float) -> dict[str, CheckResult]:
    with tempfile.TemporaryDirectory(prefix="mgd-cr-") as tmp:
        root = Path(tmp) / "ws"
        shutil.copytree(ws, root, ignore=shutil.ignore_patterns(".git", "__pycache__", "node_modules", ".venv"))
        (root / "pyrightconfig.json").write_text(json.dumps({"typeCheckingMode": "basic"}))
        variants: dict[str, Path] = {}  # completed text -> variant file
        where: dict[str, Path] = {}
        for n, it in enumerate(items):
            orig = root / it.file
            if it.completed not in variants:
                v = orig.with_name(f"_mgdcr{n}_{orig.name}")
                v.write_text(it.completed, encoding="utf-8")
                variants[it.completed] = v
            where[it.key] = variants[it.completed]
        originals = sorted({root / it.file for it in items})
        files = [str(p) for p in [*originals, *variants.values()]]
        proc = subprocess.run(
            [tool, "--outputjson", *files],
            cwd=root, capture_output=True, text=True, timeout=timeout_s, check=False,
        )
        try:
            report = json.loads(proc.stdout)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"pyright gave no JSON (rc {proc.returncode}): {proc.stderr[-500:]}") from exc
        diags: dict[str, list[tuple[int, str]]] = {}
        for d in report.get("generalDiagnostics", []):
            if d.get("severity") != "error" or d.get("rule") not in PYRIGHT_RULES:
                continue
            path = str(Path(d["file"]).resolve())
            diags.setdefault(path, []).append((d["range"]["start"]["line"], f"{d['rule']}: {d['message']}"))
        out: dict[str, CheckResult] = {}
        for it in items:
            base = Counter(
                m for line, m in diags.get(str((root / it.file).resolve()), [])
                if line in _lines(it.original, it.original_region)
            )
            got = Counter(
                m for line, m in diags.get(str(where[it.key].resolve()), [])
                if line in _lines(it.completed, it.region)
            )
            introduced = got - base
            out[it.key] = CheckResult(it.key, not introduced, tuple(sorted(introduced)))
        return out


# -- Java ----------------------------------------------------------------------

_JAVA_ERROR = re.compile(r"^(?P<path>.+?\.java):(?P<line>\d+): error: (?P<msg>.*)$", re.MULTILINE)
_PACKAGE = re.compile(r"^\s*package\s+([\w.]+)\s*;", re.MULTILINE)


def _java_layout(it: CheckItem) -> tuple[str | None, str]:
    """(module name or None, path of the file below its source root)."""
    first, _, rest = it.file.partition("/")
    if rest and (it.workspace / first / "module-info.java").exists():
        return first, rest
    m = _PACKAGE.search(it.original)
    pkg = m.group(1).replace(".", "/") + "/" if m else ""
    return None, pkg + Path(it.file).name


def _check_java(tool: str, items: Sequence[CheckItem], timeout_s: float) -> dict[str, CheckResult]:
    # Originals first (to know which files are scorable), then variants in batches.
    entries: list[tuple[str, CheckItem, str]] = []  # (entry key, item, text)
    seen_orig: set[tuple[Path, str]] = set()
    for it in items:
        if (it.workspace, it.file) not in seen_orig:
            seen_orig.add((it.workspace, it.file))
            entries.append((f"orig:{it.workspace}:{it.file}", it, it.original))
    texts: dict[str, str] = {}
    for it in items:
        texts.setdefault(f"var:{it.workspace}:{it.file}:{hash(it.completed)}", it.completed)
    for key, text in texts.items():
        it = next(i for i in items if f"var:{i.workspace}:{i.file}:{hash(i.completed)}" == key)
        entries.append((key, it, text))
    verdicts: dict[str, tuple[str, ...]] = {}
    pending = entries
    while pending:
        batch: list[tuple[str, CheckItem, str]] = []
        rest: list[tuple[str, CheckItem, str]] = []
        used: set[tuple[Path, str]] = set()
        for e in pending:
            slot = (e[1].workspace, e[1].file)
            (rest if slot in used else batch).append(e)
            used.add(slot)
        # javac skips attribution of every file once any file has a syntax error, so
        # files with errors are settled and the others are compiled again without them.
        while batch:
            found = _javac_batch(tool, batch, timeout_s)
            bad = {k for k, v in found.items() if v}
            for key in found:
                if key in bad or not bad:
                    verdicts[key] = found[key]
            batch = [e for e in batch if e[0] not in verdicts]
        pending = rest
    out: dict[str, CheckResult] = {}
    for it in items:
        if verdicts[f"orig:{it.workspace}:{it.file}"]:
            out[it.key] = CheckResult(it.key, None, ("original does not compile",))
            continue
        errs = verdicts[f"var:{it.workspace}:{it.file}:{hash(it.completed)}"]
        out[it.key] = CheckResult(it.key, not errs, errs)
    return out


def _javac_batch(
    tool: str, batch: Sequence[tuple[str, CheckItem, str]], timeout_s: float
) -> dict[str, tuple[str, ...]]:
    with tempfile.TemporaryDirectory(prefix="mgd-javac-") as tmp:
        src, classes = Path(tmp) / "src", Path(tmp) / "classes"
        classes.mkdir()
        paths: dict[str, str] = {}
        modules: set[str] = set()
        sourcepaths: set[str] = set()
        for key, it, text in batch:
            module, rel = _java_layout(it)
            dest = src / (module or "_") / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text, encoding="utf-8")
            paths[str(dest)] = key
            if module:
                modules.add(module)
            else:
                root = it.workspace / it.file
                for _ in Path(rel).parts:
                    root = root.parent
                sourcepaths.add(str(root))
        cmd = [tool, "-nowarn", "-implicit:none", "-Xmaxerrs", "100000", "-encoding", "UTF-8", "-d", str(classes)]
        for m in sorted(modules):
            cmd += ["--patch-module", f"{m}={src / m}"]
        if sourcepaths:
            cmd += ["-sourcepath", os.pathsep.join([str(src / "_"), *sorted(sourcepaths)])]
        proc = subprocess.run([*cmd, *paths], capture_output=True, text=True, timeout=timeout_s, check=False)
        errors: dict[str, list[str]] = {k: [] for k in paths.values()}
        for m in _JAVA_ERROR.finditer(proc.stdout + proc.stderr):
            key = paths.get(str(Path(m.group("path")).resolve())) or paths.get(m.group("path"))
            if key is not None:
                errors[key].append(f"{m.group('line')}: {m.group('msg')}")
        if proc.returncode != 0 and not any(errors.values()):
            raise ConfigError(f"javac failed without file errors: {(proc.stdout + proc.stderr)[-800:]}")
        return {k: tuple(v) for k, v in errors.items()}


# -- Go and TypeScript -----------------------------------------------------------


def _copy_with(it: CheckItem, tmp: Path, text: str | None) -> Path:
    root = tmp / "ws"
    shutil.copytree(it.workspace, root, ignore=shutil.ignore_patterns(".git", "node_modules"), symlinks=True)
    if text is not None:
        (root / it.file).write_text(text, encoding="utf-8")
    return root


def _run_ok(cmd: list[str], cwd: Path, timeout_s: float, env: dict[str, str] | None = None) -> tuple[bool, str]:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False, env=env)
    return proc.returncode == 0, (proc.stdout + proc.stderr)[-2000:]


def _go_vet(tool: str, it: CheckItem, text: str | None, timeout_s: float) -> tuple[bool, str]:
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off"}
    with tempfile.TemporaryDirectory(prefix="mgd-go-") as tmp:
        root = _copy_with(it, Path(tmp), text)
        return _run_ok([tool, "vet", "./" + str(Path(it.file).parent)], root, timeout_s, env)


def _tsc(tool: str, it: CheckItem, text: str | None, timeout_s: float) -> tuple[bool, str]:
    with tempfile.TemporaryDirectory(prefix="mgd-tsc-") as tmp:
        root = _copy_with(it, Path(tmp), text)
        cmd = [tool, "--noEmit", "--skipLibCheck"]
        if not (root / "tsconfig.json").exists():
            cmd.append(it.file)
        return _run_ok(cmd, root, timeout_s)
