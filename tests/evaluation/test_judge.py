"""The independent judge: sites found by syntax, verdicts from the real checker."""

from __future__ import annotations

from pathlib import Path

import pytest

from mgd.evaluation.compile_check import available_checkers
from mgd.evaluation.judge import find_sites, judge_file

PYPROJ = Path(__file__).parents[1] / "fixtures" / "pyproj"
AREA = "def area(width, height):\n    return width * height\n\n\n"
SHAPES = "from geometry.shapes import Circle, Square\n\n\n"


def test_sites_start_at_the_prompt_end() -> None:
    prefix = AREA + "x = area(1, 2).real\nprint(area("
    text = prefix + "0, height=2).bit_length(), c.radius"
    sites = find_sites("python", text, len(prefix), ["dereference", "arguments", "keyword_arguments"])
    got = [(s.monitor, s.name, s.complete) for s in sites]
    # the prompt's own call is in (it ends at its trigger); the earlier `area(1, 2).real` is not
    assert ("arguments", "area", True) in got and ("keyword_arguments", "height", True) in got
    assert ("dereference", "bit_length", True) in got and ("dereference", "radius", False) in got
    assert all(s.start >= len(prefix) - 1 for s in sites)


@pytest.mark.skipif(available_checkers()["python"] is None, reason="pyright CLI not installed")
def test_pyright_judges_each_site() -> None:
    prefix = SHAPES + AREA + "def main():\n    c = Circle(2.0)\n    print(area("
    completion = "0, depth=3), c.width, c.radius)\n    return area(1"
    every = judge_file("python", PYPROJ, "bench_j.py", prefix, completion,
                       ["dereference", "arguments", "keyword_arguments"])
    verdicts = {(v.site.monitor, v.site.name): v for v in every}
    assert verdicts[("keyword_arguments", "depth")].verdict == "violation"
    assert verdicts[("dereference", "width")].verdict == "violation"
    assert verdicts[("dereference", "radius")].verdict == "ok"
    calls = [v.verdict for v in every if v.site.monitor == "arguments" and v.site.name == "area"]
    # area(0, depth=3) misses `height` (a violation); area(1 is never closed: unjudged
    assert calls == ["violation", "unjudged"]
