"""What both vLLM processors share: settings validation and runner checks."""

from __future__ import annotations

import logging
import os
from typing import Any

from monitors.vllm.settings import KEY, MgdSettings, allowed_roots_from_env, settings_of

__all__ = [
    "SERVER_ENV",
    "explicitly_registered",
    "spec_decode_problem",
    "validate_sampling_params",
]

log = logging.getLogger("monitors.vllm")

#: Language-server preset for every request (default: the language's own).
SERVER_ENV = "MGD_LSP_SERVER"
#: Module prefix of mgd's processor classes (to spot an explicit registration).
_OWN_MODULE = "monitors.vllm"


def validate_sampling_params(sampling_params: Any) -> MgdSettings | None:
    """Parse the request's ``mgd`` settings; ValueError (HTTP 400) if malformed."""
    extra = getattr(sampling_params, "extra_args", None)
    if not extra or KEY not in extra:
        return None
    return settings_of(extra, allowed_roots_from_env())


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
