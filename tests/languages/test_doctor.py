"""``mgd doctor`` against real servers: healthy ones pass, a missing one fails with a hint."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e


def doctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mgd.cli", "doctor", *args],
                          capture_output=True, text=True, timeout=600)


def test_doctor_reports_working_servers() -> None:
    run = doctor("--language", "python", "--language", "go", "--json")
    assert run.returncode == 0, run.stdout + run.stderr
    rows = {r["language"]: r for r in json.loads(run.stdout)}
    assert set(rows) == {"python", "go"}
    for row in rows.values():
        assert row["ok"] and row["installed"] and row["started"] and row["answered"]
        assert row["start_s"] > 0 and row["completion_ms"] > 0
    assert rows["go"]["server"] == "gopls"


def test_doctor_fails_with_an_install_hint(tmp_path: Path) -> None:
    config = tmp_path / "mgd.toml"
    config.write_text(
        '[servers.gopls]\ncommand = ["gopls-not-installed-here"]\ninstall_hint = "apt-get install gopls"\n',
        encoding="utf-8",
    )
    run = doctor("--language", "go", "--language", "python", "--config", str(config))
    assert run.returncode == 1, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert any(line.startswith("go") and "not installed" in line for line in lines), run.stdout
    assert "install: apt-get install gopls" in run.stdout
    assert any(line.startswith("python") and " ok " in line for line in lines), run.stdout


def test_doctor_rejects_unknown_language() -> None:
    run = doctor("--language", "cobol")
    assert run.returncode == 2
    assert "cobol" in run.stderr
