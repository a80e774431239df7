"""Strict CR checkers on known-good and known-bad completions, per available language.

The completed file must parse and add no error over the original under the same
checker, errors matched by rule and message with line numbers ignored; every error
has a class (unknown member, undefined name, wrong call, incompatible types, syntax,
other).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mgd.evaluation.compile_check import CheckItem, available_checkers, check_items
from mgd.evaluation.diagnostics import Diagnostic, introduced, normalize_message

TOOLS = available_checkers()


def _item(key: str, lang: str, ws: Path, file: str, original: str, body_old: str, body_new: str) -> CheckItem:
    start = original.index(body_old)
    completed = original[:start] + body_new + original[start + len(body_old) :]
    return CheckItem(key, lang, ws, file, original, completed)


def _kinds(res) -> set[str]:
    return {e.kind for e in res.errors}


def test_introduced_is_a_multiset_difference_by_rule_and_message() -> None:
    a = Diagnostic("undefined_name", "r", "x is not defined", 3)
    a_moved = Diagnostic("undefined_name", "r", "x is not defined", 40)
    b = Diagnostic("unknown_member", "r2", "no y", 5)
    assert introduced([a], [a_moved]) == ()  # same error on another line: not new
    assert introduced([a], [a_moved, a]) == (a,)  # one more of the same: new
    assert introduced([a, b], [b]) == ()  # an error fixed is not an error added
    assert normalize_message("declared at line 12, see m.go:3:4") == "declared at line N, see m.go:N"


@pytest.mark.skipif(TOOLS["python"] is None, reason="pyright CLI not installed")
def test_python_strict(tmp_path: Path) -> None:
    shutil.copytree(Path(__file__).parents[1] / "fixtures" / "pyproj", tmp_path / "p")
    ws = tmp_path / "p"
    text = (ws / "geometry" / "shapes.py").read_text()
    old = "return math.pi * self.radius**2"
    text += "\n# a pre-existing error, not counted\nBAD = undefined_thing\n"
    (ws / "geometry" / "shapes.py").write_text(text)
    f = "geometry/shapes.py"
    items = [
        _item("good", "python", ws, f, text, old, "return math.pi * self.diameter"),
        _item("attr", "python", ws, f, text, old, "return math.pi * self.width**2"),
        _item("name", "python", ws, f, text, old, "return math.pi * radius**2"),
        _item("call", "python", ws, f, text, old, "return self.scale(1, 2, 3).radius"),
        _item("types", "python", ws, f, text, old, "return math.pi + 'x'"),
        # does not parse: the old CR (three rules on the generated lines) counted it as compiling
        _item("syntax", "python", ws, f, text, old, "if self.radius:"),
        # the same pre-existing error once more, elsewhere: one more than the original has
        _item("again", "python", ws, f, text, old, "return undefined_thing"),
        _item("rel", "python", ws, "geometry/__init__.py", (ws / "geometry/__init__.py").read_text(), "", ""),
    ]
    res = check_items(items)
    assert res["good"].ok is True and res["good"].original_errors == 1
    assert res["rel"].ok is True  # relative imports resolve next to the original
    assert res["attr"].ok is False and _kinds(res["attr"]) == {"unknown_member"}
    assert res["name"].ok is False and _kinds(res["name"]) == {"undefined_name"}
    assert res["call"].ok is False and "wrong_call" in _kinds(res["call"])
    assert res["types"].ok is False and _kinds(res["types"]) == {"incompatible_types"}
    assert res["syntax"].ok is False and "syntax" in _kinds(res["syntax"])
    assert res["again"].ok is False and _kinds(res["again"]) == {"undefined_name"}


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
    box, user = "src/demo/Box.java", "src/demo/User.java"
    # "torn" (a syntax error) and "user" (a type error) share one javac call: javac
    # attributes no file once one fails to parse, so the checker must compile again.
    items = [
        _item("torn", "java", tmp_path, box, JAVA, "items.size();", "items.size("),
        _item("good", "java", tmp_path, box, JAVA, "items.size();", "items.isEmpty() ? 0 : 1;"),
        _item("member", "java", tmp_path, box, JAVA, "items.size();", "items.length();"),
        _item("name", "java", tmp_path, box, JAVA, "items.size();", "count + 1;"),
        _item("call", "java", tmp_path, box, JAVA, "items.size();", "items.size(1);"),
        _item("types", "java", tmp_path, box, JAVA, "items.size();", "items.get(0);"),
        _item("user", "java", tmp_path, user, JAVA2, "b.count()", "b.count"),
        _item("user2", "java", tmp_path, user, JAVA2, "b.count()", "b.count() + b.count()"),
    ]
    res = check_items(items)
    assert res["good"].ok is True and res["user2"].ok is True
    assert res["torn"].ok is False and _kinds(res["torn"]) == {"syntax"}
    assert _kinds(res["member"]) == {"unknown_member"} and "symbol: method length()" in res["member"].errors[0].message
    assert _kinds(res["name"]) == {"undefined_name"}
    assert _kinds(res["call"]) == {"wrong_call"}
    assert _kinds(res["types"]) == {"incompatible_types"}
    assert res["user"].ok is False and _kinds(res["user"]) == {"unknown_member"}


GO_MOD = "module example.com/m\n\ngo 1.19\n"
GO = """package m

import "strings"

func Upper(s string) string {
\treturn strings.ToUpper(s)
}
"""


@pytest.mark.skipif(TOOLS["go"] is None, reason="go not installed")
def test_go(tmp_path: Path) -> None:
    (tmp_path / "go.mod").write_text(GO_MOD)
    (tmp_path / "m.go").write_text(GO)
    items = [
        _item("good", "go", tmp_path, "m.go", GO, "ToUpper(s)", "ToLower(s)"),
        _item("member", "go", tmp_path, "m.go", GO, "ToUpper(s)", "Uppercase(s)"),
        _item("call", "go", tmp_path, "m.go", GO, "ToUpper(s)", "ToUpper(s, s)"),
        _item("syntax", "go", tmp_path, "m.go", GO, "ToUpper(s)", "ToUpper(s +"),
    ]
    res = check_items(items)
    assert res["good"].ok is True
    assert _kinds(res["member"]) == {"unknown_member"}
    assert _kinds(res["call"]) == {"wrong_call"}
    assert _kinds(res["syntax"]) == {"syntax"}


TS = """export function upper(s: string): string {
  return s.toUpperCase();
}
"""


@pytest.mark.skipif(TOOLS["typescript"] is None, reason="tsc not installed")
def test_typescript_tsc(tmp_path: Path) -> None:
    (tmp_path / "a.ts").write_text(TS)
    items = [
        _item("good", "typescript", tmp_path, "a.ts", TS, "toUpperCase()", "toLowerCase()"),
        _item("member", "typescript", tmp_path, "a.ts", TS, "toUpperCase()", "toUpper()"),
        _item("name", "typescript", tmp_path, "a.ts", TS, "s.toUpperCase()", "t"),
        _item("syntax", "typescript", tmp_path, "a.ts", TS, "toUpperCase()", "toUpperCase(("),
    ]
    res = check_items(items)
    assert res["good"].ok is True
    assert _kinds(res["member"]) == {"unknown_member"}
    assert _kinds(res["name"]) == {"undefined_name"}
    assert _kinds(res["syntax"]) == {"syntax"}


@pytest.mark.skipif(TOOLS["python"] is None, reason="pyright CLI not installed")
def test_python_file_pyright_did_not_analyse_is_unknown(tmp_path: Path) -> None:
    """A ``# type: ignore`` at the top makes pyright report nothing for the file: the old
    judge saw "no new error" and passed a completion with an unknown member."""
    ws = tmp_path / "p"
    ws.mkdir()
    text = "# type: ignore\nclass A:\n    def f(self) -> int:\n        return len('ab')\n"
    (ws / "a.py").write_text(text)
    seen = "class A:\n    def f(self) -> int:\n        return len('ab')\n"
    (ws / "b.py").write_text(seen)
    items = [
        _item("hidden", "python", ws, "a.py", text, "len('ab')", "self.nothing_here"),
        _item("seen", "python", ws, "b.py", seen, "len('ab')", "self.nothing_here"),
        _item("ok", "python", ws, "b.py", seen, "len('ab')", "len('abc')"),
    ]
    res = check_items(items)
    assert res["hidden"].ok is False and res["hidden"].unknown and "did not analyse" in res["hidden"].note
    assert res["seen"].ok is False and not res["seen"].unknown and _kinds(res["seen"]) == {"unknown_member"}
    assert res["ok"].ok is True and not res["ok"].unknown and res["ok"].original_errors == 0


BROKEN = """package demo;

public class Broken {
    int size() { return undefinedThing; }
}
"""


@pytest.mark.skipif(TOOLS["java"] is None, reason="javac not installed")
def test_java_error_in_no_checked_file_is_unknown(tmp_path: Path) -> None:
    """A completion that pulls in a broken class from the source path: javac's error is in
    a file outside the call, so the completed file's verdict is unknown (it used to stop
    the run with "javac failed without file errors")."""
    src = tmp_path / "src" / "demo"
    src.mkdir(parents=True)
    (src / "Box.java").write_text(JAVA)
    (src / "Broken.java").write_text(BROKEN)
    box = "src/demo/Box.java"
    items = [
        _item("pulls", "java", tmp_path, box, JAVA, "items.size();", "new Broken().size();"),
        _item("good", "java", tmp_path, box, JAVA, "items.size();", "items.isEmpty() ? 0 : 1;"),
    ]
    res = check_items(items)
    assert res["good"].ok is True and not res["good"].unknown
    assert res["pulls"].ok is False and res["pulls"].unknown and "undefinedThing" in res["pulls"].note


@pytest.mark.skipif(TOOLS["python"] is None, reason="pyright CLI not installed")
def test_python_module_identity_errors_are_not_new(tmp_path: Path) -> None:
    """A completed file is checked as a sibling module (``_mgdcrN_core.py``): an error that
    exists only because it is not *the* module (its class is not the one another module
    imports) must not count as new, so the original is checked as a sibling too."""
    ws = tmp_path / "w"
    (ws / "pkg").mkdir(parents=True)
    (ws / "pkg" / "__init__.py").write_text("")
    (ws / "pkg" / "other.py").write_text(
        "from __future__ import annotations\nfrom typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pkg.core import Node\n\n\ndef show(node: Node) -> str:\n    return 'n'\n")
    core = ("from pkg.other import show\n\n\nclass Node:\n    def draw(self) -> str:\n        return show(self)\n\n"
            "    def size(self) -> int:\n        return 1\n")
    (ws / "pkg" / "core.py").write_text(core)
    items = [
        _item("same", "python", ws, "pkg/core.py", core, "return 1", "return 2"),
        _item("bad", "python", ws, "pkg/core.py", core, "return 1", "return self.width"),
    ]
    res = check_items(items)
    assert res["same"].ok is True, res["same"].errors
    assert res["bad"].ok is False and _kinds(res["bad"]) == {"unknown_member"}
