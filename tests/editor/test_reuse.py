"""Prompt reuse of the local engine: anchored windows, KV-cache prefix reuse (real tiny model)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from mgd.config import EditorOptions
from mgd.editor.completion_shape import decide_shape
from mgd.editor.local_engine import LocalEngine
from mgd.editor.protocol import EngineRequest
from mgd.engines.local.reuse import PrefixReuse, anchored_start, common_prefix
from monitors.languages import get_language


def test_anchored_start_is_a_line_start_that_holds_while_typing() -> None:
    text = "".join(f"line_{i} = {i}\n" for i in range(400))
    start = anchored_start(text, 1000, 256)
    assert start > 0 and text[start - 1] == "\n"
    assert len(text) - start >= 1000  # the window is at least as wide as asked
    typed = text
    for ch in "value.attr":  # typing moves the end, not the start
        typed += ch
        assert anchored_start(typed, 1000, 256) == start
    assert anchored_start(text + "x" * 600, 1000, 256) > start  # far enough: it moves on
    assert anchored_start("short", 1000, 256) == 0
    assert anchored_start(text, 0, 256) == len(text)


def test_common_prefix() -> None:
    assert common_prefix([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix([], [1]) == 0
    assert common_prefix([7, 8], [7, 8]) == 2


@pytest.fixture(scope="module")
def model(tiny_model: Path):
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(1)
    return AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.float32).eval()


def _last_logits(model, ids: list[int], cache=None):
    import inspect

    import torch

    # transformers 5.2x renamed ``past_key_values`` to ``cache`` (argument and output).
    arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    with torch.inference_mode():
        out = model(input_ids=torch.tensor([ids]), use_cache=True, logits_to_keep=1, **{arg: cache})
    return out.logits[0, -1], getattr(out, arg)


def test_reused_prefix_gives_the_same_logits_as_a_fresh_prefill(model) -> None:
    import torch

    a = list(range(100, 160))
    b = [*a[:40], 7, 8, 9, 10]  # shares 40 ids, then differs
    reuse = PrefixReuse(min_tokens=16)
    _, cache = _last_logits(model, a)
    reuse.keep(a, cache)
    plan = reuse.plan(b)
    assert plan.reused == 40 and plan.cache.get_seq_length() == 40
    got, _ = _last_logits(model, b[plan.reused :], plan.cache)
    want, _ = _last_logits(model, b)
    assert torch.allclose(got, want, atol=1e-4), (got - want).abs().max()
    # The cache was handed out: nothing is kept until keep() is called again.
    assert reuse.plan(b).cache is None


def test_short_or_inconsistent_prefixes_are_not_reused(model) -> None:
    a = list(range(100, 130))
    reuse = PrefixReuse(min_tokens=16)
    _, cache = _last_logits(model, a)
    reuse.keep(a, cache)
    assert reuse.plan([*a[:10], 1, 2]).cache is None  # 10 < 16 common ids
    reuse.keep(a + [5], cache)  # the cache does not hold what is claimed: dropped
    assert reuse.plan(a).cache is None
    reuse.keep(a, cache)
    plan = reuse.plan(a)  # identical prompt: all but the last id come from the cache
    assert plan.reused == len(a) - 1 and plan.cache.get_seq_length() == len(a) - 1


@pytest.fixture(scope="module")
def engines(tiny_model: Path):
    made = [LocalEngine(EditorOptions(model=str(tiny_model), monitors=False, kv_reuse=flag, latency_budget_ms=60_000))
            for flag in (True, False)]
    yield made
    for e in made:
        e.close()


def test_typing_reuses_the_previous_prompt_and_changes_nothing(engines, click_project: Path) -> None:
    with_reuse, without = engines
    path = click_project / "click" / "core.py"
    text = path.read_text(encoding="utf-8")
    site = text.index("self.expose_value = expose_value") + len("self.")
    suffix = text[text.index("\n", site) :]
    py = get_language("python")
    reused = []
    for k in range(4):  # the user types `e`, `x`, `p` after `self.`
        prefix = text[: site + k]
        ids = with_reuse.prompt_ids(prefix, suffix)
        assert len(ids) <= with_reuse.options.max_prompt_tokens + with_reuse.options.max_suffix_tokens + 3
        texts = []
        for engine in (with_reuse, without):
            req = EngineRequest(click_project, path, prefix, suffix, decide_shape(py, prefix, suffix), 6,
                                time.perf_counter() + 60)
            res = engine.complete(req, threading.Event())
            texts.append(res.text)
            if engine is with_reuse:
                reused.append(res.stats["reused_tokens"])
        assert texts[0] == texts[1]  # greedy output is the same with and without reuse
    assert reused[0] == 0 or reused[0] < reused[1]
    # Each later keystroke reuses the anchored prompt head (all but the last few prefix tokens).
    assert all(r >= with_reuse.options.max_prompt_tokens // 2 for r in reused[1:]), reused
