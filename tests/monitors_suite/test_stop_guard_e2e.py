"""The syntax guard's stop half end to end: the tiny model, Hugging Face generation.

Unguided, the model writes ``max(w, ...)`` and the stop text ``,`` cuts the completion
inside the call; guided, no stop fires while the call is open. A stop after the
bracket closes (``sorted(items)`` then ``:``) is left alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mgd.engines.generate import GenerateOptions, HFGenerator, Prompt
from mgd.session import SessionConfig
from monitors.languages import get_language
from monitors.syntax import SyntaxMonitor

pytestmark = pytest.mark.e2e

PYPROJ = Path(__file__).resolve().parent.parent / "fixtures" / "pyproj"
PY = get_language("python")
MAX_NEW = 24


def _may_end(prefix: str, completion: str) -> bool:
    m = SyntaxMonitor(PY, prefix, "\n")
    m.feed(completion.encode())
    c = m.constraint()
    return c is None or c.eos


@pytest.fixture(scope="module")
def gen(tiny_model):
    g = HFGenerator(tiny_model, config=SessionConfig(wait_ms=60_000))
    yield g
    g.close()


def _run(gen: HFGenerator, prefix: str, stop: str, guided: bool):
    prompt = Prompt("stop", PYPROJ, PYPROJ / "suite_stop.py", prefix, "\n", {"monitors": ["syntax"]} if guided else {})
    r = gen.generate([prompt], GenerateOptions(max_new_tokens=MAX_NEW, monitors=guided, stop=(stop,)))[0]
    assert r.error is None, r.error
    return r


def test_no_stop_fires_inside_an_open_call(gen) -> None:
    prefix = "def area(w, h):\n    return max(w"
    plain = _run(gen, prefix, ",", guided=False)
    assert plain.tokens < MAX_NEW and not _may_end(prefix, plain.completion), plain  # cut inside max(
    guided = _run(gen, prefix, ",", guided=True)
    assert guided.stats["stop_guarded"] >= 1
    assert guided.tokens == MAX_NEW or _may_end(prefix, guided.completion), guided


def test_a_stop_after_the_close_still_ends_it(gen) -> None:
    prefix = "def f(items):\n    for x in sorted(items"
    plain = _run(gen, prefix, ":", guided=False)
    guided = _run(gen, prefix, ":", guided=True)
    assert guided.completion == plain.completion and guided.tokens < MAX_NEW, (plain, guided)
    assert _may_end(prefix, guided.completion)
