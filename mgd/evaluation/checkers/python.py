"""Python: the file must parse (CPython's own parser) and pyright (basic mode) must
report no error the original does not have.

One pyright run per workspace checks the originals and every distinct completed
text, each written next to its original (``_mgdcrN_<name>.py``; the original too, as
``_mgdcrb_<name>.py``, so that both sides are modules of their own) so relative
imports resolve the same way. Every pyright error of the file counts, with its
rule (none for the parser's errors), not only those on the generated lines.

Every checked file (original or completed) gets one line appended that pyright must
flag (:data:`PROBE`); a file whose probe error does not come back was not analysed
(excluded, a ``# type: ignore`` at its top, ...), and its verdict is *unknown*: not
compiling, counted apart in the report.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from mgd.evaluation.checkers.base import CheckItem, CheckResult
from mgd.evaluation.diagnostics import Diagnostic, introduced, normalize_message, python_class
from monitors.errors import ConfigError

__all__ = ["check_python", "parse_errors", "python_errors"]

#: pyright settings for the original and every completed file alike.
PYRIGHT_CONFIG = {"typeCheckingMode": "basic"}
#: A line every analysed file reports an error on (basic mode: reportAssignmentType).
PROBE = '__mgd_probe__: int = ""\n'


def _with_probe(text: str) -> tuple[str, int]:
    """``text`` with :data:`PROBE` appended, and the probe's 0-based line."""
    body = text if not text or text.endswith("\n") else text + "\n"
    return body + PROBE, body.count("\n")


def parse_errors(text: str, name: str = "<file>") -> tuple[Diagnostic, ...]:
    """CPython's verdict: () when ``text`` parses, else its SyntaxError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences etc. are warnings, not errors
            ast.parse(text, filename=name)
    except SyntaxError as exc:
        return (Diagnostic("syntax", "SyntaxError", normalize_message(str(exc.msg)), (exc.lineno or 0) - 1),)
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        return (Diagnostic("syntax", "SyntaxError", normalize_message(str(exc)), -1),)
    return ()


def check_python(
    tool: str, items: Sequence[CheckItem], jobs: int, timeout_s: float, tick: Callable[[int], object] | None = None,
) -> dict[str, CheckResult]:
    """One pyright run per workspace (``jobs`` at a time); ``tick(n)`` after each."""
    by_ws: dict[Path, list[CheckItem]] = {}
    for it in items:
        by_ws.setdefault(it.workspace, []).append(it)
    out: dict[str, CheckResult] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as ex:
        for part in ex.map(lambda kv: _workspace(tool, kv[0], kv[1], timeout_s), by_ws.items()):
            out.update(part)
            if tick:
                tick(len(part))
    return out


def python_errors(tool: str, ws: Path, file: str, text: str, timeout_s: float) -> list[Diagnostic]:
    """Every error of one text as ``file`` in a copy of ``ws`` (pyright, then CPython's parser)."""
    with tempfile.TemporaryDirectory(prefix="mgd-cr-") as tmp:
        root = Path(tmp) / "ws"
        shutil.copytree(ws, root, ignore=shutil.ignore_patterns(".git", "__pycache__", "node_modules", ".venv"))
        (root / "pyrightconfig.json").write_text(json.dumps(PYRIGHT_CONFIG))
        path = root / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return _file_errors(_pyright(tool, root, [path], timeout_s), path, text, file)


def _workspace(tool: str, ws: Path, items: Sequence[CheckItem], timeout_s: float) -> dict[str, CheckResult]:
    with tempfile.TemporaryDirectory(prefix="mgd-cr-") as tmp:
        root = Path(tmp) / "ws"
        shutil.copytree(ws, root, ignore=shutil.ignore_patterns(".git", "__pycache__", "node_modules", ".venv"))
        (root / "pyrightconfig.json").write_text(json.dumps(PYRIGHT_CONFIG))
        variants: dict[tuple[str, str], Path] = {}  # (file, completed text) -> variant path
        bases: dict[str, Path] = {}  # file -> its original, checked as a sibling like the variants
        probes: dict[Path, int] = {}  # every checked path -> its probe line
        for it in items:
            orig = root / it.file
            if it.file not in bases:
                # The original is checked as a sibling too: a sibling is a module of its own
                # (errors that hang on the file being *the* module, such as a ``Self`` passed to
                # another module that expects the original class, would otherwise show only
                # in the completed file and count as new).
                bases[it.file] = orig.with_name(f"_mgdcrb_{orig.name}")
                text, probes[bases[it.file]] = _with_probe(it.original)
                bases[it.file].write_text(text, encoding="utf-8")
            slot = (it.file, it.completed)
            if slot not in variants:
                variants[slot] = orig.with_name(f"_mgdcr{len(variants)}_{orig.name}")
                text, probes[variants[slot]] = _with_probe(it.completed)
                variants[slot].write_text(text, encoding="utf-8")
        found = _pyright(tool, root, [*bases.values(), *variants.values()], timeout_s)
        seen = {p for p, line in probes.items() if _probe_seen(found, p, line)}
        out: dict[str, CheckResult] = {}
        for it in items:
            orig_path, base_path = root / it.file, bases[it.file]
            variant = variants[(it.file, it.completed)]
            base = _file_errors(found, base_path, it.original, it.file, rename=(base_path.stem, orig_path.stem),
                                probe=probes[base_path])
            got = _file_errors(found, variant, it.completed, it.file, rename=(variant.stem, orig_path.stem),
                               probe=probes[variant])
            errors = introduced(base, got)
            unseen = [n for n, p in (("original", base_path), ("completed file", variant)) if p not in seen]
            if unseen and not any(e.kind == "syntax" for e in errors):
                out[it.key] = CheckResult.unseen(it.key, f"pyright did not analyse the {' and '.join(unseen)}",
                                                 len(base))
            else:
                out[it.key] = CheckResult(it.key, not errors, errors, len(base))
        return out


def _probe_seen(found: dict[str, list[dict]], path: Path, line: int) -> bool:
    return any(int(d["range"]["start"]["line"]) == line for d in found.get(str(path.resolve()), []))


def _pyright(tool: str, root: Path, files: list[Path], timeout_s: float) -> dict[str, list[dict]]:
    proc = subprocess.run(
        [tool, "--outputjson", *map(str, files)],
        cwd=root, capture_output=True, text=True, timeout=timeout_s, check=False,
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"pyright gave no JSON (rc {proc.returncode}): {proc.stderr[-500:]}") from exc
    found: dict[str, list[dict]] = {}
    for d in report.get("generalDiagnostics", []):
        if d.get("severity") == "error":
            found.setdefault(str(Path(d["file"]).resolve()), []).append(d)
    return found


def _file_errors(
    found: dict[str, list[dict]], path: Path, text: str, name: str, rename: tuple[str, str] | None = None,
    probe: int | None = None,
) -> list[Diagnostic]:
    """pyright's errors of one file (but the probe's), plus CPython's SyntaxError when
    pyright saw no parse error."""
    out: list[Diagnostic] = []
    for d in found.get(str(path.resolve()), []):
        if probe is not None and int(d["range"]["start"]["line"]) >= probe:
            continue
        message = d["message"]
        if rename:
            message = message.replace(*rename)
        rule = d.get("rule") or ""
        out.append(Diagnostic(python_class(rule, message), rule or "syntax", normalize_message(message),
                              int(d["range"]["start"]["line"])))
    if not any(d.kind == "syntax" for d in out):
        out.extend(parse_errors(text, name))
    return out
