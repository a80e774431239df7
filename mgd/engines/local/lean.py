"""A lean forward pass for Llama-family models on CPU: the local engine's decode loop.

Hugging Face's ``model(...)`` spends as much time on per-call bookkeeping (cache
objects, mask construction, rotary tables, output dataclasses) as on the maths
for a model as small as the editor's (27M parameters, one token per step). This
module runs the same maths with the model's own weights and nothing else:

* q/k/v and gate/up projections fused into one matrix each (fewer calls); a
  1-token step multiplies by transposed copies (``x @ W``: this matrix-vector
  product runs ~30% faster on CPU than ``F.linear``'s ``x @ W.T``, while a prefill
  of many rows is faster with ``F.linear``), so weights take twice the memory;
* prefill from an empty cache uses causal SDPA (the fused CPU kernel);
* rotary cos/sin precomputed once for every position;
* a preallocated KV cache (:class:`LeanCache`) that grows by doubling and is
  cropped by setting its length, which is all :class:`~.reuse.PrefixReuse` needs.

With ``quantize="int8"`` the layer projections (not the embeddings, norms or LM
head) run as int8 GEMMs (``torch.ops.quantized.linear_dynamic``: per-channel
symmetric weights in 7 bits, activations quantized per call to the full 8 bits):
~3.5x faster prefill and ~2x faster steps on a 2-core AVX2 CPU, at the cost of
logits that differ from ``model(...)`` (measured in
``benchmarks/editor_latency.py --compare quantize=none``). Weights use 7 bits
(:data:`WEIGHT_QMAX`) because x86 CPUs without VNNI (AVX2, e.g. AMD EPYC before
Zen 4, or AVX-512 without VNNI, e.g. Intel Skylake-SP) multiply with ``vpmaddubsw``,
which adds two u8·s8 products in a saturating int16: with 8-bit activations and
8-bit weights that sum reaches 2·255·127 and clips (relative logit error 0.33
instead of 0.09); with |w| ≤ 63 it cannot (2·255·63 < 2^15), so every x86 CPU
computes the same integers. ``reduce_range``
(7-bit activations) would avoid it too, at twice the error.

Only plain Llama shapes are supported (:func:`lean_supported`: RMSNorm, SiLU MLP,
no biases, default RoPE); anything else keeps the Hugging Face path. Logits match
``model(...)`` to float rounding (checked in ``tests/editor/test_lean.py``).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["QUANTIZE", "LeanCache", "LeanLlama", "lean_supported"]

#: Weight formats of the layer projections: fp32 (the model's, as float32) or int8.
QUANTIZE = ("none", "int8")
#: Largest int8 weight magnitude: 63, so the AVX2 kernel's int16 pair sums cannot saturate.
WEIGHT_QMAX = 63.0


def lean_supported(model: Any) -> str | None:
    """None if :class:`LeanLlama` can run ``model``, else why not (one line)."""
    cfg = getattr(model, "config", None)
    if cfg is None or getattr(cfg, "model_type", None) != "llama":
        return f"model type {getattr(cfg, 'model_type', None)!r} is not 'llama'"
    rope = getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None) or {}
    if rope.get("rope_type", rope.get("type", "default")) != "default":
        return f"rope type {rope.get('rope_type')!r} is not 'default'"
    if getattr(cfg, "attention_bias", False) or getattr(cfg, "mlp_bias", False):
        return "attention/MLP biases"
    if getattr(cfg, "hidden_act", "silu") != "silu" or getattr(cfg, "pretraining_tp", 1) != 1:
        return "activation is not SiLU or pretraining_tp != 1"
    if next(model.parameters()).device.type != "cpu":
        return "model is not on the CPU"
    return None


@dataclass(slots=True)
class _Layer:
    """One decoder layer's weights; each projection twice: ``[out, in]`` (as stored,
    for ``F.linear`` on many rows) and a transposed ``[in, out]`` copy (``x @ W`` on
    one row)."""

    norm1: torch.Tensor
    qkv: torch.Tensor  # [(heads + 2 * kv_heads) * head_dim, hidden]
    o: torch.Tensor
    norm2: torch.Tensor
    gate_up: torch.Tensor  # [2 * intermediate, hidden]
    down: torch.Tensor
    qkv_t: torch.Tensor
    o_t: torch.Tensor
    gate_up_t: torch.Tensor
    down_t: torch.Tensor


def _t(weight: torch.Tensor) -> torch.Tensor:
    """``[out, in]`` weight → a contiguous ``[in, out]`` copy."""
    return weight.detach().t().contiguous()


def _int8_linear(weight: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """``x -> x @ weight.T`` with the weight as per-channel symmetric int8 in [-63, 63] (fbgemm/oneDNN)."""
    w = weight.detach().float()
    scales = (w.abs().amax(dim=1).clamp(min=1e-8) / WEIGHT_QMAX).double()
    with warnings.catch_warnings():  # the quantized tensor API warns that it is deprecated (torch 2.1x)
        warnings.simplefilter("ignore")
        q = torch.quantize_per_channel(w, scales, torch.zeros_like(scales, dtype=torch.long), 0, torch.qint8)
        packed = torch.ops.quantized.linear_prepack(q, None)
    op = torch.ops.quantized.linear_dynamic

    def linear(x: torch.Tensor) -> torch.Tensor:
        return op(x, packed, False)  # full-range activations: safe with 7-bit weights

    return linear


class LeanCache:
    """Keys and values of every layer in preallocated tensors ``[layers, kv_heads, capacity, head_dim]``.

    Has the two methods :class:`~.reuse.PrefixReuse` uses on a Hugging Face cache:
    :meth:`get_seq_length` and :meth:`crop` (a negative argument drops that many
    positions from the end).
    """

    def __init__(self, layers: int, kv_heads: int, head_dim: int, capacity: int, dtype: torch.dtype) -> None:
        self.k = torch.empty(layers, kv_heads, capacity, head_dim, dtype=dtype)
        self.v = torch.empty_like(self.k)
        self.length = 0

    @property
    def capacity(self) -> int:
        return self.k.shape[2]

    def get_seq_length(self) -> int:
        return self.length

    def crop(self, max_length: int) -> None:
        n = self.length + max_length if max_length < 0 else max_length
        self.length = max(0, min(self.length, n))

    def reserve(self, n: int) -> None:
        """Make room for ``n`` positions in all (keeps what is cached)."""
        if n <= self.capacity:
            return
        cap = max(n, 2 * self.capacity)
        k = self.k.new_empty(self.k.shape[0], self.k.shape[1], cap, self.k.shape[3])
        v = torch.empty_like(k)
        k[:, :, : self.length] = self.k[:, :, : self.length]
        v[:, :, : self.length] = self.v[:, :, : self.length]
        self.k, self.v = k, v


class LeanLlama:
    """The forward pass of a ``LlamaForCausalLM`` with its weights (shared, not copied where possible)."""

    def __init__(self, model: Any, quantize: str = "none") -> None:
        why = lean_supported(model)
        if why is not None:
            raise ValueError(f"lean decoding does not support this model: {why}")
        if quantize not in QUANTIZE:
            raise ValueError(f"quantize must be one of {QUANTIZE}, not {quantize!r}")
        self.quantize = quantize
        cfg = model.config
        self.heads = cfg.num_attention_heads
        self.kv_heads = cfg.num_key_value_heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.heads
        self.eps = cfg.rms_norm_eps
        self.max_positions = cfg.max_position_embeddings
        inner = model.model
        self.dtype = inner.embed_tokens.weight.dtype
        self.embed = inner.embed_tokens.weight.detach()
        self.lm_head = model.lm_head.weight.detach()
        self.lm_head_t = _t(self.lm_head)
        self.norm = inner.norm.weight.detach()
        self.layers: list[_Layer] = []
        for layer in inner.layers:
            a, m = layer.self_attn, layer.mlp
            qkv = torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]).detach().contiguous()
            gate_up = torch.cat([m.gate_proj.weight, m.up_proj.weight]).detach().contiguous()
            self.layers.append(_Layer(
                norm1=layer.input_layernorm.weight.detach(),
                qkv=qkv,
                o=a.o_proj.weight.detach(),
                norm2=layer.post_attention_layernorm.weight.detach(),
                gate_up=gate_up,
                down=m.down_proj.weight.detach(),
                qkv_t=_t(qkv),
                o_t=_t(a.o_proj.weight),
                gate_up_t=_t(gate_up),
                down_t=_t(m.down_proj.weight),
            ))
        self.intermediate = self.layers[0].down.shape[1]
        #: int8: per layer, the four projections as int8 linear functions (None: fp32).
        self.int8: list[tuple[Callable[[torch.Tensor], torch.Tensor], ...]] | None = None
        if quantize == "int8":
            self.int8 = [(_int8_linear(la.qkv), _int8_linear(la.o), _int8_linear(la.gate_up), _int8_linear(la.down))
                         for la in self.layers]
        rope = getattr(cfg, "rope_parameters", None) or {}
        theta = float(rope.get("rope_theta", getattr(cfg, "rope_theta", 10000.0)))
        inv = 1.0 / (theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.int64).float() / self.head_dim))
        freqs = torch.arange(self.max_positions, dtype=torch.float32)[:, None] * inv[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        self.cos = emb.cos().to(self.dtype)
        self.sin = emb.sin().to(self.dtype)
        self.scale = self.head_dim**-0.5

    def new_cache(self, capacity: int = 512) -> LeanCache:
        return LeanCache(len(self.layers), self.kv_heads, self.head_dim, min(capacity, self.max_positions), self.dtype)

    def _rms(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def forward(self, ids: list[int] | torch.Tensor, cache: LeanCache, *, keep: int = 1) -> torch.Tensor:
        """Run ``ids`` after what ``cache`` holds; logits ``[keep, vocab]`` of the last
        ``keep`` positions (0: all). Call under ``torch.inference_mode()``."""
        ids_t = ids if isinstance(ids, torch.Tensor) else torch.tensor(ids, dtype=torch.long)
        n = ids_t.shape[-1]
        start = cache.length
        end = start + n
        if end > self.max_positions:
            raise ValueError(f"{end} positions exceed the model's {self.max_positions}")
        cache.reserve(end)
        h, kv, d = self.heads, self.kv_heads, self.head_dim
        x = F.embedding(ids_t.view(-1), self.embed)  # [n, hidden]
        cos = self.cos[start:end]
        sin = self.sin[start:end]
        mask = None
        causal = n > 1 and start == 0
        if n > 1 and start > 0:
            # Query i (position start + i) sees every cached position and itself.
            mask = torch.ones(n, end, dtype=torch.bool).tril(diagonal=start)
        one = n == 1

        def mm(v: torch.Tensor, w: torch.Tensor, w_t: torch.Tensor) -> torch.Tensor:
            return v @ w_t if one else F.linear(v, w)
        half = d // 2
        for li, layer in enumerate(self.layers):
            q8 = self.int8[li] if self.int8 is not None else None
            y = self._rms(x, layer.norm1)
            qkv = (q8[0](y) if q8 else mm(y, layer.qkv, layer.qkv_t)).view(n, h + 2 * kv, d).transpose(0, 1)
            qk = qkv[: h + kv]
            rot = torch.cat((-qk[..., half:], qk[..., :half]), dim=-1)
            qk = qk * cos + rot * sin
            q, k = qk[:h], qk[h:]
            cache.k[li, :, start:end] = k
            cache.v[li, :, start:end] = qkv[h + kv :]
            keys = cache.k[li, :, :end]
            vals = cache.v[li, :, :end]
            att = F.scaled_dot_product_attention(
                q, keys, vals, attn_mask=mask, is_causal=causal, scale=self.scale, enable_gqa=h != kv
            )  # [h, n, d]
            a = att.transpose(0, 1).reshape(n, h * d)
            x = x + (q8[1](a) if q8 else mm(a, layer.o, layer.o_t))
            y = self._rms(x, layer.norm2)
            gu = q8[2](y) if q8 else mm(y, layer.gate_up, layer.gate_up_t)
            g = F.silu(gu[:, : self.intermediate]) * gu[:, self.intermediate :]
            x = x + (q8[3](g) if q8 else mm(g, layer.down, layer.down_t))
        cache.length = end
        x = self._rms(x[-keep:] if keep else x, self.norm)
        return x @ self.lm_head_t if x.shape[0] == 1 else F.linear(x, self.lm_head)
