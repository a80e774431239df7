"""The local engine's forward pass behind one interface: lean (hand-written) or Hugging Face.

A forward runs token ids after what a KV cache holds and returns the logits of
the last ``keep`` positions, ``[keep, vocab]``. Caches have ``get_seq_length()`` and ``crop(-n)`` (drop the last ``n``
positions; transformers 5.24 accepts only negative counts), which is all
:mod:`.reuse` and the decode loop need.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch

from mgd.engines.kvcache import cache_kwarg
from mgd.engines.local.lean import LeanLlama, lean_supported
from monitors.errors import ConfigError

__all__ = ["LEAN_AUTO_MAX_BYTES", "Forward", "HfForward", "LeanForward", "make_forward"]


class Forward(Protocol):
    name: str

    def new_cache(self) -> Any:
        """An empty cache (None for Hugging Face: the model creates one)."""
        ...

    def run(self, ids: Sequence[int], cache: Any, *, keep: int = 1) -> tuple[torch.Tensor, Any]:
        """Logits of the last ``keep`` positions and the cache, now holding ``ids`` too."""
        ...


class HfForward:
    """``model(input_ids, cache, logits_to_keep)``: any causal LM transformers can run."""

    name = "hf"

    def __init__(self, model: Any) -> None:
        self.model = model
        # transformers 5.2x renamed ``past_key_values`` to ``cache`` (argument and output).
        self._cache_arg = cache_kwarg(model)

    def new_cache(self) -> Any:
        return None

    def run(self, ids: Sequence[int], cache: Any, *, keep: int = 1) -> tuple[torch.Tensor, Any]:
        x = torch.tensor([list(ids)], dtype=torch.long, device=self.model.device)
        out = self.model(input_ids=x, use_cache=True, logits_to_keep=keep, **{self._cache_arg: cache})
        return out.logits[0, -keep:].float(), getattr(out, self._cache_arg)


class LeanForward:
    """:class:`~.lean.LeanLlama` with one cache buffer, reused by every request."""

    name = "lean"

    def __init__(self, model: Any, capacity: int = 512, quantize: str = "none") -> None:
        self.lean = LeanLlama(model, quantize)
        if quantize != "none":
            self.name = f"lean-{quantize}"
        self._capacity = capacity
        self._spare = self.lean.new_cache(capacity)

    def new_cache(self) -> Any:
        """The one buffer, emptied: a single generation runs at a time (the engine's
        lock), and a request that starts afresh no longer needs the previous cache."""
        self._spare.crop(0)
        return self._spare

    def run(self, ids: Sequence[int], cache: Any, *, keep: int = 1) -> tuple[torch.Tensor, Any]:
        if cache is None:
            cache = self.new_cache()
        return self.lean.forward(list(ids), cache, keep=keep), cache


#: ``auto`` picks lean only below this weight size: lean keeps a second, transposed
#: copy of every projection, and for big models a step is bound by arithmetic, not
#: by the Python overhead lean removes.
LEAN_AUTO_MAX_BYTES = 1 << 30


def make_forward(model: Any, decoder: str, capacity: int = 512, quantize: str = "none") -> Forward:
    """``lean`` (raises if unsupported), ``hf``, or ``auto`` (lean when supported and
    the weights are under :data:`LEAN_AUTO_MAX_BYTES`). ``quantize = "int8"`` needs
    lean (ConfigError otherwise)."""
    lean = decoder == "lean"
    if decoder == "auto":
        size = sum(p.numel() * p.element_size() for p in model.parameters())
        lean = lean_supported(model) is None and size <= LEAN_AUTO_MAX_BYTES
    if quantize != "none" and not lean:
        why = lean_supported(model) or f"decoder = {decoder!r}"
        raise ConfigError(f"quantize = {quantize!r} needs the lean decoder ({why})")
    if not lean:
        return HfForward(model)
    return LeanForward(model, capacity, quantize)
