"""Where a generated method ends, and closing an unfinished one."""

from __future__ import annotations

import pytest

from mgd.evaluation.methods import cut_method, open_braces
from monitors.errors import ConfigError

PY = {"kind": "indent", "indent": 4}


def test_python_cut_at_dedent() -> None:
    cut = cut_method("radius\n        return x\n\n    def other(self):\n        pass", PY)
    assert cut.text == "radius\n        return x\n"
    assert cut.finished


def test_python_token_limit_drops_the_torn_line() -> None:
    cut = cut_method("radius\n        return self.wid", PY)
    assert cut == type(cut)("radius", False)
    assert cut_method("radius\n        return x\n", PY, ended=True).finished


def test_braces_cut_and_close() -> None:
    stop = {"kind": "braces", "depth": 1}
    done = cut_method('size();\n        if (a) { b("}"); }\n    }\n    void g() {}', stop)
    assert done.text.endswith("}\n    }") and done.finished
    torn = cut_method("size();\n        if (a) {\n            b(", stop)
    assert torn.text == "size();\n        if (a) {\n}}" and not torn.finished


def test_open_braces_skips_strings_and_comments() -> None:
    assert open_braces('{ "{" // {\n /* { */ \'{\' {') == 2


def test_unknown_stop_kind() -> None:
    with pytest.raises(ConfigError):
        cut_method("x", {"kind": "nope"})
