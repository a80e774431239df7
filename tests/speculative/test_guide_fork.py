"""SequenceGuide fork / restore / ready_allowed (the helpers speculative trees use).

A static lookup stands in for the bridge here (as in tests/test_guide.py); the
real jedi server is used end to end in test_equivalence_e2e.py.
"""

from __future__ import annotations

import concurrent.futures

import numpy as np
import pytest

from monitors.base import CompletionFacts, CompletionNeed
from monitors.dereference import DereferenceMonitor
from monitors.guide import SequenceGuide
from monitors.languages import get_language
from monitors.vocab import VocabIndex

PY = get_language("python")
PREFIX = "def f(c):\n    return c"


class StaticLookup:
    def __init__(self, names: set[str]) -> None:
        self.names = frozenset(names)
        self.needs: list[CompletionNeed] = []

    def start(self, need: CompletionNeed) -> concurrent.futures.Future[CompletionFacts]:
        self.needs.append(need)
        fut: concurrent.futures.Future[CompletionFacts] = concurrent.futures.Future()
        fut.set_result(CompletionFacts(need.serial, self.names))
        return fut


@pytest.fixture(scope="module")
def index(tiny_tokenizer) -> VocabIndex:
    return VocabIndex.from_tokenizer(tiny_tokenizer)


def ids(tok, text: str) -> list[int]:
    return tok(text, add_special_tokens=False).input_ids


def test_fork_is_independent_and_restore_rolls_back(index, tiny_tokenizer) -> None:
    lookup = StaticLookup({"radius", "area"})
    guide = SequenceGuide([DereferenceMonitor(PY, PREFIX)], lookup, index)
    assert guide.allowed().ids is None
    before = guide.generated_ids

    branch = guide.fork()
    branch.advance(ids(tiny_tokenizer, "."))
    step = branch.allowed()
    assert step.ids is not None and len(lookup.needs) == 1
    # the original did not move
    assert guide.generated_ids == before and guide.allowed().ids is None

    snapshot = guide.fork()
    guide.restore(branch)  # roll forward to the branch
    assert guide.generated_ids == branch.generated_ids
    assert np.array_equal(guide.allowed().ids, step.ids)
    guide.restore(snapshot)  # and back
    assert guide.generated_ids == before and guide.allowed().ids is None


def test_fork_without_lookups_never_asks_the_server(index, tiny_tokenizer) -> None:
    lookup = StaticLookup({"radius"})
    guide = SequenceGuide([DereferenceMonitor(PY, PREFIX)], lookup, index)
    quiet = guide.fork(start_lookups=False)
    quiet.advance(ids(tiny_tokenizer, "."))
    assert quiet.ready_allowed() is None  # facts unknown: a draft node there is kept
    assert lookup.needs == []
    assert guide.stats.extra.get("late_lookups", 0) == 0


def test_ready_allowed_matches_allowed_and_counts_nothing(index, tiny_tokenizer) -> None:
    lookup = StaticLookup({"radius", "area"})
    guide = SequenceGuide([DereferenceMonitor(PY, PREFIX + ".")], lookup, index)
    fork = guide.fork(start_lookups=False)  # shares the answered lookup
    ready = fork.ready_allowed()
    assert ready is not None and ready.ids is not None
    assert guide.stats.constrained_steps == 0
    assert np.array_equal(ready.ids, guide.allowed().ids)
    assert guide.stats.constrained_steps == 1
    # along a path: after "rad" only "ius"-continuations stay legal
    fork.advance(ids(tiny_tokenizer, "rad"))
    texts = [index.token_bytes(int(i)) for i in fork.ready_allowed().ids]
    assert texts and all(b"ius".startswith(t) or t.startswith(b"ius") for t in texts)


def test_prune_drops_nodes_illegal_along_their_path(index, tiny_tokenizer) -> None:
    from mgd.engines.speculative.decoder import _prune
    from mgd.engines.speculative.tree import DraftTree

    lookup = StaticLookup({"radius", "area"})
    guide = SequenceGuide([DereferenceMonitor(PY, PREFIX + ".")], lookup, index)
    root_step = guide.allowed()
    tree = DraftTree(ids(tiny_tokenizer, ".")[-1], budget=16)
    legal = ids(tiny_tokenizer, "radius") + ids(tiny_tokenizer, "(")
    tree.add_path(legal)
    tree.add_path(ids(tiny_tokenizer, "width"))  # not a member: pruned at the root's state
    a_tok = tiny_tokenizer.convert_tokens_to_ids("a")
    assert index.token_bytes(a_tok) == b"a"
    tree.add_path([a_tok, tiny_tokenizer.convert_tokens_to_ids("x")])  # "ax": pruned below "a"
    pruned, n = _prune(tree, guide, root_step)
    assert n > 0
    kept = {tuple(pruned.path_tokens(i)) for i in range(1, len(pruned))}
    assert tuple(legal) in kept and (a_tok,) in kept
    assert ids(tiny_tokenizer, "width")[0] not in {p[0] for p in kept}
    assert (a_tok, tiny_tokenizer.convert_tokens_to_ids("x")) not in kept
    assert lookup.needs and len(lookup.needs) == 1  # pruning asked the server nothing
