"""Training-data exclusion: path-suffix matching, model lists, builder and runner defaults."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pytest

from mgd.evaluation.builder import BuildOptions, build_cases, excluded_candidates
from mgd.evaluation.leakage import ExcludeList, read_exclude_list, training_files_in, training_list_of
from mgd.evaluation.runner import drop_excluded, load_bench_cases

TRAINING = [
    "python/setuptools/setuptools/_vendor/more_itertools/more.py",
    "java/jdk/java.base/java/util/Formatter.java",
    "python/ipython/IPython/extensions/__init__.py",
]


def test_suffix_match_counts_vendored_copies_only() -> None:
    ex = ExcludeList.of(TRAINING)
    assert ex.contains("more_itertools/more.py")  # setuptools' vendored copy
    assert ex.contains("src/more_itertools/more.py")  # a src/ layout
    assert ex.contains("java.base/java/util/Formatter.java")
    assert not ex.contains("more_itertools/recipes.py")
    assert not ex.contains("markdown/extensions/__init__.py")  # same tail, another package
    assert not ex.contains("ore_itertools/more.py")  # a boundary, not a string suffix


def test_model_training_list(tmp_path: Path, tiny_model: Path) -> None:
    listed = training_list_of(tiny_model)
    assert listed is not None and listed.name == "training_files.txt.gz"
    assert read_exclude_list(listed).contains("more_itertools/more.py")  # the leak
    assert training_list_of(tmp_path) is None and training_list_of(None) is None
    (tmp_path / "training_files.txt").write_text("a/b.py\n")
    assert training_list_of(tmp_path) == tmp_path / "training_files.txt"


def test_builder_and_runner_leave_listed_files_out(tmp_path: Path) -> None:
    repo = tmp_path / "repos" / "pyproj"
    shutil.copytree(Path(__file__).parents[1] / "fixtures" / "pyproj", repo)
    listing = tmp_path / "training_files.txt.gz"
    with gzip.open(listing, "wt") as fh:
        fh.write("python/vendor/geometry/shapes.py\n")
    ex = read_exclude_list(listing)
    everything = build_cases(repo, "python", BuildOptions(seed=0))
    assert any(c.file == "geometry/shapes.py" for c in everything)
    # by project (the default): one listed file leaves the whole repository out
    whole = BuildOptions(seed=0, exclude=ex, workspace_root=tmp_path / "repos")
    assert build_cases(repo, "python", whole) == []
    assert training_files_in(repo, ex) == ["geometry/shapes.py"]
    files, candidates = excluded_candidates(repo, "python", whole)
    assert files == len({p for p in repo.rglob("*.py") if "__pycache__" not in p.parts})
    assert candidates >= len({c.method_end for c in everything})
    # by file
    opts = BuildOptions(seed=0, exclude=ex, workspace_root=tmp_path / "repos", by_project=False)
    kept = build_cases(repo, "python", opts)
    assert kept and all(c.file != "geometry/shapes.py" for c in kept)
    assert all(c.workspace == "pyproj" for c in kept)  # relative to the workspace root
    files, candidates = excluded_candidates(repo, "python", opts)
    assert files == 1 and candidates == sum(1 for c in everything if c.file == "geometry/shapes.py")

    # a cases file built without the exclusion: the run drops the listed file's cases
    cases_path = tmp_path / "cases.jsonl"
    cases_path.write_text("".join(json.dumps({**c.to_json(), "workspace": "pyproj"}) + "\n" for c in everything))
    loaded = load_bench_cases(cases_path, workspace_root=tmp_path / "repos")
    assert {c.workspace for c in loaded} == {str((tmp_path / "repos" / "pyproj").resolve())}
    run, dropped = drop_excluded(loaded, ex, by_project=False)
    assert {c.file for c in dropped} == {"geometry/shapes.py"} and len(run) + len(dropped) == len(everything)
    run, dropped = drop_excluded(loaded, ex)  # by project: the whole workspace
    assert run == [] and len(dropped) == len(everything)


def test_jdk_is_one_project_of_the_training_list(tiny_model: Path) -> None:
    """The issue's Java leak: the report split's files were not listed, but 195 files of the
    same packages were; by project, a JDK source tree is training data as a whole."""
    listed = read_exclude_list(training_list_of(tiny_model))
    jdk = Path(__file__).parents[2] / "benchmarks" / ".cache" / "jdk17"
    if not (jdk / "java.base").is_dir():
        pytest.skip("the JDK 17 sources are not unpacked in benchmarks/.cache/jdk17")
    found = training_files_in(jdk, listed)
    assert sum(f.startswith("java.base/java/util/") for f in found) > 0
    assert build_cases(jdk, "java", BuildOptions(include=("java.base/java/util/*",), exclude=listed)) == []
