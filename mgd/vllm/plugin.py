"""The ``vllm.logits_processors`` entry point: one class for both model runners.

vLLM 0.32 loads *every* class in the ``vllm.logits_processors`` group: the V1
runner constructs each with ``(vllm_config, device, is_pin_memory)`` without a
type check, and the V2 runner rejects any class that is not a V2 processor. Two
entry points (one per runner) would therefore break both. :class:`MgdLogitsProcessor`
subclasses both interfaces and, when vLLM constructs it, returns the processor
for the runner that called (:class:`~mgd.vllm.v1.MgdV1LogitsProcessor` or
:class:`~mgd.vllm.v2.MgdV2LogitsProcessor`). If an mgd class is also passed
explicitly (``--logits-processors``), the entry-point instance stays inert so
nothing is masked twice.
"""

from __future__ import annotations

from typing import Any

from vllm.v1.sample.logits_processor import LogitsProcessor as V1LogitsProcessor
from vllm.v1.worker.gpu.sample.logits_processor import LogitsProcessor as V2LogitsProcessor

from mgd.vllm.common import explicitly_registered, validate_sampling_params

__all__ = ["MgdLogitsProcessor"]


class MgdLogitsProcessor(V1LogitsProcessor, V2LogitsProcessor):
    """Runner-dispatching entry point; never instantiated itself."""

    def __new__(cls, vllm_config: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
        enabled = not explicitly_registered(vllm_config)
        if len(args) + len(kwargs) == 1:  # V2: (vllm_config, req_states)
            from mgd.vllm.v2 import MgdV2LogitsProcessor

            return MgdV2LogitsProcessor(vllm_config, *args, **kwargs, enabled=enabled)
        from mgd.vllm.v1 import MgdV1LogitsProcessor

        return MgdV1LogitsProcessor(vllm_config, *args, **kwargs, enabled=enabled)

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - __new__ returns another class
        raise TypeError("MgdLogitsProcessor is constructed by vLLM only")

    @classmethod
    def validate_params(cls, sampling_params: Any) -> None:
        validate_sampling_params(sampling_params)

    def is_argmax_invariant(self) -> bool:  # pragma: no cover
        return False

    def update_state(self, batch_update: Any) -> None:  # pragma: no cover
        raise TypeError("not a processor instance")

    def apply(self, logits: Any, ctx: Any = None) -> Any:  # pragma: no cover
        raise TypeError("not a processor instance")
