"""What the tests that start `mgd serve` share: a free port, waiting for /health, and
the processes below the server (its language servers, vLLM's engine)."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stderr_tail(proc: subprocess.Popen) -> str:
    return proc.stderr.read().decode(errors="replace")[-3000:] if proc.stderr is not None else ""


def wait_healthy(proc: subprocess.Popen, base: str, limit_s: float, *,
                 output: Callable[[], str] | None = None) -> None:
    """Wait until ``base``/health answers 200; fail the test (killing ``proc``) if the
    server exits or is not healthy within ``limit_s``. ``output``: the server's output
    for the message (default: the tail of its stderr pipe)."""
    tail = output or (lambda: _stderr_tail(proc))
    deadline = time.time() + limit_s
    while True:
        if proc.poll() is not None:
            pytest.fail(f"mgd serve exited: {tail()}")
        try:
            with urllib.request.urlopen(base + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if time.time() > deadline:
            proc.kill()
            pytest.fail(f"server did not become healthy in {limit_s:.0f} s")
        time.sleep(1)


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the children of each of its threads, recursively)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            kids = [int(k) for t in Path(f"/proc/{p}/task").iterdir() for k in (t / "children").read_text().split()]
        except OSError:
            continue
        out.extend(kids)
        todo.extend(kids)
    return out


def cmdline(pid: int) -> str:
    """The command line of ``pid`` ("" once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""
