"""`mgd bench` as a user runs it: usage errors (exit 2, no torch), leak-free build records."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

MGD = [sys.executable, "-m", "mgd.cli"]
ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MGD, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def test_usage_errors_exit_2_without_loading_a_model(tmp_path: Path) -> None:
    cases = tmp_path / "c.jsonl"
    cases.write_text("")
    for args, says in [
        (["bench", "run", "--cases", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "o")], "no such file"),
        (["bench", "run", "--cases", str(cases), "--out", str(tmp_path / "o"), "--engine", "remote"], "--endpoint"),
        (["bench", "run", "--cases", str(cases), "--out", str(tmp_path / "o"), "--endpoint", "http://x"],
         "--engine remote"),
        (["bench", "build", "--repo", str(tmp_path / "none"), "--language", "python", "--out", str(cases)],
         "no such directory"),
    ]:
        proc = run(*args)
        assert proc.returncode == 2 and says in proc.stderr, (args, proc.stderr)
    probe = ("import sys; from mgd.cli.main import main; "
             f"rc = main(['bench', 'run', '--cases', {str(cases)!r}, '--out', 'o', '--engine', 'remote']); "
             "print(rc, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert out.stdout.split() == ["2", "False"], out.stderr


def test_build_leaves_the_models_training_files_out_and_says_so(tmp_path: Path) -> None:
    """Exclusion is by project: one listed file leaves its whole repository out."""
    repo = tmp_path / "root" / "pyproj"
    shutil.copytree(ROOT / "tests" / "fixtures" / "pyproj", repo)
    other = tmp_path / "root" / "other"
    other.mkdir()
    (other / "box.py").write_text("class Box:\n    def __init__(self):\n        self.items = []\n\n"
                                  "    def count(self):\n        return self.items.count(1)\n")
    model = tmp_path / "model"
    model.mkdir()
    with gzip.open(model / "training_files.txt.gz", "wt") as fh:
        fh.write("python/somewhere/geometry/shapes.py\n")
    out = tmp_path / "cases.jsonl"
    base = ["bench", "build", "--repo", str(repo), "--repo", str(other), "--language", "python", "--out", str(out),
            "--workspace-root", str(tmp_path / "root"), "--json", "--quiet"]
    proc = run(*base, "--model", str(model))
    assert proc.returncode == 0, proc.stderr
    record = json.loads(proc.stdout)["training_exclusion"]
    py_files = len([p for p in repo.rglob("*.py") if "__pycache__" not in p.parts])
    assert record["applied"] and record["scope"] == "project" and record["removed_cases"] >= 1
    assert record["excluded_files"] == py_files > 1 and record["excluded_projects"] == {str(repo): 1}
    cases = [json.loads(line) for line in out.read_text().splitlines()]
    assert cases and all(c["workspace"] == "other" for c in cases)
    meta = json.loads(out.with_name("cases.build.json").read_text())
    assert meta["training_exclusion"] == record and meta["cases"] == len(cases)
    # by file (the old rule): only the listed file goes
    proc = run(*base, "--model", str(model), "--exclude-scope", "file")
    assert json.loads(proc.stdout)["training_exclusion"]["excluded_files"] == 1
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert {c["workspace"] for c in kept} == {"pyproj", "other"} and all(c["file"] != "geometry/shapes.py" for c in kept)
    # --no-exclude keeps them, and says why nothing was left out
    proc = run(*base, "--model", str(model), "--no-exclude")
    assert proc.returncode == 0 and not json.loads(proc.stdout)["training_exclusion"]["applied"]
    assert any(json.loads(line)["file"] == "geometry/shapes.py" for line in out.read_text().splitlines())
