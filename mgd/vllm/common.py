"""What both vLLM processors share: settings validation, the operator's settings, runner checks.

The operator configures the processors through the environment of the vLLM
process (``mgd serve`` and the offline engine set it; vLLM's workers inherit it):
``MGD_ALLOWED_WORKSPACES`` (the allow-list), ``MGD_LSP_SERVER`` (one language
server for every request), ``MGD_CONFIG`` (an ``mgd.toml`` for every workspace;
default: each workspace's own), ``MGD_MONITORS`` (comma-separated monitors for
requests that name none; default: ``mgd.toml``, else ``dereference``),
``MGD_REQUEST_TIMEOUT_S`` (the deadline of each LSP request) and ``MGD_LSP_CPUS``
(CPUs reserved for the language servers and mgd's LSP client thread, e.g. ``6-7``)
and ``MGD_PROVISIONAL`` (``1``/``0``: constrain a step whose lookup is still
running to provisional names, for requests that do not say; default ``0``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from typing import Any

from lsp_bridge.cpus import parse_cpus
from mgd.config import KEY, MgdSettings, SessionConfig, allowed_roots_from_env, settings_of
from monitors.errors import ConfigError

__all__ = [
    "CONFIG_ENV",
    "LSP_CPUS_ENV",
    "MONITORS_ENV",
    "PROVISIONAL_ENV",
    "REQUEST_TIMEOUT_ENV",
    "SERVER_ENV",
    "calling_engine_config",
    "explicitly_registered",
    "processor_config",
    "spec_decode_problem",
    "validate_sampling_params",
]

log = logging.getLogger("mgd.vllm")

#: Language-server preset for every request (default: the language's own).
SERVER_ENV = "MGD_LSP_SERVER"
#: An ``mgd.toml`` used for every workspace (default: each workspace's own).
CONFIG_ENV = "MGD_CONFIG"
#: Comma-separated monitors for requests that name none (default: mgd.toml, else dereference).
MONITORS_ENV = "MGD_MONITORS"
#: Deadline of each LSP request in seconds (default: the server's).
REQUEST_TIMEOUT_ENV = "MGD_REQUEST_TIMEOUT_S"
#: CPUs for the language servers and the LSP client thread (``"6-7"``; default: unpinned).
LSP_CPUS_ENV = "MGD_LSP_CPUS"
#: Provisional names while a lookup runs, for requests that do not say (``1``/``0``).
PROVISIONAL_ENV = "MGD_PROVISIONAL"
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
    processor_config()  # a malformed operator setting: the request is refused with the reason
    settings = settings_of(extra, allowed_roots_from_env())
    if settings is not None:  # the syntax guard keeps them from firing in an open bracket
        stop = getattr(sampling_params, "stop", None) or ()
        stop = (stop,) if isinstance(stop, str) else tuple(s for s in stop if isinstance(s, str) and s)
        budget = getattr(sampling_params, "max_tokens", None)  # ... and closes brackets before it runs out
        settings = dataclasses.replace(settings, stop=stop,
                                       max_tokens=budget if isinstance(budget, int) and budget > 0 else None)
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


def processor_config(environ: dict[str, str] | None = None) -> SessionConfig:
    """The session settings of a processor, from the operator's environment (see the
    module docstring); :class:`ConfigError` for a malformed value."""
    env = os.environ if environ is None else environ
    timeout = env.get(REQUEST_TIMEOUT_ENV) or None
    try:
        timeout_s = float(timeout) if timeout is not None else None
    except ValueError as exc:
        raise ConfigError(f"{REQUEST_TIMEOUT_ENV}={timeout!r} is not a number") from exc
    monitors = env.get(MONITORS_ENV)
    names = tuple(m.strip() for m in monitors.split(",") if m.strip()) if monitors is not None else None
    cpus = env.get(LSP_CPUS_ENV) or None
    provisional = (env.get(PROVISIONAL_ENV) or "0").strip().lower()
    if provisional not in ("0", "1", "true", "false", "on", "off"):
        raise ConfigError(f"{PROVISIONAL_ENV}={provisional!r}: use 1 or 0")
    return SessionConfig(
        server=env.get(SERVER_ENV) or None,
        config=env.get(CONFIG_ENV) or None,
        monitors=names,
        request_timeout_s=timeout_s,
        allowed_roots=allowed_roots_from_env(env),
        max_inflight=1,
        lsp_cpus=None if cpus is None else parse_cpus(cpus, LSP_CPUS_ENV),
        provisional=provisional in ("1", "true", "on"),
    )


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
