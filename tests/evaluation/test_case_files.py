"""The committed case files: each agrees with its build record, and the Java splits built from
Debian source packages name workspaces that ``benchmarks/_common.py fetch-debian`` recreates."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import re
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

from mgd.engines.cases import Case

ROOT = Path(__file__).resolve().parents[2]
CASES = ROOT / "benchmarks" / "cases"
CASE_FILES = sorted([*CASES.glob("*-cases.jsonl"), *(CASES / "dev").glob("*-cases.jsonl")])
JAVA_REPORT = CASES / "java-report-cases.jsonl"
JAVA_DEV2 = CASES / "dev" / "java-dev2-cases.jsonl"


def _common() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_common", ROOT / "benchmarks" / "_common.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cases(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _record(path: Path) -> dict:
    return json.loads(path.with_name(path.name.removesuffix(".jsonl") + ".build.json").read_text())


@pytest.mark.parametrize("path", CASE_FILES, ids=lambda p: p.name)
def test_cases_match_their_build_record(path: Path) -> None:
    cases, record = _cases(path), _record(path)
    for c in cases:
        Case.from_json(c)
    assert record["cases"] == len(cases) == len({c["id"] for c in cases})
    assert record["files"] == len({(c["workspace"], c["file"]) for c in cases})
    assert record["repositories"] == len({c["workspace"] for c in cases})
    assert record["training_exclusion"]["applied"]


def _repos(record: dict) -> list[str]:
    return re.findall(r"--repo (\S+)", record["command"])


@pytest.mark.parametrize(("path", "names"), [(JAVA_REPORT, "JAVA_REPORT_SOURCES"), (JAVA_DEV2, "JAVA_DEV2_SOURCES")],
                         ids=["report", "dev2"])
def test_java_splits_name_the_debian_recipe(path: Path, names: str) -> None:
    common = _common()
    packages = getattr(common, names)
    wanted = [common.debian_workspace(p).relative_to(common.CACHE).as_posix() for p in packages]
    cases, record = _cases(path), _record(path)
    assert sorted({c["workspace"] for c in cases}) == sorted(wanted)  # every project has cases
    assert _repos(record) == [f"benchmarks/.cache/{w}" for w in wanted]
    assert record["training_exclusion"].get("scope") == "project"
    assert record["training_exclusion"]["excluded_projects"] == {}
    assert all(c["language"] == "java" for c in cases)


def test_java_report_and_dev_splits_share_no_project() -> None:
    common = _common()
    assert not set(common.JAVA_REPORT_SOURCES) & set(common.JAVA_DEV2_SOURCES)
    assert set(common.JAVA_REPORT_SOURCES) | set(common.JAVA_DEV2_SOURCES) == set(common.DEBIAN_JAVA_SOURCES)
    report = {c["workspace"] for c in _cases(JAVA_REPORT)}
    dev = {c["workspace"] for c in _cases(JAVA_DEV2)}
    assert report and dev and not report & dev


@pytest.mark.parametrize("path", [JAVA_REPORT, JAVA_DEV2], ids=["report", "dev2"])
def test_fetched_java_workspaces_hold_the_cases(path: Path) -> None:
    """Where the workspaces are fetched: each case's target is the file's text at its offsets,
    and the workspace records the pinned package it came from (no build file in it)."""
    common = _common()
    by_ws = {common.debian_workspace(p).relative_to(common.CACHE).as_posix(): p for p in common.DEBIAN_JAVA_SOURCES}
    cases = _cases(path)
    missing = {c["workspace"] for c in cases if not (common.CACHE / c["workspace"] / ".done").exists()}
    if missing:
        pytest.skip(f"not fetched (python benchmarks/_common.py fetch-debian): {sorted(missing)}")
    for ws in {c["workspace"] for c in cases}:
        source = json.loads((common.CACHE / ws / ".source.json").read_text())
        version, orig, digest = common.DEBIAN_JAVA_SOURCES[by_ws[ws]]
        assert (source["package"], source["version"], source["orig"], source["sha256"]) == (by_ws[ws], version, orig,
                                                                                          digest)
        assert not (common.CACHE / ws / "pom.xml").exists()
    for c in cases:
        text = (common.CACHE / c["workspace"] / c["file"]).read_text(encoding="utf-8")
        assert text[c["prefix_end"]:c["suffix_start"]] == c["target"], c["id"]


def _tarball(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_fetch_debian_source_keeps_only_the_main_java_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    common = _common()
    data = _tarball({
        "demo-1.0/pom.xml": "<project/>",
        "demo-1.0/src/main/java/org/demo/A.java": "package org.demo;\nclass A {}\n",
        "demo-1.0/src/main/java/org/demo/notes.txt": "x",
        "demo-1.0/src/test/java/org/demo/ATest.java": "package org.demo;\nclass ATest {}\n",
    })
    mirror = tmp_path / "mirror"
    (mirror / "pool" / "main" / "libd" / "libdemo-java").mkdir(parents=True)
    (mirror / "pool" / "main" / "libd" / "libdemo-java" / "libdemo-java_1.0.orig.tar.gz").write_bytes(data)
    monkeypatch.setenv("MGD_DEBIAN_MIRROR", mirror.as_uri())
    monkeypatch.setattr(common, "CACHE", tmp_path / "cache")
    digest = hashlib.sha256(data).hexdigest()
    monkeypatch.setattr(common, "DEBIAN_JAVA_SOURCES", {"libdemo-java": ("1.0-3", "libdemo-java_1.0.orig.tar.gz",
                                                                         digest)})
    ws = common.fetch_debian_source("libdemo-java")
    assert ws == tmp_path / "cache" / "debian" / "libdemo-java-1.0"
    files = sorted(p.relative_to(ws).as_posix() for p in ws.rglob("*") if p.is_file())
    assert files == [".done", ".source.json", "org/demo/A.java"]
    record = json.loads((ws / ".source.json").read_text())
    assert record["version"] == "1.0-3" and record["sha256"] == digest and record["files"] == 1
    assert common.fetch_debian_source("libdemo-java") == ws  # once

    monkeypatch.setattr(common, "DEBIAN_JAVA_SOURCES", {"libdemo-java": ("2.0-1", "libdemo-java_1.0.orig.tar.gz",
                                                                         "0" * 64)})
    with pytest.raises(RuntimeError, match="SHA-256"):
        common.fetch_debian_source("libdemo-java")
