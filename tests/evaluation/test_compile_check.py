"""CR checkers on known-good and known-bad completions, per available language."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mgd.evaluation.compile_check import CheckItem, available_checkers, check_items

TOOLS = available_checkers()


def _item(key: str, lang: str, ws: Path, file: str, original: str, body_old: str, body_new: str) -> CheckItem:
    start = original.index(body_old)
    completed = original[:start] + body_new + original[start + len(body_old) :]
    return CheckItem(key, lang, ws, file, original, completed,
                     (start, start + len(body_new)), (start, start + len(body_old)))


@pytest.mark.skipif(TOOLS["python"] is None, reason="pyright CLI not installed")
def test_python_pyright(tmp_path: Path) -> None:
    shutil.copytree(Path(__file__).parents[1] / "fixtures" / "pyproj", tmp_path / "p")
    ws = tmp_path / "p"
    text = (ws / "geometry" / "shapes.py").read_text()
    old = "return math.pi * self.radius**2"
    base = "# pre-existing error outside the method, not counted\nBAD = undefined_thing\n"
    (ws / "geometry" / "shapes.py").write_text(base + text)
    text = base + text
    items = [
        _item("good", "python", ws, "geometry/shapes.py", text, old, "return math.pi * self.diameter"),
        _item("attr", "python", ws, "geometry/shapes.py", text, old, "return math.pi * self.width**2"),
        _item("name", "python", ws, "geometry/shapes.py", text, old, "return math.pi * radius**2"),
        _item("call", "python", ws, "geometry/shapes.py", text, old, "return self.scale(1, 2, 3).radius"),
        _item("rel", "python", ws, "geometry/__init__.py", (ws / "geometry/__init__.py").read_text(),
              "", ""),
    ]
    res = check_items(items)
    assert res["good"].ok is True
    assert res["attr"].ok is False and "reportAttributeAccessIssue" in res["attr"].errors[0]
    assert res["name"].ok is False and "reportUndefinedVariable" in res["name"].errors[0]
    assert res["call"].ok is False and "reportCallIssue" in res["call"].errors[0]
    assert res["rel"].ok is True  # relative imports resolve next to the original


JAVA = """package demo;

import java.util.ArrayList;
import java.util.List;

public class Box {
    private final List<String> items = new ArrayList<>();

    public int count() {
        return items.size();
    }
}
"""
JAVA2 = """package demo;

public class User {
    int twice(Box b) {
        return b.count() * 2;
    }
}
"""


@pytest.mark.skipif(TOOLS["java"] is None, reason="javac not installed")
def test_java_javac(tmp_path: Path) -> None:
    src = tmp_path / "src" / "demo"
    src.mkdir(parents=True)
    (src / "Box.java").write_text(JAVA)
    (src / "User.java").write_text(JAVA2)
    # "torn" (a syntax error) and "user" (a type error) share one javac call: javac
    # attributes no file once one fails to parse, so the checker must compile again.
    items = [
        _item("torn", "java", tmp_path, "src/demo/Box.java", JAVA, "items.size();", "items.size("),
        _item("good", "java", tmp_path, "src/demo/Box.java", JAVA, "items.size();", "items.isEmpty() ? 0 : 1;"),
        _item("bad", "java", tmp_path, "src/demo/Box.java", JAVA, "items.size();", "items.length();"),
        _item("user", "java", tmp_path, "src/demo/User.java", JAVA2, "b.count()", "b.count"),
        _item("user2", "java", tmp_path, "src/demo/User.java", JAVA2, "b.count()", "b.count() + b.count()"),
    ]
    res = check_items(items)
    assert res["good"].ok is True and res["user2"].ok is True
    assert res["bad"].ok is False and "cannot find symbol" in res["bad"].errors[0]
    assert res["torn"].ok is False
    assert res["user"].ok is False and "cannot find symbol" in res["user"].errors[0]


GO_MOD = "module example.com/m\n\ngo 1.19\n"
GO = """package m

import "strings"

func Upper(s string) string {
\treturn strings.ToUpper(s)
}
"""


@pytest.mark.skipif(TOOLS["go"] is None, reason="go not installed")
def test_go_vet(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text(GO_MOD)
    (tmp_path / "m.go").write_text(GO)
    items = [
        _item("good", "go", tmp_path, "m.go", GO, "ToUpper(s)", "ToLower(s)"),
        _item("bad", "go", tmp_path, "m.go", GO, "ToUpper(s)", "Uppercase(s)"),
    ]
    res = check_items(items)
    assert res["good"].ok is True
    assert res["bad"].ok is False


TS = """export function upper(s: string): string {
  return s.toUpperCase();
}
"""


@pytest.mark.skipif(TOOLS["typescript"] is None, reason="tsc not installed")
def test_typescript_tsc(tmp_path: Path) -> None:
    (tmp_path / "a.ts").write_text(TS)
    items = [
        _item("good", "typescript", tmp_path, "a.ts", TS, "toUpperCase()", "toLowerCase()"),
        _item("bad", "typescript", tmp_path, "a.ts", TS, "toUpperCase()", "toUpper()"),
    ]
    res = check_items(items)
    assert res["good"].ok is True
    assert res["bad"].ok is False
