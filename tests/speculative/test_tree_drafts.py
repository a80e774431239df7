"""Draft trees and draft sources (pure parts: no model)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from monitors.base import IdentifierConstraint
from monitors.errors import ConfigError
from mgd.engines.speculative.decoder import SpecConfig, sample_with_drafts
from mgd.engines.speculative.drafts import MonitorDraft, NgramDraft, TokenRecycler, parse_sources
from mgd.engines.speculative.tree import DraftTree


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


def test_ngram_lookup_proposes_the_continuation() -> None:
    ng = NgramDraft(max_n=2, max_len=4, max_matches=2)
    ng.extend([1, 2, 3, 4, 5, 6, 1, 2, 9, 9, 1, 2])
    chains = ng.chains()
    assert chains[0] == (9, 9, 1, 2)  # most recent match of (1, 2) first
    assert chains[1] == (3, 4, 5, 6)
    tree = DraftTree(2, budget=6)
    assert ng.fill(tree) == 6 and tree.path_tokens(4) == [9, 9, 1, 2]
    ng2 = NgramDraft()
    ng2.extend([5, 6, 7])
    assert ng2.chains() == []  # nothing repeats
    with pytest.raises(ConfigError):
        NgramDraft(max_n=1, min_n=2)


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
    assert parse_sources("ngram, recycle,ngram") == ("ngram", "recycle")
    assert SpecConfig.parse("monitor,ngram:24").budget == 24
    for bad in ("", "ngram,bogus", "ngram:x"):
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
