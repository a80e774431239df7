"""CPU sets for language servers: parse ``"2-3,6"``, pin a process or the calling thread.

On a GPU host the model runs on the accelerator and the CPU cores are free for
language servers; reserving some of them (``mgd serve --lsp-cpus``,
``[servers.NAME] cpus`` in ``mgd.toml``) keeps the servers off the cores of the
engine's own threads and vice versa. A server is pinned right after it is
spawned, so the processes it starts later (jedi's inference subprocess, a
JVM's threads) inherit the set. Linux only (``os.sched_setaffinity``);
elsewhere a CPU set is a :class:`~monitors.errors.ConfigError`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from monitors.errors import ConfigError

__all__ = ["available_cpus", "format_cpus", "parse_cpus", "pin_process", "pin_thread"]


def parse_cpus(value: str | Iterable[int], where: str = "CPU list") -> frozenset[int]:
    """``"0-3,6"`` (or an iterable of ids) as a set of CPU ids; ConfigError when malformed."""
    if isinstance(value, str):
        out: set[int] = set()
        for part in value.replace(" ", "").split(","):
            lo, dash, hi = part.partition("-")
            if not lo.isdigit() or (dash and not hi.isdigit()):
                raise ConfigError(f"{where}: {value!r} is not a CPU list like '2-3,6'")
            a, b = int(lo), int(hi) if dash else int(lo)
            if b < a:
                raise ConfigError(f"{where}: range {part!r} runs backwards")
            out.update(range(a, b + 1))
        cpus = frozenset(out)
    else:
        if not isinstance(value, Iterable):
            raise ConfigError(f"{where}: expected a CPU list like '2-3,6' or a list of CPU ids, got {value!r}")
        ids = list(value)
        if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in ids):
            raise ConfigError(f"{where}: CPU ids must be non-negative integers")
        cpus = frozenset(ids)
    if not cpus:
        raise ConfigError(f"{where}: empty CPU list")
    count = os.cpu_count() or 1
    if max(cpus) >= count:
        raise ConfigError(f"{where}: CPU {max(cpus)} does not exist (this machine has CPUs 0-{count - 1})")
    if not hasattr(os, "sched_setaffinity"):
        raise ConfigError(f"{where}: CPU sets need Linux (os.sched_setaffinity)")
    return cpus


def format_cpus(cpus: Iterable[int]) -> str:
    """The shortest ``"0-3,6"`` form of a set of CPU ids."""
    ids = sorted(set(cpus))
    parts: list[str] = []
    i = 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        parts.append(str(ids[i]) if i == j else f"{ids[i]}-{ids[j]}")
        i = j + 1
    return ",".join(parts)


def available_cpus() -> frozenset[int]:
    """The CPUs this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return frozenset(os.sched_getaffinity(0))
    return frozenset(range(os.cpu_count() or 1))


def pin_process(pid: int, cpus: frozenset[int]) -> None:
    """Restrict process ``pid`` (and the children it starts later) to ``cpus``."""
    try:
        os.sched_setaffinity(pid, cpus)
    except OSError as exc:
        raise ConfigError(f"cannot pin process {pid} to CPUs {format_cpus(cpus)}: {exc.strerror}") from exc


def pin_thread(cpus: frozenset[int]) -> None:
    """Restrict the calling thread (Linux: affinity is per thread) to ``cpus``."""
    pin_process(0, cpus)
