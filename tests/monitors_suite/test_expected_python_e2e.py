"""Python expected types end to end: the tiny model, real jedi-language-server and
pyright, the annotated ``examples/python_types/library.py`` (the example's module).

Member types come from ``completionItem/resolve`` (pyright: every member's inferred
type; jedi: only annotated ones). The unguided model returns ``b.title`` (a ``str``)
where the function is declared ``-> int``; guided, pyright's types make it prefer an
``int`` member. With jedi, ``n: list[str] = b.`` prefers ``tags`` (annotated
``list[str]``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lsp_bridge.servers import PRESETS
from mgd.engines.generate import GenerateOptions, HFGenerator, Prompt
from mgd.session import SessionConfig
from monitors.python_types import member_type

pytestmark = pytest.mark.e2e

WS = Path(__file__).resolve().parents[2] / "examples" / "python_types"
LIB = (WS / "library.py").read_text(encoding="utf-8")
HEAD = LIB[: LIB.index("def shelf_mark")]


@pytest.fixture(scope="module", params=["jedi", "pyright"])
def gen(request, tiny_model):
    g = HFGenerator(tiny_model, config=SessionConfig(wait_ms=60_000, server=PRESETS[request.param]))
    g.server_name = request.param
    yield g
    g.close()


def complete(gen, body: str, monitors: list[str], tokens: int = 4):
    prompt = Prompt("t", WS, WS / "show.py", HEAD + body, "\n", {"monitors": monitors})
    out = gen.generate([prompt], GenerateOptions(max_new_tokens=tokens, monitors=True))[0]
    assert out.error is None, out.error
    return out


def member_types(gen, text: str) -> dict[str, str | None]:
    """What the server reports per member once resolved (the test's own reading)."""
    s = gen.session
    res = s.loop.run(s.pool.complete(PRESETS[gen.server_name], WS, WS / "show.py", text + "\n", len(text),
                                     timeout=60, resolve=48), timeout=90)
    return {it.label: member_type(it.detail) for it in res.items}


def test_return_annotation_prefers_int_members(gen) -> None:
    body = "def show(b: Book) -> int:\n    return b."
    types = member_types(gen, HEAD + body)
    ints = {n for n, t in types.items() if t in ("int", "Literal[3]")}
    plain = complete(gen, body, ["dereference"])
    assert plain.completion.startswith("title"), plain.completion  # the unguided choice: a str
    guided = complete(gen, body, ["expected_types"])
    assert guided.stats["failed_lookups"] == 0 and guided.stats.get("preferred_steps", 0) >= 1
    if gen.server_name == "pyright":
        assert {"year", "pages"} <= ints
        assert guided.completion.split("(")[0].strip() in ints, guided.completion
    else:  # jedi types only annotated members: year (self.year = year) has none
        assert "year" not in ints and types.get("pages") == "int"


def test_annotated_assignment_prefers_the_declared_type(gen) -> None:
    body = "def show(b: Book):\n    n: list[str] = b."
    assert member_types(gen, HEAD + body).get("tags") == "list[str]"
    assert not complete(gen, body, ["dereference"]).completion.startswith("tags")
    guided = complete(gen, body, ["expected_types"])
    assert guided.completion.startswith("tags"), guided.completion


def test_argument_position_reads_the_parameter_annotation(gen) -> None:
    body = "def show(b: Book):\n    return shelf_mark(b.title, b."
    guided = complete(gen, body.replace("def show", "def shelf_mark(code: str, width: int = 4) -> str:\n"
                                        "    return code\n\n\ndef show"), ["expected_types"])
    assert guided.stats["type_arguments"] == 1  # signatureHelp gave `width: int`


def test_reach_through_a_further_member_access(gen) -> None:
    """``-> list[str]`` on a Shelf: no Shelf member is a list; ``first()`` returns a Book,
    whose ``tags`` is one (both servers type the annotated ones)."""
    body = "\n\ndef names(s: Shelf) -> list[str]:\n    return s."
    prompt = Prompt("t", WS, WS / "show.py", LIB + body, "\n", {"monitors": ["expected_types"]})
    guided = gen.generate([prompt], GenerateOptions(max_new_tokens=8, monitors=True))[0]
    assert guided.error is None and guided.stats["failed_lookups"] == 0
    assert guided.stats["type_reach"] == 1, guided.stats
