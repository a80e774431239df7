"""Go and TypeScript: the checker runs on a copy of the workspace holding the file.

Go: ``go build -gcflags=-e`` on the file's package (every compile error, not the
first ten), then ``go vet`` when it builds. TypeScript: ``tsc --noEmit
--skipLibCheck --pretty false`` (the workspace's ``tsconfig.json`` when it has one,
else the file alone). Errors anywhere in the checked program count, keyed by file
and message (line numbers ignored); each original is checked once.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mgd.evaluation.checkers.base import CheckItem, CheckResult
from mgd.evaluation.diagnostics import Diagnostic, go_class, introduced, normalize_message, typescript_class

__all__ = ["check_copies", "go_errors", "parse_go_output", "parse_tsc_output", "tsc_errors"]

Run = Callable[[CheckItem, "str | None"], list[Diagnostic]]

_GO_LINE = re.compile(r"^(?:vet: )?(?P<path>[^\s:]+\.go):(?P<line>\d+)(?::\d+)?: (?P<msg>.*)$")
_TSC_LINE = re.compile(r"^(?P<path>.+?)\((?P<line>\d+),\d+\): error (?P<code>TS\d+): (?P<msg>.*)$")


def check_copies(
    items: Sequence[CheckItem], jobs: int, run: Run, tick: Callable[[int], object] | None = None,
) -> dict[str, CheckResult]:
    """Per item a checked copy of the workspace; each original once; ``tick(1)`` per item."""
    originals = {(it.workspace, it.file): it for it in items}

    def one(it: CheckItem) -> list[Diagnostic]:
        got = run(it, it.completed)
        if tick:
            tick(1)
        return got

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        base = dict(zip(originals, ex.map(lambda it: run(it, None), originals.values()), strict=True))
        done = list(ex.map(one, items))
    out: dict[str, CheckResult] = {}
    for it, got in zip(items, done, strict=True):
        before = base[(it.workspace, it.file)]
        errors = introduced(before, got)
        out[it.key] = CheckResult(it.key, not errors, errors, len(before))
    return out


def _copy_with(it: CheckItem, tmp: Path, text: str | None) -> Path:
    root = tmp / "ws"
    shutil.copytree(it.workspace, root, ignore=shutil.ignore_patterns(".git", "node_modules"), symlinks=True)
    if text is not None:
        (root / it.file).write_text(text, encoding="utf-8")
    return root


def parse_go_output(text: str) -> list[Diagnostic]:
    """Errors in ``go build``/``go vet`` output (continuation lines are part of the message)."""
    out: list[Diagnostic] = []
    for line in text.splitlines():
        m = _GO_LINE.match(line)
        if m:
            path = m.group("path").removeprefix("./")
            msg = m.group("msg").strip()
            out.append(Diagnostic(go_class(msg), "go", normalize_message(f"{path}: {msg}"), int(m.group("line")) - 1))
        elif out and line.startswith("\t"):
            last = out[-1]
            out[-1] = Diagnostic(last.kind, last.rule, normalize_message(f"{last.message} | {line.strip()}"), last.line)
    return out


def go_errors(tool: str, it: CheckItem, text: str | None, timeout_s: float) -> list[Diagnostic]:
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOPROXY": "off"}
    pkg = "./" + str(Path(it.file).parent)
    with tempfile.TemporaryDirectory(prefix="mgd-go-") as tmp:
        root = _copy_with(it, Path(tmp), text)
        build = subprocess.run([tool, "build", "-o", os.devnull, "-gcflags=-e", pkg], cwd=root, capture_output=True,
                               text=True, timeout=timeout_s, check=False, env=env)
        if build.returncode != 0:
            return parse_go_output(build.stdout + build.stderr) or [_tool_failure("go build", build)]
        vet = subprocess.run([tool, "vet", pkg], cwd=root, capture_output=True, text=True, timeout=timeout_s,
                             check=False, env=env)
        if vet.returncode != 0:
            found = parse_go_output(vet.stdout + vet.stderr)
            return [Diagnostic(d.kind, "go vet", d.message, d.line) for d in found] or [_tool_failure("go vet", vet)]
        return []


def parse_tsc_output(text: str) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for line in text.splitlines():
        m = _TSC_LINE.match(line)
        if m:
            code = m.group("code")
            out.append(Diagnostic(typescript_class(code), code,
                                  normalize_message(f"{m.group('path')}: {m.group('msg')}"), int(m.group("line")) - 1))
    return out


def tsc_errors(tool: str, it: CheckItem, text: str | None, timeout_s: float) -> list[Diagnostic]:
    with tempfile.TemporaryDirectory(prefix="mgd-tsc-") as tmp:
        root = _copy_with(it, Path(tmp), text)
        cmd = [tool, "--noEmit", "--skipLibCheck", "--pretty", "false"]
        if not (root / "tsconfig.json").exists():
            cmd.append(it.file)
        proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=timeout_s, check=False)
        if proc.returncode == 0:
            return []
        return parse_tsc_output(proc.stdout + proc.stderr) or [_tool_failure("tsc", proc)]


def _tool_failure(name: str, proc: subprocess.CompletedProcess[str]) -> Diagnostic:
    """A failing run whose output names no file error (counted as one ``other`` error)."""
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
    return Diagnostic("other", name, normalize_message(tail[0]))
