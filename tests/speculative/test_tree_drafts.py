"""Draft trees and draft sources (pure parts: no model)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mgd.engines.speculative.decoder import SpecConfig, sample_with_drafts
from mgd.engines.speculative.drafts import ContextDraft, MonitorDraft, TokenRecycler, parse_sources
from mgd.engines.speculative.tree import DraftTree
from monitors.base import DefinitionConstraint, IdentifierConstraint
from monitors.errors import ConfigError


def sample_tree() -> DraftTree:
    #        0(root=7)
    #       /        \
    #     1(8)       3(9)
    #     /  \         \
    #   2(10) 5(11)    4(12)
    t = DraftTree(7, budget=5)
    assert t.add_path([8, 10]) == 2
    assert t.add_path([9, 12]) == 2
    assert t.add_path([8, 11]) == 1  # shares node 1
    return t


def test_structure_and_budget() -> None:
    t = sample_tree()
    assert t.tokens == [7, 8, 10, 9, 12, 11]
    assert t.parents == [-1, 0, 1, 0, 3, 1]
    assert t.depths == [0, 1, 2, 1, 2, 2]
    assert t.full and t.add(0, 99) is None and t.add_path([1, 2]) == 0
    assert t.add(1, 10) == 2  # existing child is found even when full
    assert t.path(5) == [0, 1, 5] and t.path_tokens(5) == [8, 11]
    with pytest.raises(ConfigError):
        DraftTree(1, budget=-1)


def test_mask_and_positions() -> None:
    t = sample_tree()
    m = t.attention_mask(past=3)
    assert m.shape == (1, 1, 6, 9)
    allowed = m[0, 0] == 0
    assert np.isneginf(m[0, 0][~allowed]).all()
    assert allowed[:, :3].all()  # every node sees the cache
    expect = {0: {0}, 1: {0, 1}, 2: {0, 1, 2}, 3: {0, 3}, 4: {0, 3, 4}, 5: {0, 1, 5}}
    for i, anc in expect.items():
        assert set(np.flatnonzero(allowed[i, 3:]).tolist()) == anc
    assert t.position_ids(3).tolist() == [[3, 4, 5, 4, 5, 5]]


def test_accept_path() -> None:
    t = sample_tree()
    picks = {0: 8, 1: 11, 5: 42}
    nodes, bonus = t.accept_path(lambda n: picks[n])
    assert nodes == [0, 1, 5] and bonus == 42
    nodes, bonus = t.accept_path(lambda n: 5)
    assert nodes == [0] and bonus == 5


def test_ngram_lookup_counts_the_continuations() -> None:
    ng = ContextDraft(max_n=2, depth=4)
    ng.extend([1, 2, 3, 4, 5, 6, 1, 2, 9, 9, 1, 2])
    cont = ng.continuations()
    assert cont is not None and cont.match_len == 2  # (1, 2) occurred twice before the end
    kids = cont.children()
    first = {int(cont.tokens[c]): c for c in kids[0]}
    assert set(first) == {3, 9} and cont.prob(first[3]) == cont.prob(first[9]) == pytest.approx(1 / 3)
    tree = DraftTree(2, budget=8)
    assert ng.fill(tree) == 8
    paths = {tuple(tree.path_tokens(n)) for n in range(1, len(tree))}
    assert (3, 4, 5, 6) in paths and (9, 9, 1, 2) in paths
    assert all(0 < v <= 1 / 3 for v in tree.values[1:])  # each branch had one of two occurrences
    ng2 = ContextDraft()
    ng2.extend([5, 6, 7])
    assert ng2.continuations() is None  # nothing repeats
    with pytest.raises(ConfigError):
        ContextDraft(max_n=1, min_n=2)


def test_recycler_best_first() -> None:
    rec = TokenRecycler(k=3)
    rec.update([1, 2, 3], np.array([[2, 5, 6], [3, 7, 8], [4, 9, 9]]))
    tree = DraftTree(1, budget=4)
    assert rec.fill(tree) == 4
    # the top-1 chain goes deepest first: 1 -> 2 -> 3 -> 4
    assert tree.path_tokens(tree.child(tree.child(tree.child(0, 2), 3), 4)) == [2, 3, 4]
    assert rec.next_of(99) == ()


def test_monitor_draft_tokenizes_legal_suffixes(tiny_tokenizer) -> None:
    def enc(s: str) -> list[int]:
        return tiny_tokenizer(s, add_special_tokens=False).input_ids

    md = MonitorDraft(enc, max_names=8)
    c = IdentifierConstraint(frozenset({b"format_help", b"formatter", b"name", b"fo"}), typed=b"fo")
    chains = md.chains([c])
    texts = sorted(tiny_tokenizer.decode(list(ch)) for ch in chains)
    assert texts == ["rmat_help", "rmatter"]  # "fo" itself is complete: nothing left to draft
    # the chains are the tokenizer's canonical split of each remaining suffix, never another spelling
    assert sorted(chains) == sorted(tuple(enc(s)) for s in ("rmat_help", "rmatter"))
    # definition sites draft the listed names the same way (a new name has nothing to draft)
    d = DefinitionConstraint(frozenset({b"items", b"total"}), typed=b"to")
    assert md.chains([d]) == [tuple(enc("tal"))]
    tree = DraftTree(0, budget=32)
    md.fill(tree, [c])
    prefixes = {ch[:k] for ch in chains for k in range(1, len(ch) + 1)}
    assert tree.drafted == len(prefixes)  # a trie: shared prefixes are one node
    for ch in chains:
        node = 0
        for tok in ch:
            node = tree.child(node, tok)
            assert node is not None


def test_sources_parse() -> None:
    from mgd.engines.speculative.decoder import DEFAULT_SPEC

    assert parse_sources("ngram, recycle,ngram") == ("ngram", "recycle")
    assert SpecConfig.parse("monitor,ngram:24").budget == 24
    c = SpecConfig.parse("suffix,ngram:128:h200-27m")
    assert (c.sources, c.budget, c.cost) == (("suffix", "ngram"), 128, "h200-27m")
    assert SpecConfig.parse("ngram:flat:8").budget == 8 and SpecConfig.parse("ngram:flat").cost == "flat"
    assert SpecConfig.parse("") == SpecConfig.parse(DEFAULT_SPEC)  # a bare --speculative
    assert SpecConfig.parse(DEFAULT_SPEC).cost == "measure"
    for bad in ("ngram,bogus", "ngram:x", "ngram:0", "ngram:16:h100", ","):
        with pytest.raises(ConfigError):
            SpecConfig.parse(bad)


def test_rejection_sampling_is_lossless() -> None:
    p = torch.tensor([0.1, 0.4, 0.0, 0.3, 0.2])
    g = torch.Generator().manual_seed(0)
    n = 8000
    counts = np.zeros(5)
    for _ in range(n):
        counts[sample_with_drafts(p, [3, 2, 0], g)] += 1
    assert np.abs(counts / n - p.numpy()).max() < 0.02
    assert counts[2] == 0
