"""SIGTERM to ``mgd`` unwinds cleanly: its language server goes with it.

The default SIGTERM action kills the process on the spot, leaving language
servers, checker subprocesses and temporary directories behind; ``mgd`` turns it
into ``SystemExit`` so every ``with`` block runs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ._procs import children

pytestmark = pytest.mark.e2e


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_sigterm_stops_generation_and_its_language_server(tiny_model: Path, demo_project: Path) -> None:
    text = (demo_project / "report.py").read_text().splitlines()
    line = next(i for i, t in enumerate(text, 1) if "total += c." in t)
    col = text[line - 1].index("c.") + 3
    proc = subprocess.Popen(
        [sys.executable, "-m", "mgd.cli", "generate", "--model", str(tiny_model), "--workspace",
         str(demo_project), "--file", "report.py", "--line", str(line), "--column", str(col),
         "--max-new-tokens", "1500"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 240
        servers: set[int] = set()
        while time.monotonic() < deadline and not servers and proc.poll() is None:
            time.sleep(0.5)
            servers = {pid for pid in children(proc.pid)
                       if "jedi" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")}
        assert servers, "the language server never started"
        time.sleep(2.0)  # generating now
        assert proc.poll() is None, "generation ended before the signal: the test could not fail"
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        assert code == 128 + signal.SIGTERM, proc.stderr.read() if proc.stderr else code
        end = time.monotonic() + 15
        while time.monotonic() < end and any(_alive(pid) for pid in servers):
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in servers), "the language server outlived mgd"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
