"""Fixtures for the lsp_bridge tests: the fixture project, fake servers, process checks."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lsp_bridge.servers import ServerSpec

TESTS = Path(__file__).resolve().parent.parent
PYPROJ = TESTS / "fixtures" / "pyproj"
FAKES = TESTS / "fake_servers"


def process_gone(pid: int) -> bool:
    """True if no process (not even a zombie) has ``pid``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def pyproj() -> Path:
    return PYPROJ


@pytest.fixture
def fake_log(tmp_path: Path) -> Path:
    return tmp_path / "received.jsonl"


@pytest.fixture
def fake_spec(fake_log: Path) -> Callable[..., ServerSpec]:
    """``fake_spec("hang", request_timeout_s=0.3, env={...})``: a spec running
    ``tests/fake_servers/<name>.py`` that logs what it receives to ``fake_log``."""

    def make(script: str, env: dict[str, str] | None = None, **kwargs: Any) -> ServerSpec:
        # Fakes analyse nothing: their first request gets the ordinary deadline.
        kwargs.setdefault("first_request_timeout_s", kwargs.get("request_timeout_s", 5.0))
        return ServerSpec(
            name=f"fake-{script}",
            language_id="python",
            command=(sys.executable, str(FAKES / f"{script}.py")),
            env={"FAKE_LSP_LOG": str(fake_log), **(env or {})},
            **kwargs,
        )

    return make


@pytest.fixture
def received(fake_log: Path) -> Callable[[], list[dict[str, Any]]]:
    """The messages the fake server received so far."""

    def read() -> list[dict[str, Any]]:
        if not fake_log.exists():
            return []
        return [json.loads(line) for line in fake_log.read_text().splitlines() if line]

    return read


def pids_with_env(entry: str) -> list[int]:
    """Pids of live (non-zombie) processes whose environment holds ``entry``
    (e.g. ``FAKE_LSP_LOG=<this test's log>``, unique per test)."""
    found = []
    needle = entry.encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environ and state != "Z":
            found.append(int(proc.name))
    return found
