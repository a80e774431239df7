"""NIM/ISM/PM and score@k against hand-computed values."""

from __future__ import annotations

from itertools import combinations

import pytest

from mgd.evaluation.metrics import (
    definition_site,
    expected_max_at_k,
    identifiers,
    ism,
    lexemes,
    name_kind,
    nim,
    pass_at_k,
    pm,
)
from monitors.errors import ConfigError


def test_lexemes_drop_whitespace_and_comments() -> None:
    assert lexemes("radius ** 2  # squared\n") == ["radius", "**", "2"]
    assert lexemes('x.get("a b", 1)', "java") == ["x", ".", "get", "(", '"a b"', ",", "1", ")"]
    assert lexemes("a // c\n/* d */ b", "java") == ["a", "b"]


def test_identifiers_skip_keywords() -> None:
    assert identifiers("return self.radius if x else None") == ["self", "radius", "x"]
    assert identifiers("return this.size() + new Foo(null);", "java") == ["size", "Foo"]


def test_nim() -> None:
    assert nim("radius * 2", "radius**2")
    assert not nim("width * 2", "radius**2")
    assert not nim("", "radius")
    assert not nim("(1)", "radius")


def test_name_kind() -> None:
    assert name_kind("radius") == "public"
    assert name_kind("_response") == "private"
    assert name_kind("__data") == "private"  # name-mangled, not a dunder
    assert name_kind("__init__") == "dunder"
    assert name_kind("____") == "private"


def test_definition_site() -> None:
    prefix = "    def __init__(self, msg):\n        self."
    assert definition_site(prefix, "msg = msg\n")
    assert definition_site(prefix, "msg: str = msg\n")
    assert not definition_site(prefix, "msg == other")  # a comparison uses the member
    assert not definition_site(prefix, "close()")
    assert not definition_site("        return self.", "msg = 1")  # not at statement start
    assert not definition_site("        x = self.", "msg")
    assert not definition_site("        this.", "size = 1;", "java")  # Java fields are declared


def test_ism_hand_computed() -> None:
    target = "append(item)\n        self.count += 1"  # identifiers: append item self count
    assert ism("append(item)\n        return self", target) == pytest.approx(3 / 4)
    assert ism("append(other)", target) == pytest.approx(1 / 4)
    assert ism("extend(item)", target) == 0.0
    assert ism(target, target) == 1.0
    assert ism("anything", "()") == 1.0


def test_pm_hand_computed() -> None:
    target = "get(key, 0) + 1"  # get ( key , 0 ) + 1  -> 8 lexemes
    assert pm("get(key, None)", target) == pytest.approx(4 / 8)
    assert pm("get( key ,0)+1", target) == 1.0
    assert pm("put(key)", target) == 0.0


def test_pass_at_k_hand_computed() -> None:
    # n=6, c=2, k=1: 2/6; k=2: 1 - C(4,2)/C(6,2) = 1 - 6/15 = 0.6; k=5: 1 - 0 = 1
    assert pass_at_k(6, 2, 1) == pytest.approx(1 / 3)
    assert pass_at_k(6, 2, 2) == pytest.approx(0.6)
    assert pass_at_k(6, 2, 5) == 1.0
    assert pass_at_k(6, 0, 6) == 0.0
    assert pass_at_k(1, 1, 1) == 1.0
    with pytest.raises(ConfigError):
        pass_at_k(3, 4, 1)
    with pytest.raises(ConfigError):
        pass_at_k(3, 1, 4)


@pytest.mark.parametrize("values", [[0.0, 0.5, 1.0, 0.25], [1, 0, 0, 1, 0], [0.3]])
def test_expected_max_at_k_is_the_mean_over_subsets(values: list[float]) -> None:
    for k in range(1, len(values) + 1):
        subsets = list(combinations(values, k))
        brute = sum(max(s) for s in subsets) / len(subsets)
        assert expected_max_at_k(values, k) == pytest.approx(brute)


def test_expected_max_matches_pass_at_k_for_binary() -> None:
    values = [1, 0, 1, 0, 0, 0]
    for k in range(1, 7):
        assert expected_max_at_k(values, k) == pytest.approx(pass_at_k(6, 2, k))
