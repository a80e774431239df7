"""Definition sites end to end: jedi-language-server and the tiny model.

In ``__init__`` the attributes do not exist yet: jedi lists only ``self``'s inherited
members (``__class__``, ...), so the dereference monitor forces one of them
(``self.__class__ = x``). With definition sites on, a new name is allowed where it is
assigned (``self.x = x``), and every name the guided model writes after ``self.`` is
listed by the server or assigned (checked here against the server's own list).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lsp_bridge import identifier_names
from mgd.engines.generate import GenerateOptions, HFGenerator, Prompt
from mgd.session import SessionConfig
from monitors.definitions import assignment_state
from monitors.languages import get_language

pytestmark = pytest.mark.e2e

PYPROJ = Path(__file__).resolve().parent.parent / "fixtures" / "pyproj"
POINT = "class Point:\n    def __init__(self, x, y):\n        self."


@pytest.fixture(scope="module")
def gen(tiny_model):
    g = HFGenerator(tiny_model, config=SessionConfig(wait_ms=60_000))
    yield g
    g.close()


def _listed(gen: HFGenerator, file: Path, prefix: str) -> set[str]:
    spec = gen.session.server_for(get_language("python"), PYPROJ)
    res = gen.session.loop.run(gen.session.pool.complete(spec, PYPROJ, file, prefix, len(prefix)), timeout=120)
    return set(identifier_names(res.items, spec.identifier_kinds))


def test_new_attribute_only_where_assigned(gen) -> None:
    file = PYPROJ / "suite_point.py"
    options = GenerateOptions(max_new_tokens=12, monitors=True, fim="off")  # the layout is not tested here
    deref = gen.generate([Prompt("p", PYPROJ, file, POINT, "", {"monitors": ["dereference"]})], options)[0]
    assert deref.error is None
    listed = _listed(gen, file, POINT)
    assert "x" not in listed
    word = re.match(r"\w+", deref.completion).group()
    # forced onto an existing member (the budget may cut it mid-name)
    assert word in listed or (deref.tokens == options.max_new_tokens and any(m.startswith(word) for m in listed))
    guided = gen.generate([Prompt("p", PYPROJ, file, POINT, "", {"monitors": ["dereference", "definition_sites"]})],
                          options)[0]
    assert guided.error is None and guided.stats["violations"] == 0
    assert guided.stats["definitions"] >= 1, guided.completion
    text = POINT + guided.completion
    for m in re.finditer(r"self\.(\w+)", text[len(POINT) - len("self."):]):
        start = len(POINT) - len("self.") + m.start()
        name, after = m.group(1), text[start + m.end() - m.start():]
        if name not in _listed(gen, file, text[: start + len("self.")]):
            assert assignment_state(after.split("\n", 1)[0].encode()) != "bad", (name, guided.completion)
