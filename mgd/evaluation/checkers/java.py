"""Java: javac must report no error for the completed file that it does not report
for the original.

JDK-style layouts (``<module>/module-info.java`` in the workspace) compile with
``--patch-module <module>=DIR -implicit:none`` against the running JDK; other
projects with ``-sourcepath`` at the source root implied by the package. Many files
go into one javac call (each class at most once per call) and errors are read per
file from javac's standard output: the header line, the source line and caret
(where the error is: a caret on a member access makes "cannot find symbol" an
unknown member), and the detail lines (``symbol:``, ``location:``), which are part
of the message that errors are matched by. javac attributes no file once any file
of the call fails to parse, so files without errors are compiled again until a
call reports none. An error javac does not tie to a file of the call (``error: ...``
without a path, or a path not in the call) leaves the files of that call without a
trustworthy verdict: they are *unknown* (not compiling, counted apart).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from mgd.evaluation.checkers.base import CheckItem, CheckResult
from mgd.evaluation.diagnostics import Diagnostic, introduced, java_class, normalize_message

__all__ = ["check_java", "java_errors", "parse_javac_output"]

_HEADER = re.compile(r"^(?P<path>.+?\.java):(?P<line>\d+): (?P<sev>error|warning): (?P<msg>.*)$")
_CARET = re.compile(r"^\s*\^\s*$")
_SUMMARY = re.compile(r"^\d+ (errors?|warnings?)$|^Note: |^warning: |^error: ")
_PACKAGE = re.compile(r"^\s*package\s+([\w.]+)\s*;", re.MULTILINE)
_GLOBAL_ERROR = re.compile(r"^error: (?P<msg>.*)$")
#: The rule of the marker a file gets when javac's verdict on it is unknown.
UNKNOWN = "javac-unknown"


def parse_javac_output(text: str) -> list[tuple[str, Diagnostic]]:
    """(path as javac printed it, error) for every error in javac's output."""
    out: list[tuple[str, Diagnostic]] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = _HEADER.match(lines[i])
        i += 1
        if m is None:
            continue
        body: list[str] = []
        while i < len(lines) and not _HEADER.match(lines[i]) and not _SUMMARY.match(lines[i]):
            body.append(lines[i])
            i += 1
        if m.group("sev") != "error":
            continue
        caret = next((k for k, line in enumerate(body) if _CARET.match(line)), None)
        dotted = False
        details = body
        if caret is not None:
            col = body[caret].index("^")
            source = body[caret - 1] if caret > 0 else ""
            dotted = _dotted(source, col)
            details = body[caret + 1 :]
        message = " | ".join([m.group("msg").strip(), *(d.strip() for d in details if d.strip())])
        out.append((m.group("path"), Diagnostic(java_class(m.group("msg").strip(), dotted), "javac",
                                                normalize_message(message), int(m.group("line")) - 1)))
    return out


def _dotted(source: str, col: int) -> bool:
    """The caret is on a member access: on its ``.`` or on a name right after a ``.``."""
    if col < len(source) and source[col] == ".":
        return True
    j = col - 1
    while j >= 0 and source[j] in " \t":
        j -= 1
    return j >= 0 and source[j] == "."


def _layout(it: CheckItem) -> tuple[str | None, str]:
    """(module name or None, path of the file below its source root)."""
    first, _, rest = it.file.partition("/")
    if rest and (it.workspace / first / "module-info.java").exists():
        return first, rest
    m = _PACKAGE.search(it.original)
    pkg = m.group(1).replace(".", "/") + "/" if m else ""
    return None, pkg + Path(it.file).name


def check_java(
    tool: str, items: Sequence[CheckItem], timeout_s: float, tick: Callable[[int], object] | None = None,
) -> dict[str, CheckResult]:
    """javac over every distinct text; ``tick(n)`` as items get their verdicts."""
    # Every distinct text once: the originals and the completed variants.
    entries: dict[tuple[Path, str, str], CheckItem] = {}
    for it in items:
        entries.setdefault((it.workspace, it.file, it.original), it)
        entries.setdefault((it.workspace, it.file, it.completed), it)
    verdicts: dict[tuple[Path, str, str], list[Diagnostic]] = {}
    pending = list(entries)
    ticked = 0
    while pending:
        batch: list[tuple[Path, str, str]] = []
        rest: list[tuple[Path, str, str]] = []
        used: set[tuple[Path, str]] = set()
        for e in pending:
            (rest if e[:2] in used else batch).append(e)
            used.add(e[:2])
        while batch:
            found = _javac_batch(tool, [(e, entries[e]) for e in batch], timeout_s)
            bad = {k for k, v in found.items() if v}
            for key, errs in found.items():
                if key in bad or not bad:
                    verdicts[key] = errs
            batch = [e for e in batch if e not in verdicts]
        pending = rest
        if tick:
            done = sum(1 for it in items if (it.workspace, it.file, it.completed) in verdicts)
            tick(done - ticked)
            ticked = done
    out: dict[str, CheckResult] = {}
    for it in items:
        base = verdicts[(it.workspace, it.file, it.original)]
        got = verdicts[(it.workspace, it.file, it.completed)]
        unknown = [d.message for d in (*base, *got) if d.rule == UNKNOWN]
        if unknown:
            out[it.key] = CheckResult.unseen(it.key, unknown[0], len(base))
            continue
        errors = introduced(base, got)
        out[it.key] = CheckResult(it.key, not errors, errors, len(base))
    return out


def java_errors(tool: str, it: CheckItem, timeout_s: float) -> list[Diagnostic]:
    """javac's errors for ``it.completed`` alone."""
    key = (it.workspace, it.file, it.completed)
    return _javac_batch(tool, [(key, it)], timeout_s)[key]


def _javac_batch(
    tool: str, batch: Sequence[tuple[tuple[Path, str, str], CheckItem]], timeout_s: float
) -> dict[tuple[Path, str, str], list[Diagnostic]]:
    with tempfile.TemporaryDirectory(prefix="mgd-javac-") as tmp:
        src, classes = Path(tmp) / "src", Path(tmp) / "classes"
        classes.mkdir()
        paths: dict[str, tuple[Path, str, str]] = {}
        modules: set[str] = set()
        sourcepaths: set[str] = set()
        for key, it in batch:
            module, rel = _layout(it)
            dest = src / (module or "_") / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(key[2], encoding="utf-8")
            paths[str(dest)] = key
            if module:
                modules.add(module)
            else:
                root = it.workspace / it.file
                for _ in Path(rel).parts:
                    root = root.parent
                sourcepaths.add(str(root.resolve()))  # absolute: javac runs in the temp dir
        cmd = [tool, "-nowarn", "-implicit:none", "-Xmaxerrs", "100000", "-encoding", "UTF-8", "-d", str(classes)]
        for m in sorted(modules):
            cmd += ["--patch-module", f"{m}={src / m}"]
        if sourcepaths:
            cmd += ["-sourcepath", os.pathsep.join([str(src / "_"), *sorted(sourcepaths)])]
        # cwd: javac writes a crash dump (javac.<date>.args) to its working directory
        proc = subprocess.run([*cmd, *paths], capture_output=True, text=True, timeout=timeout_s, check=False, cwd=tmp)
        output = proc.stdout + proc.stderr
        errors: dict[tuple[Path, str, str], list[Diagnostic]] = {k: [] for k in paths.values()}
        unmapped: list[str] = []
        for path, diag in parse_javac_output(output):
            key = paths.get(str(Path(path).resolve())) or paths.get(path)
            if key is not None:
                errors[key].append(diag)
            else:
                unmapped.append(f"{path}: {diag.message}")
        unmapped += [m.group("msg") for line in output.splitlines() if (m := _GLOBAL_ERROR.match(line))]
        if proc.returncode != 0 and not unmapped and not any(errors.values()):
            unmapped.append(f"javac exited with {proc.returncode} without errors: {output[-300:].strip()}")
        if unmapped and not any(errors.values()):
            # javac's verdict on the files it reported nothing for is unknown (with file
            # errors too, the files without any are compiled again: see check_java)
            note = Diagnostic("other", UNKNOWN, normalize_message(f"unknown: {unmapped[0]}"), -1)
            for errs in errors.values():
                if not errs:
                    errs.append(note)
        return errors
