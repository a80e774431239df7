"""The lean decode loop: logits equal Hugging Face's; the engine's text is the same with
the lean forward, the HF forward and decoding during the lookup wait (real tiny model;
jedi for the masked cases)."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from pathlib import Path

import pytest

from mgd.config import EditorOptions
from mgd.editor.completion_shape import decide_shape
from mgd.editor.local_engine import LocalEngine
from mgd.editor.protocol import EngineRequest
from mgd.engines.local.forward import HfForward, LeanForward, make_forward
from mgd.engines.local.lean import LeanCache, LeanLlama, lean_supported
from monitors.errors import ConfigError
from monitors.languages import get_language


@pytest.fixture(scope="module")
def model(tiny_model: Path):
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(1)
    return AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.float32).eval()


def test_lean_logits_match_the_model(model) -> None:
    import torch

    ids = list(range(300, 420))
    lean = LeanLlama(model)
    with torch.inference_mode():
        want = model(input_ids=torch.tensor([ids])).logits[0]
        cache = lean.new_cache(capacity=16)  # too small: grows while running
        first = lean.forward(ids[:90], cache, keep=0)  # prefill from empty (causal kernel)
        rest = lean.forward(ids[90:117], cache, keep=0)  # after cached positions (explicit mask)
        steps = [lean.forward([t], cache)[0] for t in ids[117:]]  # one token at a time
        assert cache.get_seq_length() == len(ids) and cache.capacity >= len(ids)
        assert torch.allclose(first, want[:90], atol=1e-4)
        assert torch.allclose(rest, want[90:117], atol=1e-4)
        assert torch.allclose(torch.stack(steps), want[117:], atol=1e-4)
        # Cropping forgets the last positions: running them again gives the same rows.
        cache.crop(-10)
        again = lean.forward(ids[-10:], cache, keep=3)
        assert again.shape[0] == 3 and torch.allclose(again, want[-3:], atol=1e-4)


def test_int8_projections_stay_close_to_the_model(model) -> None:
    """quantize="int8": the same forward with int8 layer projections; logits close, not equal."""
    import torch

    ids = list(range(300, 420))
    lean, q8 = LeanLlama(model), LeanLlama(model, "int8")
    with torch.inference_mode():
        want = lean.forward(ids, lean.new_cache(256), keep=0)
        cache = q8.new_cache(256)
        got = torch.cat([q8.forward(ids[:100], cache, keep=0), *[q8.forward([t], cache) for t in ids[100:]]])
    err = (got - want).abs().max() / want.abs().max()
    assert 0 < err < 0.1, float(err)  # quantized, so not bit-equal, but near
    top = (got.argmax(-1) == want.argmax(-1)).float().mean()
    assert top > 0.8, float(top)
    with pytest.raises(ValueError):
        LeanLlama(model, "int4")
    assert make_forward(model, "lean", quantize="int8").name == "lean-int8"
    with pytest.raises(ConfigError, match="needs the lean decoder"):
        make_forward(model, "hf", quantize="int8")
    with pytest.raises(ConfigError):
        EditorOptions(quantize="fp8")  # type: ignore[arg-type]


_INT8_LOGITS = """
import sys, torch
from transformers import AutoModelForCausalLM
from mgd.engines.local.lean import LeanLlama
torch.set_num_threads(1)
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32).eval()
q8, ids = LeanLlama(model, "int8"), list(range(300, 420))
with torch.inference_mode():  # a prefill, then one token at a time (both kernels' shapes)
    cache = q8.new_cache(256)
    torch.save(torch.cat([q8.forward(ids[:100], cache, keep=0), *[q8.forward([t], cache) for t in ids[100:]]]),
               sys.argv[2])
"""


def test_int8_is_the_same_without_vnni(model, tiny_model: Path, tmp_path: Path) -> None:
    """The int8 kernels restricted to AVX2 (x86 CPUs without VNNI: no saturating int16
    pair sums may clip) give the logits this CPU gives, within the int8 tolerance."""
    import subprocess
    import sys

    import torch

    ids = list(range(300, 420))
    lean = LeanLlama(model)
    with torch.inference_mode():
        want = lean.forward(ids, lean.new_cache(256), keep=0)
    out: dict[str, torch.Tensor] = {}
    for isa in ("native", "AVX2"):
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        if isa == "AVX2":  # fbgemm's and oneDNN's own switches: use no instruction set above AVX2
            env |= {"FBGEMM_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
        path = tmp_path / f"{isa}.pt"
        subprocess.run([sys.executable, "-c", _INT8_LOGITS, str(tiny_model), str(path)], env=env, check=True,
                       cwd=Path(__file__).resolve().parents[2], timeout=300)
        out[isa] = torch.load(path)
    for isa, got in out.items():
        err = (got - want).abs().max() / want.abs().max()
        assert 0 < err < 0.1, (isa, float(err))
    assert torch.allclose(out["AVX2"], out["native"], atol=1e-3 * float(want.abs().max()))


def test_cache_crop_and_reserve() -> None:
    import torch

    cache = LeanCache(2, 1, 4, 8, torch.float32)
    cache.k[:, :, :5] = 1.0
    cache.length = 5
    cache.reserve(20)
    assert cache.capacity >= 20 and bool((cache.k[:, :, :5] == 1.0).all())
    cache.crop(-2)
    assert cache.get_seq_length() == 3
    cache.crop(-10)
    assert cache.get_seq_length() == 0


def test_unsupported_models_keep_the_hf_forward(model, monkeypatch) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    from mgd.engines.local import forward as forward_mod

    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=2, attention_bias=True)
    odd = LlamaForCausalLM(cfg).eval()
    assert lean_supported(model) is None
    assert "bias" in (lean_supported(odd) or "")
    assert isinstance(make_forward(odd, "auto"), HfForward)
    assert isinstance(make_forward(model, "auto"), LeanForward)
    # A big model keeps the HF forward under auto (lean doubles the weight memory).
    monkeypatch.setattr(forward_mod, "LEAN_AUTO_MAX_BYTES", 1024)
    assert isinstance(make_forward(model, "auto"), HfForward)
    assert isinstance(make_forward(model, "lean"), LeanForward)
    with pytest.raises(ValueError):
        LeanLlama(odd)
    with pytest.raises(ConfigError):
        EditorOptions(decoder="fast")  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        EditorOptions(speculate_tokens=-1)


@pytest.fixture(scope="module")
def engine(tiny_model: Path):
    made = LocalEngine(EditorOptions(model=str(tiny_model), server="jedi", kv_reuse=False,
                                     latency_budget_ms=120_000, wait_ms=30_000))
    yield made
    made.close()


@pytest.mark.e2e
def test_same_text_with_lean_hf_and_speculation(engine: LocalEngine, click_project: Path) -> None:
    """Greedy text is decided by the masked logits alone: neither the forward nor
    decoding during the language server's wait changes it."""
    path = click_project / "click" / "core.py"
    text = path.read_text(encoding="utf-8")
    py = get_language("python")
    lean, hf = engine.forward, HfForward(engine.model)
    base = engine.options
    assert lean.name == "lean"
    cases = []
    for anchor in ("self.expose_value = expose_value", "return self.name", "ctx.fail("):
        site = text.index(anchor) + anchor.index(".") + 1
        prefix, suffix = text[:site], text[text.index("\n", site):]
        cases.append((prefix, suffix))
    runs: dict[str, list] = {}
    # Speculating runs first: jedi's first answers for the file are the slowest.
    for name, forward, spec in (("lean+spec", lean, 16), ("hf+spec", hf, 16), ("lean", lean, 0), ("hf", hf, 0)):
        engine.forward = forward
        engine.options = dataclasses.replace(base, speculate_tokens=spec)
        out = []
        for prefix, suffix in cases:
            req = EngineRequest(click_project, path, prefix, suffix, decide_shape(py, prefix, suffix), 12,
                                time.perf_counter() + 120)
            out.append(engine.complete(req, threading.Event()))
        runs[name] = out
    engine.forward, engine.options = lean, base
    texts = {name: [r.text for r in out] for name, out in runs.items()}
    assert len({tuple(t) for t in texts.values()}) == 1, texts
    first = runs["lean"][0]
    assert first.stats["constrained_steps"] >= 1  # the dot was masked by the language server's names
    for key in ("guide_ms", "prompt_ms", "prefill_ms", "guide_step_ms", "cpu_ms"):
        assert first.stats[key] >= 0.0, key
    assert first.stats["decoder"] == "lean" and runs["hf"][0].stats["decoder"] == "hf"
    spec = [r.stats for name in ("lean+spec", "hf+spec") for r in runs[name]]
    assert sum(s["spec_tokens"] for s in spec) > 0, spec  # it did decode during a wait
    assert all(0 <= s["spec_kept"] <= s["spec_tokens"] for s in spec)
    assert "spec_tokens" not in runs["lean"][0].stats


@pytest.mark.parametrize("shape", [
    {"num_key_value_heads": 2, "tie_word_embeddings": False, "rope_theta": 50000.0},  # GQA, untied
    {"num_key_value_heads": 1},  # multi-query
    {"num_key_value_heads": 4, "head_dim": 8},  # head_dim != hidden / heads
])
def test_lean_matches_other_llama_shapes(shape) -> None:
    """Shapes real small Llamas use (SmolLM: GQA; untied heads): same logits as the model."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=100, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, **shape)
    odd = LlamaForCausalLM(cfg).eval()
    assert lean_supported(odd) is None
    lean = LeanLlama(odd)
    ids = list(range(5, 60))
    with torch.inference_mode():
        want = odd(input_ids=torch.tensor([ids])).logits[0]
        cache = lean.new_cache(capacity=8)
        first = lean.forward(ids[:30], cache, keep=0)
        steps = torch.stack([lean.forward([t], cache)[0] for t in ids[30:]])
    assert torch.allclose(first, want[:30], atol=1e-4)
    assert torch.allclose(steps, want[30:], atol=1e-4)
