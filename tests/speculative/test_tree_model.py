"""Tree verification with the real tiny model: logits, positions and the KV cache."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForCausalLM, DynamicCache

from mgd.engines.speculative.decoder import TreeDecoder, cache_kwarg, gather_cache
from mgd.engines.speculative.tree import DraftTree

PROMPT = "def area(self):\n    return self.width * self.height\n\n\ndef perimeter(self):\n    return"


@pytest.fixture(scope="module")
def model(tiny_model):
    m = AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.float32)
    return m.eval()


def run(model, ids, cache, **kw):
    key = cache_kwarg(model)
    with torch.inference_mode():
        return model(input_ids=torch.tensor([ids]), use_cache=True, **{key: cache}, **kw).logits[0]


def test_supported_transformers_range() -> None:
    import transformers

    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    assert (5, 0) <= (major, minor) < (5, 40), "mgd/engines/speculative supports transformers >=5.0,<5.40"


def test_tree_logits_equal_sequential_paths(model, tiny_tokenizer) -> None:
    prompt = tiny_tokenizer(PROMPT).input_ids
    torch.manual_seed(0)
    tree = DraftTree(prompt[-1], budget=12)
    for path in ([30, 40, 50], [30, 41], [31, 60, 61, 62], [32], [30, 40, 51, 52]):
        tree.add_path(path)
    past = len(prompt) - 1
    cache = DynamicCache(config=model.config)
    run(model, prompt[:-1], cache)
    mask = torch.from_numpy(tree.attention_mask(past))
    pos = torch.from_numpy(tree.position_ids(past))
    tree_logits = run(model, tree.tokens, cache, attention_mask=mask, position_ids=pos)
    assert tree_logits.shape[0] == len(tree)
    for node in range(len(tree)):
        seq = prompt + tree.path_tokens(node)
        c = DynamicCache(config=model.config)
        ref = run(model, seq, c)[-1]
        assert torch.allclose(tree_logits[node], ref, atol=1e-4), (node, (tree_logits[node] - ref).abs().max())

    # Keep one (non-contiguous) accepted path in the cache: the next step equals sequential decoding.
    nodes = tree.path(tree.child(tree.child(tree.child(0, 30), 40), 51))  # [0, 1, ..]
    assert nodes != list(range(len(nodes)))
    gather_cache(cache, past, nodes)
    assert cache.get_seq_length() == past + len(nodes)
    accepted = [tree.tokens[n] for n in nodes]
    nxt = run(model, [7], cache)[-1]
    c = DynamicCache(config=model.config)
    ref = run(model, prompt[:-1] + accepted + [7], c)[-1]
    assert torch.allclose(nxt, ref, atol=1e-4)


def test_contiguous_crop(model, tiny_tokenizer) -> None:
    prompt = tiny_tokenizer(PROMPT).input_ids
    tree = DraftTree(prompt[-1], budget=4)
    tree.add_path([30, 40])
    tree.add_path([31])
    cache = DynamicCache(config=model.config)
    run(model, prompt[:-1], cache)
    past = len(prompt) - 1
    run(model, tree.tokens, cache, attention_mask=torch.from_numpy(tree.attention_mask(past)),
        position_ids=torch.from_numpy(tree.position_ids(past)))
    gather_cache(cache, past, [0, 1, 2])
    nxt = run(model, [9], cache)[-1]
    ref = run(model, prompt + [30, 40, 9], DynamicCache(config=model.config))[-1]
    assert torch.allclose(nxt, ref, atol=1e-4)


def test_greedy_equals_plain_without_monitors(model, tiny_tokenizer) -> None:
    """Many short prompts: speculative greedy == HF greedy, token for token."""
    def enc(s: str) -> list[int]:
        return tiny_tokenizer(s, add_special_tokens=False).input_ids

    from mgd.engines.speculative.decoder import SpecConfig

    prompts = [
        PROMPT,
        "import os\n\n\ndef read(path):\n    with open(path) as fh:\n        return fh.",
        "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, x):\n        self.items.append(x)\n\n    def pop(self):\n",
        "for i in range(10):\n    for j in range(10):\n        print(i, j)\nfor i in range(",
    ]
    eos = [tiny_tokenizer.eos_token_id]
    from mgd.engines.speculative.corpus import CorpusView
    from mgd.engines.speculative.suffix import SuffixIndex

    corpus = [CorpusView(SuffixIndex([tiny_tokenizer(p).input_ids for p in prompts]))]
    for spec in ("ngram,recycle:8:flat", "suffix,ngram,recycle:32", "suffix,recycle:64:h200-27m"):
        dec = TreeDecoder(model, enc, SpecConfig.parse(spec))
        forwards = tokens = 0
        for text in prompts:
            ids = tiny_tokenizer(text).input_ids
            with torch.inference_mode():
                ref = model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                     max_new_tokens=20, do_sample=False, pad_token_id=eos[0], eos_token_id=eos[0])
            ref_ids = ref[0, len(ids):].tolist()
            got, stats = dec.generate(ids, max_new_tokens=20, eos_ids=eos, corpus=corpus)
            assert got == ref_ids, (spec, text)
            assert sum(stats.tree_sizes.values()) == stats.verifications
            forwards += stats.forwards
            tokens += stats.tokens
        assert tokens > forwards, f"{spec}: no draft token was ever accepted"
        assert dec.cost is not None and dec.acceptance.rates(), spec
    assert dec.outputs.view() is not None  # earlier outputs are kept for the suffix source


def test_measured_cost_curve_rises_and_leaves_the_cache(model, tiny_tokenizer) -> None:
    from mgd.engines.speculative.decoder import SpecConfig

    ids = tiny_tokenizer(PROMPT).input_ids
    dec = TreeDecoder(model, lambda s: tiny_tokenizer(s).input_ids, SpecConfig.parse("ngram:64"))
    cache = DynamicCache(config=model.config)
    run(model, ids, cache)
    curve = dec.measure_cost(cache, len(ids), reps=1)
    assert cache.get_seq_length() == len(ids)
    qs = [q for q, _t in curve.points]
    assert qs[:3] == [1, 4, 16] and set(qs) <= {1, 4, 16, 64, 65}  # may stop past 4 steps
    assert curve.ratio(65) > 1.0 and curve.ratio(16) >= curve.ratio(4)  # monotone


def test_backs_off_where_no_tree_pays(model, tiny_tokenizer) -> None:
    """A device where any tree costs 50 steps: plain steps (and a rare small probe), same output."""
    from mgd.engines.speculative.decoder import SpecConfig
    from mgd.engines.speculative.shape import CostCurve

    text = "for i in range(10):\n    for j in range(10):\n        print(i, j)\nfor i in range("
    ids = tiny_tokenizer(text).input_ids
    dec = TreeDecoder(model, lambda s: tiny_tokenizer(s).input_ids, SpecConfig.parse("ngram,recycle:16"))
    dec.cost = CostCurve.from_times({1: 1.0, 2: 50.0}, "custom")
    with torch.inference_mode():
        ref = model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             max_new_tokens=40, do_sample=False, pad_token_id=0, eos_token_id=None)
    got, stats = dec.generate(ids, max_new_tokens=40)
    assert got == ref[0, len(ids):].tolist()
    plain = stats.tree_sizes.get(1, 0)
    assert plain >= 0.8 * stats.verifications, stats.tree_sizes  # almost every step plain
    assert set(stats.tree_sizes) <= {1, 2, 3, 4}  # probes are small
    flat = TreeDecoder(model, lambda s: tiny_tokenizer(s).input_ids, SpecConfig.parse("ngram,recycle:16:flat"))
    got2, stats2 = flat.generate(ids, max_new_tokens=40)
    assert got2 == got and stats2.verifications < stats.verifications  # where trees are free they are used
