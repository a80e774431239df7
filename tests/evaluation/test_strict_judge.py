"""The independent strict judge (``benchmarks/strict_judge.py``) finds the method's end
with ``tokenize`` where the harness uses mgd's lexer: the two must agree on where a
method ends, or the agreement figure would measure the judges' cutting, not verdicts."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from mgd.evaluation.methods import method_end

ROOT = Path(__file__).resolve().parents[2]


def _judge() -> ModuleType:
    spec = importlib.util.spec_from_file_location("strict_judge", ROOT / "benchmarks" / "strict_judge.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["strict_judge"] = module
    spec.loader.exec_module(module)
    return module


PREFIX = "import os\n\n\nclass A:\n    def f(self, x):\n        if x:\n            return os."
CASES = [
    ("path\n        return 1\n\n    def g(self):\n        pass\n", 4),
    ("sep + '''\n    not the end\n'''\n        y = (1,\n2)\n    # a comment ends it\n", 4),
    ("getcwd()\n        return x\n", 4),  # not reached
    ("name\n\n\nx = 1\n", 0),
    ("environ[\n    'A'\n]\n        z = 2\n    w = 3\n", 4),
]


@pytest.mark.parametrize(("completion", "indent"), CASES)
def test_independent_method_end_agrees_with_the_harness(completion: str, indent: int) -> None:
    got = _judge().method_end(PREFIX, completion, indent)
    assert got == method_end(completion, {"kind": "indent", "indent": indent})


def test_unfinished_completion_is_not_cut() -> None:
    assert _judge().method_end(PREFIX, "getcwd()\n        return (x +", 4) is None


def test_tab_indentation_counts_eight_columns() -> None:
    prefix = "class A:\n\tdef f(self, a):\n\t\treturn g(a."
    completion = "b,\n\t\t)\n\n\t@property\n"
    indent = 8  # the def's indentation, tabs expanded
    got = _judge().method_end(prefix, completion, indent)
    assert got == method_end(completion, {"kind": "indent", "indent": indent}) == completion.index("\n\n\t@") + 1
