"""Process accounting from /proc (Linux): children, open file descriptors, memory."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["children", "open_fds", "rss_mb"]


def _state_and_ppid(pid: str) -> tuple[str, int] | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1])


def children(pid: int | None = None) -> set[int]:
    """Live (non-zombie) descendants of ``pid`` (default: this process)."""
    root = os.getpid() if pid is None else pid
    by_parent: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (info := _state_and_ppid(entry)) is not None and info[0] != "Z":
            by_parent.setdefault(info[1], []).append(int(entry))
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in by_parent.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def open_fds() -> int:
    """How many file descriptors this process holds."""
    return len(os.listdir("/proc/self/fd"))


def rss_mb() -> float:
    """This process's resident set size in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")
