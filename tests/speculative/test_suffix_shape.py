"""Suffix indexes, the workspace corpus, node values and the tree-size rule (no model)."""

from __future__ import annotations

import numpy as np
import pytest

from mgd.engines.speculative.corpus import OutputStore, WorkspaceCorpus
from mgd.engines.speculative.drafts import SuffixDraft, add_continuations
from mgd.engines.speculative.shape import Acceptance, CostCurve, best_size
from mgd.engines.speculative.suffix import SuffixIndex, suffix_array
from mgd.engines.speculative.tree import DraftTree
from monitors.errors import ConfigError


def test_suffix_array_matches_sorting() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 2, 3, 17, 300):
        for alphabet in (1, 2, 5):
            text = rng.integers(0, alphabet, n)
            expect = sorted(range(n), key=lambda i: text[i:].tolist())
            assert suffix_array(text).tolist() == expect


def test_longest_suffix_match_and_counts() -> None:
    ix = SuffixIndex([[1, 2, 3, 4, 5], [9, 2, 3, 4, 7, 7], [2, 3, 4, 5, 6]])
    m, ends = ix.match([8, 2, 3, 4])  # "8" never occurs: the longest match is (2, 3, 4)
    assert m == 3 and ends.size == 3
    cont = ix.continuations([8, 2, 3, 4], depth=4)
    assert cont is not None and cont.match_len == 3
    kids = cont.children()
    top = [int(cont.tokens[c]) for c in kids[0]]
    assert top == [5, 7]  # 5 followed twice, 7 once (most frequent first)
    five = kids[0][0]
    assert cont.prob(five) == pytest.approx(2 / 4)  # 2 of 3 occurrences, one unseen alternative
    # continuations stop at a document's end: after "..4, 5" only doc 3 goes on (with 6)
    assert [int(cont.tokens[c]) for c in kids[five]] == [6]
    assert ix.continuations([42]) is None and ix.match([])[0] == 0


def test_blocked_span_is_never_drafted() -> None:
    ix = SuffixIndex([[1, 2, 3, 4, 5, 6], [1, 2, 3, 8]])
    start = int(ix.starts[0])
    # Block doc 0 from its token 3 on (the text after a cursor): only doc 1's "8" remains.
    cont = ix.continuations([1, 2], depth=4, blocked=(start + 2, start + 6))
    assert cont is not None
    assert {int(cont.tokens[c]) for c in cont.children()[0]} == {3}
    deep = [int(cont.tokens[c]) for c in range(1, len(cont))]
    assert 4 not in deep and 8 in deep


def test_workspace_corpus_blocks_the_text_after_the_cursor(tmp_path, tiny_tokenizer) -> None:
    def tokenize(texts):
        enc = tiny_tokenizer(texts, add_special_tokens=False, return_offsets_mapping=True)
        return [(ids, [a for a, _ in offs]) for ids, offs in zip(enc.input_ids, enc.offset_mapping, strict=True)]

    (tmp_path / "other.py").write_text("def helper(value):\n    return value.strip().lower()\n")
    body = "def shout(text):\n    return text.upper() + SECRET_SUFFIX_NAME\n"
    (tmp_path / "main.py").write_text(body)
    (tmp_path / "notes.txt").write_text("value.strip().lower() is not python")
    corpus = WorkspaceCorpus(tokenize, recheck_s=0.0)
    cursor = body.index("text.upper") + len("text.")
    view = corpus.view(tmp_path, tmp_path / "main.py", cursor)
    assert view is not None and view.index.documents == 2  # .py files only
    enc = tiny_tokenizer(body[:cursor], add_special_tokens=False).input_ids
    tree = DraftTree(enc[-1], budget=32)
    SuffixDraft([view]).fill(tree, enc)
    drafted = tiny_tokenizer.decode([t for n in range(1, len(tree)) for t in tree.path_tokens(n)])
    assert "SECRET" not in drafted and "upper" not in drafted  # after the cursor: blocked
    ctx = tiny_tokenizer("    return value.", add_special_tokens=False).input_ids
    tree = DraftTree(ctx[-1], budget=8)
    assert SuffixDraft([view]).fill(tree, ctx) > 0  # the other file is drafted from
    assert tiny_tokenizer.decode(tree.path_tokens(1)).startswith("strip")
    again = corpus.view(tmp_path, tmp_path / "main.py", cursor)
    assert again is not None and again.index is view.index  # built once
    (tmp_path / "other.py").write_text("x = 1\n")
    assert corpus.view(tmp_path, tmp_path / "main.py", cursor).index is not view.index  # rebuilt
    lazy = WorkspaceCorpus(tokenize, recheck_s=3600.0)
    first = lazy.view(tmp_path, tmp_path / "main.py", cursor)
    (tmp_path / "other.py").write_text("y = 2\n")
    assert lazy.view(tmp_path, tmp_path / "main.py", cursor).index is first.index  # listing trusted a while


def test_output_store_keeps_the_newest() -> None:
    store = OutputStore(max_tokens=6)
    assert store.view() is None
    store.add([1, 2, 3])
    store.add([4, 5, 6, 7])
    store.add([])
    view = store.view()
    assert view is not None and view.index.documents == 1  # the oldest output dropped
    assert view.index.continuations([5])is not None and view.index.continuations([2]) is None


def test_tree_values_merge_and_best() -> None:
    t = DraftTree(0, budget=8)
    a = t.add(0, 1, 0.9, "x")
    b = t.add(a, 2, 0.95)  # capped at its parent's value
    assert t.values[b] == pytest.approx(0.9)
    c = t.add(0, 3, 0.2)
    t.add(c, 4, 0.1)
    assert t.add(0, 3, 0.5, "y") == c and t.values[c] == 0.5 and t.tags[c] == "y"  # higher value wins
    best = t.best(3)
    assert sorted(tuple(best.path_tokens(n)) for n in range(1, len(best))) == [(1,), (1, 2), (3,)]


def test_add_continuations_best_first() -> None:
    ix = SuffixIndex([[5, 1, 2], [5, 1, 2], [5, 1, 3], [5, 4]])
    cont = ix.continuations([5], depth=2)
    tree = DraftTree(5, budget=16)
    add_continuations(tree, cont, "suffix", lambda s, k, raw: (raw, (s, k)), max_nodes=2)
    assert [tuple(tree.path_tokens(n)) for n in range(1, len(tree))] == [(1,), (1, 2)]
    assert tree.values[2] == pytest.approx(3 / 5 * 2 / 4)


def test_cost_curve_and_best_size() -> None:
    cpu = CostCurve.from_times({1: 23.0, 4: 30.0, 16: 42.0, 64: 81.0})
    assert cpu.ratio(1) == 1.0 and cpu.ratio(16) == pytest.approx(42 / 23)
    assert cpu.ratio(10) == pytest.approx((30 + 12 * 6 / 12) / 23)
    assert cpu.ratio(128) > cpu.ratio(64)  # extrapolated
    flat = CostCurve.flat()
    values = [0.9, 0.8, 0.5, 0.1, 0.05, 0.01]
    assert best_size(values, flat, 4) == 4  # free nodes: always the budget
    assert best_size(values, flat, 64) == 6
    assert best_size([0.05] * 10, cpu, 10) == 0  # never worth a tree: a plain step
    k = best_size(values, cpu, 6)
    assert 1 <= k < 6
    gpu = CostCurve.profile("h200-27m")
    assert best_size([0.02] * 100, gpu, 100) == 100
    with pytest.raises(ConfigError):
        CostCurve.profile("h100")
    with pytest.raises(ConfigError):
        CostCurve(((4, 1.0),))


def test_acceptance_is_measured() -> None:
    acc = Acceptance(prior=4.0)
    p, tag = acc.estimate("recycle", 0, 0.55)
    assert p == 0.55  # nothing seen: the source's own estimate
    for _ in range(36):
        acc.record(tag, False)
    for _ in range(4):
        acc.record(tag, True)
    p2, tag2 = acc.estimate("recycle", 0, 0.55)
    assert tag2 == tag and p2 == pytest.approx((4 + 4 * 0.55) / 44)
    assert acc.estimate("ngram", 0, 0.55)[0] == 0.55  # per source
    acc.record(None, True)  # untagged nodes are ignored
    assert acc.rates()["recycle/0/5"] == (40, 0.1)


def test_measured_curve_follows_observed_forwards() -> None:
    curve = CostCurve.from_times({1: 0.020, 4: 0.030, 16: 0.040}, "measured")
    for _ in range(60):  # the machine got slower for 16-token trees
        curve = curve.observe(16, 0.080)
    assert curve.ratio(16) == pytest.approx(4.0, rel=0.05)
    for _ in range(60):
        curve = curve.observe(1, 0.040)  # and for plain steps too
    assert curve.ratio(16) == pytest.approx(2.0, rel=0.1)
    assert curve.observe(200, 1.0) is curve  # far from every point: ignored
    slow = CostCurve.from_times({1: 0.020, 4: 0.030, 16: 0.400}, "measured")  # measured in a burst
    fixed = slow.observe(16, 0.040)
    assert fixed.ratio(16) < slow.ratio(16) / 1.8  # one faster observation moves it half way
    assert slow.above(4) == 16 and slow.above(16) is None
