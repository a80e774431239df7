"""Helpers shared by the benchmarks: paths, the default model, held-out packages."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from mgd.evaluation.leakage import ExcludeList, read_exclude_list, training_list_of

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / ".cache"
RESULTS = ROOT / "benchmarks" / "results"

#: Pure-Python wheels that are not in tinycode-27m's training data (checked against
#: models/tinycode-27m/training_files.txt.gz by path suffix, vendored copies included:
#: more-itertools 10.7.0 was dropped, its three modules are setuptools' vendored copy there).
HELD_OUT_PACKAGES = [
    "click==8.1.8",
    "attrs==25.3.0",
    "itsdangerous==2.2.0",
    "jinja2==3.1.6",
    "markdown==3.8",
    "httpx==0.28.1",
    "marshmallow==3.26.1",
    "cachetools==5.5.2",
    "tomlkit==0.13.2",
    "humanize==4.12.3",
    "wcwidth==0.2.13",
]


def default_model() -> str:
    env = os.environ.get("MGD_MODEL")
    if env:
        return env
    return str(ROOT.parent / "shared" / "models" / "tinycode-27m")


def training_paths(model: str | Path) -> dict[str, list[str]]:
    """The model's training files (``training_files.txt.gz``), by file name; empty if absent."""
    import gzip

    listing = Path(model) / "training_files.txt.gz"
    by_name: dict[str, list[str]] = {}
    if listing.exists():
        with gzip.open(listing, "rt", encoding="utf-8") as fh:
            for line in fh:
                path = line.strip()
                if path:
                    by_name.setdefault(path.rsplit("/", 1)[-1], []).append(path)
    return by_name


def held_out(rel: str, training: dict[str, list[str]]) -> bool:
    """True unless a training file ends with ``/rel`` (matched by path suffix, so vendored
    copies such as ``setuptools/_vendor/more_itertools/more.py`` count)."""
    rel = rel.replace("\\", "/")
    return not any(p.endswith("/" + rel) for p in training.get(rel.rsplit("/", 1)[-1], ()))


def fetch_package(spec: str) -> Path:
    """Download (once) a pure-Python wheel and unpack it; returns the workspace."""
    name = spec.split("==")[0].replace("-", "_")
    dest = CACHE / "packages" / spec.replace("==", "-")
    if (dest / ".done").exists():
        return dest
    wheels = CACHE / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(wheels), spec],
        check=True,
    )
    version = spec.split("==")[1]
    (wheel,) = [w for w in wheels.glob("*.whl") if w.name.lower().startswith(f"{name.lower()}-{version}")]
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(dest)
    (dest / ".done").touch()
    return dest


def training_exclusion(model: str | None, *, enabled: bool = True) -> tuple[ExcludeList, dict[str, Any]]:
    """The model's training list (``training_files.txt*`` in its directory) as an exclude
    list, and its record for a result file; empty when disabled or when there is none."""
    listed = training_list_of(model)
    if listed is None or not enabled:
        why = "disabled (--no-exclude)" if listed is not None else f"no training list in {model}"
        return ExcludeList.of(()), {"applied": False, "reason": why}
    exclude = read_exclude_list(listed)
    return exclude, {"applied": True, "list": str(listed), "paths": len(exclude)}


def write_result(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        **payload,
    }
    out = RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    return out
