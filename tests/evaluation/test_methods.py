"""Where a generated method ends, and closing an unfinished one."""

from __future__ import annotations

import pytest

from mgd.evaluation.methods import MethodStop, cut_method, method_end, open_braces
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


def test_method_stop_fires_where_cut_method_cuts() -> None:
    """The stop rule the engines get ends generation exactly where scoring cuts: the first
    non-blank character of a line at the def's indentation (known before the line ends)."""
    from mgd.evaluation.methods import MethodStop, case_stop_rule, method_end

    rule = case_stop_rule({"stop": PY})
    assert isinstance(rule, MethodStop)
    text = "radius\n        return x\n\n    def other(self):"
    grown = [text[:i] for i in range(len(text) + 1)]
    first = next(i for i, t in enumerate(grown) if rule.cut(t) is not None)
    assert text[:first].endswith("\n    d")  # not before the dedented line shows a character
    assert cut_method(text[:first], PY).text == cut_method(text, PY).text == text[: method_end(text, PY)]
    assert cut_method(text[:first], PY, ended=False).finished
    braces = {"kind": "braces", "depth": 1}
    body = "size();\n    }\n    void g() {}"
    assert method_end(body, braces) == body.index("}") + 1 == len(cut_method(body, braces).text)
    assert case_stop_rule({}) is None and case_stop_rule({"stop": {"kind": "nope"}}) is None


def test_budget_is_the_smallest_that_lets_the_share_finish() -> None:
    from mgd.evaluation.budget import choose_budget

    needed = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130, 140, 150, 160, 170, 180, 190, None]
    choice = choose_budget(needed, 0.95, "t")
    assert choice.tokens == 190 and choice.finished == 19 and choice.completions == 20
    assert choose_budget(needed, 0.5).tokens == 100
    assert choice.basis == "all" and choice.never == 1
    with pytest.raises(ConfigError, match="larger --max-new-tokens"):
        choose_budget([None, None, 5], 0.95, strict=True)
    with pytest.raises(ConfigError, match="larger --max-new-tokens"):
        choose_budget([None, None], 0.95)


def test_budget_falls_back_to_the_completions_that_finish_and_says_so(tmp_path) -> None:
    """A model that loops on some holes never finishes them: no budget reaches 95% of all,
    so the budget lets 95% of those that finish do so, and the choice says how many never did."""
    from mgd.evaluation.budget import choose_budget, read_budget, write_budget

    needed = [*range(1, 21), *([None] * 10)]  # 20 finish within 1..20 tokens, 10 loop
    choice = choose_budget(needed, 0.95, "t")
    assert choice.basis == "finishers" and choice.never == 10
    assert choice.tokens == 19 and choice.finished == 19 and choice.completions == 30
    text = choice.describe()
    assert "10 (33.3%) never ended" in text and "95.0% of the 20 that end" in text
    write_budget(choice, tmp_path / "b.json")
    assert read_budget(tmp_path / "b.json") == choice


# -- the stop rule is incremental and agrees with method_end on every prefix ----------

_GROWING = [
    ({"kind": "indent", "indent": 4},
     "x = 1\n        s = '''\n    not the end\n'''\n        if x:\n\n            y = (1,\n2)\n    def other(self):\n        pass\n"),
    ({"kind": "indent", "indent": 0},
     "total\n    for a in b:  # }\n        c = f\"{a}\"\n\n\nclass Next:\n    pass\n"),
    ({"kind": "braces", "depth": 1},
     "size();\n        String s = \"}\"; // }\n        /* } */ char c = '}';\n        if (x) { y(); }\n    }\n    void g() {}\n"),
    ({"kind": "braces", "depth": 2},
     "a;\n    }\n  `}` + 1;\n}\n}\n"),
]


@pytest.mark.parametrize(("stop", "text"), _GROWING)
def test_method_stop_grows_incrementally_like_method_end(stop: dict, text: str) -> None:
    rule = MethodStop(stop)
    for k in range(len(text) + 1):
        assert rule.cut(text[:k]) == method_end(text[:k], stop), (k, text[:k])
    # a text that does not extend the last one starts over
    assert rule.cut(text[:5]) == method_end(text[:5], stop)
    assert rule.cut(text) == method_end(text, stop)
    assert method_end(text, stop) is not None


def test_method_stop_shared_by_two_rows_answers_each() -> None:
    stop = {"kind": "indent", "indent": 4}
    a, b = "x\n        y\n    z\n", "x\n            w\n"
    rule = MethodStop(stop)
    for k in range(max(len(a), len(b)) + 1):
        assert rule.cut(a[:k]) == method_end(a[:k], stop)
        assert rule.cut(b[:k]) == method_end(b[:k], stop)
