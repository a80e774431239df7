"""Expected types end to end: the tiny model, real JDT LS, the zoo project's ``Keeper``.

The void members are read from the server's own answer (not from the monitor), so the
test checks that exactly those are dropped inside an expression and none at a statement.
At an argument position the parameter type comes from JDT's ``signatureHelp``: the
unguided model passes ``keeper.getCount()`` (an int) where a String is taken.
"""

from __future__ import annotations

import pytest

from mgd.engines.generate import GenerateOptions, Prompt
from monitors.java_types import member_type

from .test_sites_e2e import JAVA, ZOO, gen, jdtls  # noqa: F401 - fixtures

pytestmark = pytest.mark.e2e

HEAD = "package com.example.zoo;\n\npublic class Report {\n    public static String summary(Keeper keeper) {\n"
TAIL = "\n    }\n}\n"


def void_members(gen, spec, text: str) -> set[str]:  # noqa: F811
    session = gen.session
    res = session.loop.run(session.pool.complete(spec, JAVA, ZOO / "Report.java", text, len(text), timeout=30),
                           timeout=60)
    names = {it.label for it in res.items}
    keep = {it.label for it in res.items if member_type(it.detail) != "void"}
    return names - keep


def generate(gen, body: str, monitors: list[str]):  # noqa: F811
    prompt = Prompt("types", JAVA, ZOO / "Report.java", HEAD + body, TAIL, {"monitors": monitors})
    result = gen.generate([prompt], GenerateOptions(max_new_tokens=8, monitors=True))[0]
    assert result.error is None, result.error
    return result


def test_void_members_dropped_inside_an_expression(gen, jdtls) -> None:  # noqa: F811
    body = "        String s = keeper."
    voids = void_members(gen, jdtls, HEAD + body)
    assert {"print", "reset", "setCount"} <= voids  # Keeper's own, plus Object's wait/notify
    guided = generate(gen, body, ["expected_types"])
    assert guided.stats["failed_lookups"] == 0
    assert guided.stats["type_filtered"] == len(voids)
    member = guided.completion.split("(", 1)[0].strip()
    assert member not in voids
    plain = generate(gen, body, ["dereference"])
    assert plain.stats.get("type_filtered", 0) == 0


def test_void_members_kept_at_a_statement(gen, jdtls) -> None:  # noqa: F811
    guided = generate(gen, "        keeper.", ["expected_types"])
    assert guided.stats["failed_lookups"] == 0 and guided.stats["triggers"] >= 1
    assert guided.stats["type_filtered"] == 0


def test_strict_drops_primitive_members_for_a_class_type(gen, jdtls) -> None:  # noqa: F811
    body = "        Keeper other = keeper."
    strict = generate(gen, body, ["expected_types_strict"])
    safe = generate(gen, body, ["expected_types"])
    # getCount (int) and hashCode (int), equals (boolean) go too under the heuristic.
    assert strict.stats["type_filtered"] > safe.stats["type_filtered"] > 0


ARG_HEAD = ("package com.example.zoo;\n\npublic class Report {\n    static String label(int width, String name) {\n"
            "        return name;\n    }\n\n    public static String summary(Keeper keeper) {\n")


def test_argument_position_prefers_the_parameter_type(gen, jdtls) -> None:  # noqa: F811
    """``label(3, keeper.``: JDT's signatureHelp says ``String name``; the String members are preferred."""
    session = gen.session
    text = ARG_HEAD + "        return label(3, keeper."
    res = session.loop.run(session.pool.complete(jdtls, JAVA, ZOO / "Report.java", text + TAIL, len(text),
                                                 timeout=30), timeout=60)
    strings = {it.label for it in res.items if member_type(it.detail) == "String"}
    assert {"getName", "toString"} <= strings
    prompts = {m: Prompt(m, JAVA, ZOO / "Report.java", text, TAIL, {"monitors": [m]})
               for m in ("expected_types", "dereference")}
    options = GenerateOptions(max_new_tokens=6, monitors=True)
    guided = gen.generate([prompts["expected_types"]], options)[0]
    assert guided.error is None and guided.stats["failed_lookups"] == 0
    assert guided.stats["type_arguments"] == 1  # the second need was answered in the same step
    assert guided.completion.split("(", 1)[0].strip() in strings, guided.completion
    plain = gen.generate([prompts["dereference"]], options)[0]
    assert plain.stats.get("type_arguments", 0) == 0
    assert plain.completion.split("(", 1)[0].strip() not in strings, plain.completion  # getCount: an int


PARK = JAVA / "src" / "com" / "example" / "park"
PARK_HEAD = ("package com.example.park;\n\nimport com.example.zoo.Level;\n\npublic class Tour {\n"
             "    static Level loudness(Enclosure e) {\n")


def test_reach_prefers_the_member_whose_type_holds_the_expected_one(gen, jdtls) -> None:  # noqa: F811
    """``Level l = e.``: no Enclosure member is a Level; JDT, asked about ``getKeeper().``
    and ``getLion().``, reports ``noise() : Level`` on Lion: ``getLion`` is preferred."""
    text = PARK_HEAD + "        Level l = e."
    prompt = {m: Prompt(m, JAVA, PARK / "Tour.java", text, TAIL, {"monitors": [m]})
              for m in ("expected_types", "dereference")}
    options = GenerateOptions(max_new_tokens=8, monitors=True)
    guided = gen.generate([prompt["expected_types"]], options)[0]
    assert guided.error is None and guided.stats["failed_lookups"] == 0
    assert guided.stats["type_reach"] == 1, guided.stats
    assert guided.completion.startswith("getLion"), guided.completion
    plain = gen.generate([prompt["dereference"]], options)[0]
    assert plain.stats.get("type_reach", 0) == 0
