"""The cases-JSONL contract of ``mgd generate --cases``.

A case: ``{"id", "workspace", "file", "prefix_end", "suffix_start"}`` with
character offsets into the file on disk; the text between them is the hole the
model fills. The model sees the prefix; the language server sees
prefix + generation + suffix. Extra keys (e.g. ``target``) are kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from monitors.errors import ConfigError, MgdError

__all__ = ["Case", "CaseResult", "iter_cases", "load_case_text", "run_batched"]

P = TypeVar("P")

_REQUIRED = ("id", "workspace", "file", "prefix_end", "suffix_start")


@dataclass(frozen=True, slots=True)
class Case:
    id: str
    workspace: str
    file: str
    prefix_end: int
    suffix_start: int
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, obj: Any, *, base: Path | None = None) -> Case:
        """Validate one decoded JSON value; raises ConfigError with the reason."""
        if not isinstance(obj, dict):
            raise ConfigError("a case must be a JSON object")
        missing = [k for k in _REQUIRED if k not in obj]
        if missing:
            raise ConfigError(f"case is missing {missing}")
        for k in ("prefix_end", "suffix_start"):
            if not isinstance(obj[k], int) or isinstance(obj[k], bool) or obj[k] < 0:
                raise ConfigError(f"{k} must be a non-negative integer")
        if obj["suffix_start"] < obj["prefix_end"]:
            raise ConfigError("suffix_start must be >= prefix_end")
        for k in ("workspace", "file"):
            if not isinstance(obj[k], str) or not obj[k]:
                raise ConfigError(f"{k} must be a non-empty string")
        workspace = obj["workspace"]
        if base is not None and not Path(workspace).is_absolute():
            workspace = str((base / workspace).resolve())
        extra = {k: v for k, v in obj.items() if k not in _REQUIRED}
        return cls(str(obj["id"]), workspace, obj["file"], obj["prefix_end"], obj["suffix_start"], extra)


@dataclass(slots=True)
class CaseResult:
    """One result line; ``error`` is set (and completion empty) for a bad case."""

    id: str
    completion: str = ""
    tokens: int = 0
    elapsed_s: float = 0.0
    stats: dict[str, float | int] = field(default_factory=dict)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "completion": self.completion,
            "tokens": self.tokens,
            "elapsed_s": round(self.elapsed_s, 4),
            "stats": self.stats,
        }
        if self.error is not None:
            out["error"] = self.error
        return out


def iter_cases(path: Path, base: Path | None = None) -> Iterator[Case | CaseResult]:
    """Cases from a JSONL file; a bad line yields a CaseResult with its error.

    A relative ``workspace`` is resolved against ``base`` (default: the file's directory).
    """
    base = path.resolve().parent if base is None else base.resolve()
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield CaseResult(id=f"line{lineno}", error=f"invalid JSON: {exc}")
                continue
            try:
                yield Case.from_json(obj, base=base)
            except MgdError as exc:
                cid = str(obj.get("id", f"line{lineno}")) if isinstance(obj, dict) else f"line{lineno}"
                yield CaseResult(id=cid, error=str(exc))


def load_case_text(case: Case, file_path: Path) -> tuple[str, str]:
    """(prefix, suffix) of a case, read from the file on disk."""
    try:
        text = file_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{case.file} is not UTF-8: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read {case.file}: {exc}") from exc
    if case.suffix_start > len(text):
        raise ConfigError(f"suffix_start {case.suffix_start} is past the end of {case.file} ({len(text)} chars)")
    return text[: case.prefix_end], text[case.suffix_start :]


def run_batched(
    cases: Iterable[Case | CaseResult],
    prepare: Callable[[Case], P],
    generate: Callable[[Sequence[P]], list[CaseResult]],
    batch_size: int,
    on_result: Callable[[CaseResult], None] | None = None,
) -> list[CaseResult]:
    """Cases in, results out, in input order, ``batch_size`` prompts per ``generate`` call.

    Items that already are results (bad input lines) and cases whose ``prepare``
    raises an :class:`MgdError` become error results in their place; the rest of
    the batch goes on.
    """
    out: list[CaseResult] = []
    batch: list[P] = []
    pending: list[CaseResult | None] = []  # None marks a slot filled by the batch

    def flush() -> None:
        produced = iter(generate(batch)) if batch else iter(())
        for slot in pending:
            res = next(produced) if slot is None else slot
            out.append(res)
            if on_result:
                on_result(res)
        batch.clear()
        pending.clear()

    for item in cases:
        if isinstance(item, CaseResult):
            pending.append(item)
        else:
            try:
                batch.append(prepare(item))
                pending.append(None)
            except MgdError as exc:
                pending.append(CaseResult(id=item.id, error=str(exc)))
        if len(batch) >= batch_size:
            flush()
    flush()
    return out
