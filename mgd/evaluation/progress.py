"""Progress of the long steps (build, generation, scoring): a tqdm bar on a terminal,
else a line every 10% on stderr (logs stay readable); nothing when disabled."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["progress_bar"]


class _Lines:
    """A tqdm-like counter that prints ``[desc] n/total`` every 10%."""

    def __init__(self, total: int, desc: str, quiet: bool) -> None:
        self.total, self.desc, self.n, self.quiet = total, desc, 0, quiet

    def update(self, n: int = 1) -> None:
        before = self.n
        self.n += n
        step = max(1, self.total // 10)
        if not self.quiet and (self.n >= self.total or self.n // step > before // step):
            print(f"[{self.desc}] {min(self.n, self.total)}/{self.total}", file=sys.stderr, flush=True)

    def close(self) -> None:
        pass

    def __enter__(self) -> _Lines:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress_bar(total: int, desc: str, enabled: bool = True, unit: str = "it") -> Any:
    """A bar with ``update(n)`` and ``close()`` (and a context manager)."""
    if enabled and sys.stderr.isatty():
        from tqdm import tqdm  # type: ignore[import-untyped]

        return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr)
    return _Lines(total, desc, quiet=not enabled)
