"""Enum cases (Java, Go, TypeScript) and Java ``new`` end to end: the tiny model and
real servers (JDT LS, gopls, typescript-language-server).

For each, a prompt where the unguided model breaks the rule and the guided one does
not. The rule is checked here independently of the monitor: against the constants
declared in the fixture's source files, or (Java ``new``) the project's files and the
server's own answer for the very name written.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from lsprotocol.types import CompletionItemKind

from mgd.engines.generate import GenerateOptions, HFGenerator, Prompt
from mgd.session import SessionConfig
from monitors.languages import get_language

pytestmark = pytest.mark.e2e

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
JAVA = FIXTURES / "java_sites"
ZOO = JAVA / "src" / "com" / "example" / "zoo"
GO = FIXTURES / "go_sites"
TS = FIXTURES / "ts_project"
OPTIONS = {guided: GenerateOptions(max_new_tokens=24, monitors=guided) for guided in (False, True)}
_CASE = re.compile(r"\bcase\s+([A-Za-z_$][\w$]*)(?:\s*\.\s*([A-Za-z_$][\w$]*))?")
_NEW = re.compile(r"\bnew\s+([A-Za-z_$][\w$]*(?:\s*\.\s*[A-Za-z_$][\w$]*)*)\s*(\S?)")


@pytest.fixture(scope="module")
def gen(tiny_model):
    g = HFGenerator(tiny_model, config=SessionConfig(wait_ms=60_000))
    yield g
    g.close()


@pytest.fixture(scope="module")
def jdtls(gen):
    """JDT LS for the zoo project, past its JDK type indexing (until then ``new L``
    answers an empty, incomplete list and the monitor fails open)."""
    session = gen.session
    spec = session.server_for(get_language("java"), JAVA)
    text = "package com.example.zoo;\nclass Warm { Object o = new Li; }\n"
    deadline = time.monotonic() + 120
    while True:
        res = session.loop.run(session.pool.complete(spec, JAVA, ZOO / "Warm.java", text, text.index("Li") + 2,
                                                     timeout=30), timeout=60)
        if res.items or time.monotonic() > deadline:
            break
    assert res.items, "JDT LS never listed types after `new Li`"
    return spec


def run(gen: HFGenerator, prompt: Prompt, guided: bool):
    result = gen.generate([prompt], OPTIONS[guided])[0]
    assert result.error is None, result.error
    return result


def case_labels(completion: str) -> list[tuple[str, str | None]]:
    """``(name, member)`` per ``case`` label with a name (literals are left out); the
    prompts end with ``case`` or ``case ``, so the first label is the completion's start."""
    return [(m.group(1), m.group(2)) for m in _CASE.finditer("case " + completion)]


def java_constants() -> set[str]:
    body = (ZOO / "Level.java").read_text(encoding="utf-8")
    return set(re.findall(r"^\s*([A-Z_]\w*)\s*[,;]?\s*$", body.split("{", 1)[1], re.MULTILINE))


def test_enum_cases_java(gen, jdtls) -> None:
    prefix = ("package com.example.zoo;\n\npublic class Sounds {\n    public static String describe(Level level) {\n"
              "        switch (level) {\n            case LOW:\n                return \"quiet\";\n            case ")
    suffix = '\n        }\n        return "";\n    }\n}\n'
    prompt = Prompt("jcase", JAVA, ZOO / "Sounds.java", prefix, suffix, {"monitors": ["enum_cases"]})
    legal = java_constants()
    assert legal == {"SILENT", "LOW", "MEDIUM", "HIGH", "DEAFENING"}
    plain = case_labels(run(gen, prompt, False).completion)
    assert any(name not in legal or member for name, member in plain), plain  # e.g. `case ENOENT:`
    guided = run(gen, prompt, True)
    labels = case_labels(guided.completion)
    assert labels and all(name in legal and member is None for name, member in labels), guided.completion
    assert guided.stats["probes"] >= len(legal) and guided.stats["accepted"] >= 1


def test_jdt_case_initials_match_case_insensitively(gen, jdtls) -> None:
    """Why the Java probe asks only upper-case initials: with the preset's matchCase=off,
    JDT LS lists ``lazy`` at ``case L`` too (and nothing at ``case ``)."""
    session = gen.session
    text = ("package com.example.zoo;\nclass Probe {\n  enum Mode { LOUD, lazy, QUIET }\n"
            "  int f(Mode m) {\n    switch (m) {\n      case L\n    }\n    return 0;\n  }\n}\n")
    at = text.index("case L") + len("case L")
    res = session.loop.run(session.pool.complete(jdtls, JAVA, ZOO / "Probe.java", text, at, timeout=30), timeout=60)
    labels = {it.label for it in res.items if it.kind == CompletionItemKind.EnumMember}
    assert {"LOUD", "lazy"} <= labels and "QUIET" not in labels, labels


def test_instantiation_java(gen, jdtls) -> None:
    prefix = "package com.example.zoo;\n\npublic class Zoo {\n    private final Feeder feeder = new "
    prompt = Prompt("jnew", JAVA, ZOO / "Zoo.java", prefix, "\n}\n", {"monitors": ["instantiation"]})
    session = gen.session

    def instantiable(completion: str) -> tuple[bool, str]:
        m = _NEW.match("new " + completion)
        if m is None:
            return False, completion[:20]
        name, after = m.group(1), m.group(2)
        if "." in name or after not in ("(", "<", "["):
            return False, name + after
        if after == "[" and name in ("boolean", "byte", "char", "double", "float", "int", "long", "short"):
            return True, name  # a primitive array
        source = ZOO / f"{name}.java"
        if source.exists():  # a project type: a class that is not abstract
            text = source.read_text(encoding="utf-8")
            return bool(re.search(rf"\bclass\s+{name}\b", text)) and "abstract class" not in text, name
        # A JDK type: JDT LS offers a constructor of that exact name that is not an anonymous class.
        text = prefix + name + "()\n}\n"
        res = session.loop.run(session.pool.complete(jdtls, JAVA, ZOO / "Zoo.java", text, len(prefix) + len(name),
                                                     timeout=30), timeout=60)
        return any(it.label == name and it.kind == CompletionItemKind.Constructor
                   and "{" not in (it.text_edit.new_text if it.text_edit else it.insert_text or "")
                   for it in res.items), name

    ok, name = instantiable(run(gen, prompt, False).completion)
    assert not ok, name  # e.g. `new radio();`
    guided = run(gen, prompt, True)
    ok, name = instantiable(guided.completion)
    assert ok, guided.completion
    assert name not in ("Feeder", "Animal")  # an interface and an abstract class of the project
    assert guided.stats["rerequests"] >= 1 and guided.stats["accepted"] == 1


def test_enum_cases_go(gen) -> None:
    prefix = ("package levels\n\n// Short is the day's abbreviation.\nfunc Short(d Weekday) string {\n\tswitch d {\n"
              "\tcase WeekdayMonday:\n\t\treturn \"Mon\"\n\tcase WeekdayTuesday:\n\t\treturn \"Tue\"\n\tcase")
    suffix = "\n\t}\n\treturn \"\"\n}\n"
    prompt = Prompt("gcase", GO, GO / "levels" / "week.go", prefix, suffix, {"monitors": ["enum_cases"]})
    source = (GO / "levels" / "levels.go").read_text(encoding="utf-8")
    legal = set(re.findall(r"\b(Weekday[A-Z]\w*)\b", source))
    assert legal == {"WeekdayMonday", "WeekdayTuesday", "WeekdayWednesday"}
    plain = case_labels(run(gen, prompt, False).completion)
    assert any(name not in legal for name, _ in plain), plain  # e.g. `case WeekdayTuesdayUri:`
    guided = run(gen, prompt, True)
    labels = case_labels(guided.completion)
    # Only Weekday's constants: not Level's (Low...), Color's, or the untyped MaxVolume.
    assert labels and all(name in legal and member is None for name, member in labels), guided.completion
    assert guided.stats["accepted"] >= 1 and guided.stats["untyped_subject"] == 0


def test_enum_cases_typescript(gen) -> None:
    prefix = ("export enum Color {\n  Red = \"red\",\n  Blue = \"blue\",\n}\n\nexport function hex(c: Color): string {\n"
              "  switch (c) {\n    case Color.Red:\n      return \"#ff0000\";\n    case")
    suffix = "\n  }\n  return \"\";\n}\n"
    prompt = Prompt("tcase", TS, TS / "src" / "suite_color.ts", prefix, suffix, {"monitors": ["enum_cases"]})
    members = {"Red", "Blue"}

    def legal(label: tuple[str, str | None]) -> bool:
        return label[0] == "Color" and label[1] in members  # `case Color:` or `case Color.Green:` are not

    plain = case_labels(run(gen, prompt, False).completion)
    assert plain and not all(map(legal, plain)), plain  # e.g. `case Color.Green:`
    guided = run(gen, prompt, True)
    labels = case_labels(guided.completion)
    assert labels and all(map(legal, labels)), guided.completion
    assert guided.stats["qualified"] >= 1
