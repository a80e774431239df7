"""Python call syntax end to end: real jedi-language-server and pyright, the tiny model.

The servers report ``make_order``'s keyword-only parameter differently (jedi keeps the
bare ``*`` only in the signature label, pyright lists it as a parameter); the shape
read from both must be the same. Then the unguided tiny model passes the keyword-only
parameter positionally (``make_order(items, 0, 1)``), and the guided one does not.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from lsp_bridge.lookup import BridgeLookup, DocumentContext
from mgd.engines.generate import GenerateOptions, HFGenerator, Prompt
from mgd.session import MgdSession, SessionConfig
from monitors.base import SignatureNeed
from monitors.calls import call_shape
from monitors.languages import get_language

pytestmark = pytest.mark.e2e

PYPROJ = Path(__file__).resolve().parent.parent / "fixtures" / "pyproj"
DEFS = ("def make_order(items, *, express=False):\n    return items\n\n\n"
        "def posonly(a, b, /, c, d=1):\n    return a\n\n\n")
ORDER = DEFS + "order = make_order(items, "


@pytest.mark.parametrize("server", ["jedi", "pyright"])
def test_servers_report_the_call_shape(tiny_tokenizer, server: str) -> None:
    with MgdSession(tiny_tokenizer, SessionConfig(server=server, wait_ms=60_000)) as session:
        spec = session.server_for(get_language("python"), PYPROJ)
        shapes = {}
        for call in ("make_order(", "posonly("):
            prefix = DEFS + "x = " + call
            lookup = BridgeLookup(session.loop, session.pool, spec,
                                  DocumentContext(PYPROJ, PYPROJ / f"suite_shape_{server}.py", prefix, ""))
            facts = lookup.start(SignatureNeed(0, "", 1)).result(timeout=120)
            assert facts.ok and len(facts.signatures) == 1, facts
            shapes[call] = call_shape(facts.signatures[0])
    order, pos = shapes["make_order("], shapes["posonly("]
    assert order is not None and (order.positional, order.keyword_only) == (("items",), ("express",))
    assert pos is not None and (pos.positional, pos.positional_only) == (("a", "b", "c", "d"), 2)


def _arguments(completion: str) -> list[str]:
    """Top-level arguments of the call the completion continues (up to its ``)``)."""
    args, depth, cur = [], 0, ""
    for ch in completion:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            if depth == 0:
                break
            depth -= 1
        elif ch == "," and depth == 0:
            args.append(cur.strip())
            cur = ""
            continue
        cur += ch
    return [a for a in [*args, cur.strip()] if a]


def test_keyword_only_is_never_positional(tiny_model) -> None:
    gen = HFGenerator(tiny_model, config=SessionConfig(wait_ms=60_000))
    try:
        prompt = Prompt("order", PYPROJ, PYPROJ / "suite_order.py", ORDER, "", {"monitors": ["keyword_arguments"]})
        options = {g: GenerateOptions(max_new_tokens=16, monitors=g) for g in (False, True)}
        plain = gen.generate([prompt], options[False])[0]
        assert plain.error is None
        positional = [a for a in _arguments(plain.completion) if not re.match(r"\*|[A-Za-z_]\w*\s*=(?!=)", a)]
        assert positional, plain.completion  # e.g. "0, 1)": express given positionally
        guided = gen.generate([prompt], options[True])[0]
        assert guided.error is None
        for arg in _arguments(guided.completion):
            assert re.match(r"\*|express\s*=(?!=)", arg), guided.completion
        assert guided.stats["keyword_required"] >= 1 and guided.stats["constrained_steps"] >= 1
        # with the syntax guard the completion cannot end inside the call either: the line parses
        both = Prompt("order2", PYPROJ, PYPROJ / "suite_order.py", ORDER, "",
                      {"monitors": ["keyword_arguments", "syntax"]})
        closed = gen.generate([both], options[True])[0]
        assert closed.error is None and closed.completion.strip(), closed.completion
        ast.parse(ORDER + closed.completion.split("\n", 1)[0])
        assert all(re.match(r"\*|express\s*=(?!=)", a) for a in _arguments(closed.completion)), closed.completion
    finally:
        gen.close()
