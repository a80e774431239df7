"""The wheel on its own, as a new user installs it (``make test-wheel``; not in the main run).

Builds the wheel from the sources, installs it into a fresh venv outside the
repository (``torch==2.13.0`` first, from this machine's wheels, then the wheel with
every extra but ``vllm``), and runs ``mgd`` from an empty directory outside the
repository: ``--version``, ``doctor``, ``demo``, ``generate``. The commands see a PATH
without the repository's venvs, so servers must come from the new venv.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import mgd

ROOT = Path(__file__).resolve().parents[2]
TORCH = os.environ.get("TORCH", "torch==2.13.0")
PYRIGHT = os.environ.get("PYRIGHT", "pyright@1.1.414")
EXTRAS = "hf,jedi,grammars,test,java,rust,eval,remote"  # every extra but vllm (its own venv covers it)
#: What the build needs from the checkout (nothing else is copied).
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "monitors", "lsp_bridge", "mgd",
           "examples/demo_project")

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Installed:
    venv: Path
    cwd: Path  # an empty directory outside the repository, where every command runs
    env: dict[str, str]
    timings: dict[str, float]

    def mgd(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.venv / "bin" / "mgd"), *args], cwd=self.cwd, env=self.env,
                              capture_output=True, text=True, timeout=timeout)


def _run(cmd: list[str], **kw) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kw)
    assert proc.returncode == 0, f"{cmd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("wheel")
    assert not base.resolve().is_relative_to(ROOT)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    src = base / "src"
    for name in SOURCES:
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy2
        copy(ROOT / name, src / name, **({"ignore": shutil.ignore_patterns("__pycache__")}
                                         if (ROOT / name).is_dir() else {}))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(base / "dist"), str(src)], timeout=600)
    (wheel,) = (base / "dist").glob("mgd-*.whl")
    assert wheel.name.startswith(f"mgd-{mgd.__version__}-")
    timings["build"] = time.perf_counter() - t

    t = time.perf_counter()
    venv = base / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], timeout=300)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    _run([*pip, TORCH], timeout=900)
    timings["torch"] = time.perf_counter() - t
    t = time.perf_counter()
    _run([*pip, f"{wheel}[{EXTRAS}]"], timeout=900)
    timings["wheel"] = time.perf_counter() - t

    cwd = base / "cwd"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MGD_MODEL")}
    env["PATH"] = os.pathsep.join([str(venv / "bin"), "/usr/local/bin", "/usr/bin", "/bin"])
    env["HF_HUB_OFFLINE"] = "1"
    yield Installed(venv, cwd, env, timings)
    print("wheel check timings (s):", json.dumps({k: round(v, 1) for k, v in timings.items()}))
    assert list(cwd.iterdir()) == [], "mgd wrote into the current directory"


def test_version(installed: Installed) -> None:
    run = installed.mgd("--version")
    assert run.returncode == 0 and run.stdout.strip() == f"mgd {mgd.__version__}", run.stderr
    # imported from the venv, not from the checkout
    where = subprocess.run([str(installed.venv / "bin" / "python"), "-c", "import mgd; print(mgd.__file__)"],
                           cwd=installed.cwd, env=installed.env, capture_output=True, text=True, timeout=60)
    assert Path(where.stdout.strip()).is_relative_to(installed.venv), where.stdout + where.stderr


def test_doctor_python(installed: Installed) -> None:
    t = time.perf_counter()
    run = installed.mgd("doctor", "--language", "python", "--json")
    installed.timings["doctor"] = time.perf_counter() - t
    assert run.returncode == 0, run.stdout + run.stderr
    (row,) = json.loads(run.stdout)
    assert row["server"] == "jedi" and row["ok"], row


def test_doctor_tells_how_to_get_pyright_and_finds_it_in_the_venv(installed: Installed) -> None:
    run = installed.mgd("doctor", "--server", "pyright")
    assert run.returncode == 1, run.stdout + run.stderr
    hint = f"npm install --prefix {installed.venv / 'lsp'} pyright"
    assert "not installed" in run.stdout and hint in run.stdout, run.stdout
    if shutil.which("npm", path=installed.env["PATH"]) is None:
        pytest.fail("npm is needed to follow the hint (make test installs Node.js with the language servers)")
    t = time.perf_counter()
    _run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(installed.venv / "lsp"), PYRIGHT],
         env=installed.env, timeout=600)
    installed.timings["npm pyright"] = time.perf_counter() - t
    run = installed.mgd("doctor", "--server", "pyright", "--json")
    assert run.returncode == 0 and json.loads(run.stdout)[0]["ok"], run.stdout + run.stderr
    checkers = subprocess.run(
        [str(installed.venv / "bin" / "python"), "-c",
         "import json; from mgd.evaluation.compile_check import available_checkers; "
         "print(json.dumps(available_checkers()))"],
        cwd=installed.cwd, env=installed.env, capture_output=True, text=True, timeout=60)
    assert json.loads(checkers.stdout)["python"] == str(installed.venv / "lsp" / "node_modules" / ".bin" / "pyright")


def test_demo(installed: Installed, tiny_model: Path) -> None:
    t = time.perf_counter()
    run = installed.mgd("demo", "--model", str(tiny_model), "--json")
    installed.timings["demo"] = time.perf_counter() - t
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    out = json.loads(run.stdout)
    assert Path(out["project"]).is_relative_to(installed.venv)  # the demo project from the wheel
    totals = out["totals"]
    assert totals["mgd"]["checked"] >= 5 and totals["mgd"]["exist"] == totals["mgd"]["checked"], totals
    assert totals["plain"]["exist"] < totals["plain"]["checked"], totals  # the demo shows a difference


def test_generate(installed: Installed, tiny_model: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "shapes.py").write_text(
        "class Circle:\n    def __init__(self, radius: float) -> None:\n        self.radius = radius\n\n"
        "    def area(self) -> float:\n        return 3.14159 * self.radius ** 2\n\n\n"
        "def total(circles: list[Circle]) -> float:\n    s = 0.0\n    for c in circles:\n        s += c.\n"
        "    return s\n", encoding="utf-8")
    t = time.perf_counter()
    run = installed.mgd("generate", "--model", str(tiny_model), "--workspace", str(project), "--file", "shapes.py",
                        "--line", "12", "--max-new-tokens", "8", "--stop", "\\n", "--json")
    installed.timings["generate"] = time.perf_counter() - t
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)
    assert result["stats"]["triggers"] >= 1  # more dots may follow
    assert re.match(r"\w*", result["completion"]).group() in {"radius", "area"}, result  # the member it starts with
