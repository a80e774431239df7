"""What both vLLM processors share: settings validation and runner checks."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from mgd.vllm.settings import KEY, MgdSettings, allowed_roots_from_env, settings_of

__all__ = [
    "SERVER_ENV",
    "calling_engine_config",
    "explicitly_registered",
    "spec_decode_problem",
    "validate_sampling_params",
]

log = logging.getLogger("mgd.vllm")

#: Language-server preset for every request (default: the language's own).
SERVER_ENV = "MGD_LSP_SERVER"
#: Module prefix of mgd's processor classes (to spot an explicit registration).
_OWN_MODULE = "mgd.vllm"


def validate_sampling_params(sampling_params: Any) -> MgdSettings | None:
    """Parse the request's ``mgd`` settings; ValueError (HTTP 400) if malformed.

    A request with settings is also refused when the engine that validates it
    runs speculative decoding on the V1 runner (vLLM would drop the processor, so
    the request would run unconstrained): see :func:`calling_engine_config`.
    """
    extra = getattr(sampling_params, "extra_args", None)
    if not extra or KEY not in extra:
        return None
    settings = settings_of(extra, allowed_roots_from_env())
    config = calling_engine_config()
    if config is not None:
        problem = spec_decode_problem(
            getattr(config, "speculative_config", None) is not None,
            bool(getattr(config, "use_v2_model_runner", False)),
        )
        if problem is not None:
            raise ValueError(problem)
    return settings


def calling_engine_config(max_depth: int = 16) -> Any | None:
    """The ``VllmConfig`` of the vLLM front end that is validating a request, if found.

    vLLM calls ``validate_params`` from its input processor without the engine
    configuration; the caller's ``self.vllm_config`` is found by walking at most
    ``max_depth`` frames up. None when no caller has one (unit tests, other
    vLLM versions): the check is then skipped, never guessed.
    """
    frame = sys._getframe(1)
    for _ in range(max_depth):
        if frame is None:
            return None
        owner = frame.f_locals.get("self")
        config = getattr(owner, "vllm_config", None) if owner is not None else None
        if config is not None and hasattr(config, "speculative_config"):
            return config
        frame = frame.f_back
    return None


def server_from_env() -> str | None:
    return os.environ.get(SERVER_ENV) or None


def explicitly_registered(vllm_config: Any) -> bool:
    """Whether an mgd processor was passed with ``logits_processors``/``--logits-processors``."""
    procs = getattr(getattr(vllm_config, "model_config", None), "logits_processors", None) or ()
    for p in procs:
        name = p if isinstance(p, str) else f"{getattr(p, '__module__', '')}:{getattr(p, '__qualname__', '')}"
        if name.startswith(_OWN_MODULE):
            return True
    return False


def spec_decode_problem(speculative: bool, v2_runner: bool) -> str | None:
    """Why mgd cannot constrain this configuration (None when it can)."""
    if speculative and not v2_runner:
        return (
            "mgd: vLLM's V1 model runner does not run custom logits processors under speculative "
            "decoding (an entry-point processor is silently dropped), so requests with 'mgd' settings "
            "would run unconstrained. Use the V2 model runner (VLLM_USE_V2_MODEL_RUNNER=1, GPU) with "
            "a speculative method it supports, or turn speculative decoding off."
        )
    return None


def tokenizer_of(vllm_config: Any) -> Any:
    mc = vllm_config.model_config
    return getattr(mc, "tokenizer", None) or mc.model
