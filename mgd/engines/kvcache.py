"""KV-cache helpers shared by the tree decoder and the editor's decoder.

Caches are transformers ``DynamicCache`` objects (``layers[i].keys``/``values``)
or :class:`~mgd.engines.local.lean.LeanCache`; both have ``get_seq_length()`` and
``crop(-n)`` (drop the last ``n`` positions; the transformers 5.24 convention).
Supported: transformers >= 5.0, < 5.40.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["cache_kwarg", "crop_cache", "gather_cache"]


def crop_cache(cache: Any, keep: int) -> None:
    """Drop cached positions past the first ``keep`` (no-op if it holds no more)."""
    held = cache.get_seq_length()
    if held > keep:
        cache.crop(keep - held)  # negative: drop from the end


def gather_cache(cache: Any, past: int, keep_nodes: Sequence[int]) -> None:
    """Keep the first ``past`` positions plus tree nodes ``keep_nodes`` (positions past+i)."""
    k = len(keep_nodes)
    if list(keep_nodes) == list(range(k)):
        for layer in cache.layers:
            if layer.keys is None:
                continue
            layer.keys = layer.keys[..., : past + k, :]
            layer.values = layer.values[..., : past + k, :]
        return
    for layer in cache.layers:
        if layer.keys is None:
            continue
        idx = torch.cat(
            [
                torch.arange(past, device=layer.keys.device),
                torch.as_tensor([past + i for i in keep_nodes], device=layer.keys.device),
            ]
        )
        layer.keys = layer.keys.index_select(-2, idx)
        layer.values = layer.values.index_select(-2, idx)


def cache_kwarg(model: Any) -> str:
    """The forward's cache argument: ``cache`` (transformers >= 5.24) or ``past_key_values``."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"
