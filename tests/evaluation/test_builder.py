"""The DotPrompts-style case builder on fixture repositories."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mgd.engines.cases import Case
from mgd.evaluation.builder import BuildOptions, build_cases
from mgd.evaluation.leakage import ExcludeList
from monitors.errors import ConfigError

JAVA = """package demo;

import java.util.List;

public class Box {
    private final List<String> items;

    public Box(List<String> items) {
        this.items = items;
    }

    public int count() {
        String s = "a.b";  // a.c
        return items.size() + s.length();
    }

    static class Inner {
        void run(Box b) {
            if (b.count() > 0) {
                System.out.println(b.items.get(0));
            }
        }
    }
}
"""


SMALL = ("click/t*.py", "click/_*.py")


def test_python_cases_are_dots_inside_functions(click_project: Path) -> None:
    cases = build_cases(click_project, "python", BuildOptions(seed=0, max_cases=40, include=SMALL))
    assert len(cases) == 40
    assert len({c.file for c in cases}) >= 5  # spread over files
    for c in cases:
        text = (click_project / c.file).read_text(encoding="utf-8")
        assert text[c.prefix_end - 1] == "."
        assert c.suffix_start == c.method_end
        assert c.target == text[c.prefix_end : c.method_end]
        assert c.stop["kind"] == "indent"
        # the method ends where a line at or above the def's indentation starts (or the file ends)
        rest = text[c.method_end :].split("\n")[1:]
        nxt = next((line for line in rest if line.strip()), None)
        if nxt is not None:
            assert len(nxt) - len(nxt.lstrip()) <= c.stop["indent"]
        Case.from_json(c.to_json())  # the mgd generate --cases contract


def test_deterministic_per_seed(click_project: Path) -> None:
    a = build_cases(click_project, "python", BuildOptions(seed=3, max_cases=25, include=SMALL))
    b = build_cases(click_project, "python", BuildOptions(seed=3, max_cases=25, include=SMALL))
    c = build_cases(click_project, "python", BuildOptions(seed=4, max_cases=25, include=SMALL))
    assert a == b
    assert [x.id for x in a] != [x.id for x in c]


def test_filters(click_project: Path) -> None:
    only = build_cases(click_project, "python", BuildOptions(include=("click/termui.py",)))
    assert only and {c.file for c in only} == {"click/termui.py"}
    # an exclude list with longer paths (a training list) matches by path suffix
    none = build_cases(click_project, "python", BuildOptions(include=("click/termui.py",),
                                                              exclude=ExcludeList.of(["x/y/click/termui.py"])))
    assert none == []
    short = build_cases(click_project, "python", BuildOptions(max_target_chars=60, include=SMALL))
    assert short and all(len(c.target) <= 60 for c in short)


def test_java_cases_and_brace_depth(tmp_path: Path) -> None:
    (tmp_path / "src" / "demo").mkdir(parents=True)
    (tmp_path / "src" / "demo" / "Box.java").write_text(JAVA)
    cases = build_cases(tmp_path, "java")
    # one dot per method: constructor, count(), run() -> 3 cases; none in strings or comments
    assert len(cases) == 3
    inner_block = JAVA.index("{\n                System")
    for c in cases:
        assert JAVA[c.prefix_end - 1] == "." and JAVA[c.method_end - 1] == "}"
        assert c.stop == {"kind": "braces", "depth": 2 if c.prefix_end > inner_block else 1}
        assert '"' not in JAVA[JAVA.rfind("\n", 0, c.prefix_end) : c.prefix_end]


def test_bad_repo() -> None:
    with pytest.raises(ConfigError):
        build_cases("/nonexistent/repo", "python")
    with pytest.raises(ConfigError):
        build_cases(".", "cobol")


def test_cli_build(tmp_path: Path, click_project: Path) -> None:
    out = tmp_path / "cases.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "mgd.cli", "bench", "build", "--repo", str(click_project),
         "--language", "python", "--out", str(out), "--seed", "1", "--max", "7",
         "--include", "click/t*.py"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 7 and all({"target", "method_end", "stop"} <= r.keys() for r in rows)
