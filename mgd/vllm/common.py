"""What both vLLM processors share: settings validation, the operator's settings, engine checks.

**Operator settings** reach the processors explicitly, through vLLM's own
configuration: ``additional_config={"mgd": {...}}`` (``LLM(...)``, or
``vllm serve --additional-config '{"mgd": {...}}'``; ``mgd serve`` and the offline
engine build it from their flags). Keys (:data:`OPERATOR_KEYS`): ``lsp_server`` (one
language server for every request), ``config`` (an ``mgd.toml`` for every workspace;
default: each workspace's own), ``monitors`` (list of monitors for requests that
name none; default: ``mgd.toml``, else ``dereference``), ``request_timeout_s`` (the
deadline of each LSP request), ``lsp_cpus`` (CPUs reserved for the language servers
and mgd's LSP client thread, e.g. ``"6-7"``) and ``provisional`` (constrain a step
whose lookup is still running to provisional names, for requests that do not say).
The former ``MGD_LSP_SERVER``-style variables are refused with the new spelling.

The workspace allow-list stays in the environment (``MGD_ALLOWED_WORKSPACES``,
:mod:`mgd.config.request`): vLLM validates requests in its front end, which sees no
engine configuration, and every process must agree on it. So do ``mgd serve``'s FIM
settings (:data:`FIM_ENV`, :data:`FIM_TEMPLATE_ENV`): they are the front end's (the
response middleware, :mod:`mgd.vllm.http`, prompts a request with a ``suffix``).

**Engine checks** (:func:`engine_problem`): the configurations where mgd would guide
nothing are named at start-up (see :mod:`mgd.vllm.compat` for how a config is read).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from typing import Any

from lsp_bridge.cpus import parse_cpus
from mgd.config import KEY, MgdSettings, SessionConfig, allowed_roots_from_env, settings_of
from mgd.vllm.compat import EngineShape, mrv2_unsupported
from monitors.errors import ConfigError

__all__ = [
    "EXPLICIT_PROCESSOR",
    "FIM_ENV",
    "FIM_TEMPLATE_ENV",
    "check_retired_env",
    "OPERATOR_KEYS",
    "engine_problem",
    "explicitly_registered",
    "operator_payload",
    "operator_settings",
    "processor_config",
    "validate_sampling_params",
]

log = logging.getLogger("mgd.vllm")

#: ``additional_config["mgd"]`` keys (the operator's settings of every processor).
OPERATOR_KEYS = ("lsp_server", "config", "monitors", "request_timeout_s", "lsp_cpus", "provisional")
#: Environment variables of earlier releases, and the key that replaced each.
_RETIRED_ENV = {"MGD_LSP_SERVER": "lsp_server", "MGD_CONFIG": "config", "MGD_MONITORS": "monitors",
                "MGD_REQUEST_TIMEOUT_S": "request_timeout_s", "MGD_LSP_CPUS": "lsp_cpus",
                "MGD_PROVISIONAL": "provisional"}
#: The class to name in ``--logits-processors`` / ``LLM(logits_processors=[...])`` (either runner).
EXPLICIT_PROCESSOR = "mgd.vllm.plugin:MgdExplicitProcessor"
#: ``mgd serve --fim`` (auto/on/off) and ``--fim-template`` (auto or a family), for the response middleware.
FIM_ENV = "MGD_SERVE_FIM"
FIM_TEMPLATE_ENV = "MGD_SERVE_FIM_TEMPLATE"
#: Module prefix of mgd's processor classes (to spot an explicit registration).
_OWN_MODULE = "mgd.vllm"


def validate_sampling_params(sampling_params: Any) -> MgdSettings | None:
    """Parse the request's ``mgd`` settings; ValueError (HTTP 400) if malformed."""
    extra = getattr(sampling_params, "extra_args", None)
    if not extra or KEY not in extra:
        return None
    settings = settings_of(extra, allowed_roots_from_env())
    if settings is not None:  # the syntax guard keeps them from firing in an open bracket
        stop = getattr(sampling_params, "stop", None) or ()
        stop = (stop,) if isinstance(stop, str) else tuple(s for s in stop if isinstance(s, str) and s)
        budget = getattr(sampling_params, "max_tokens", None)  # ... and closes brackets before it runs out
        settings = dataclasses.replace(settings, stop=stop,
                                       max_tokens=budget if isinstance(budget, int) and budget > 0 else None)
    return settings


def operator_settings(vllm_config: Any) -> Mapping[str, Any]:
    """``additional_config["mgd"]`` of a ``VllmConfig`` (empty when absent)."""
    extra = getattr(vllm_config, "additional_config", None)
    raw = extra.get(KEY) if isinstance(extra, Mapping) else None
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"additional_config['{KEY}'] must be an object of {', '.join(OPERATOR_KEYS)}")
    return raw


def check_retired_env(environ: Mapping[str, str]) -> None:
    """:class:`ConfigError` naming the new spelling if a retired ``MGD_*`` setting is set."""
    retired = [f"{name} (now '{key}')" for name, key in _RETIRED_ENV.items() if environ.get(name)]
    if retired:
        raise ConfigError(f"mgd no longer reads {', '.join(retired)} from the environment: pass them in "
                          f"vLLM's additional_config, e.g. --additional-config '{{\"{KEY}\": {{...}}}}', "
                          "or use mgd serve's flags")


def processor_config(settings: Mapping[str, Any] | None = None,
                     environ: Mapping[str, str] | None = None) -> SessionConfig:
    """The session settings of a processor from the operator's ``settings``
    (:data:`OPERATOR_KEYS`); :class:`ConfigError` for a malformed or retired one."""
    env = os.environ if environ is None else environ
    check_retired_env(env)
    s = dict(settings or {})
    unknown = sorted(set(s) - set(OPERATOR_KEYS))
    if unknown:
        raise ConfigError(f"unknown operator setting(s) {unknown} in additional_config['{KEY}'] "
                          f"(known: {', '.join(OPERATOR_KEYS)})")
    timeout = s.get("request_timeout_s")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0):
        raise ConfigError(f"request_timeout_s={timeout!r}: a positive number of seconds")
    monitors = s.get("monitors")
    if monitors is not None and (not isinstance(monitors, list | tuple)
                                 or not all(isinstance(m, str) and m for m in monitors)):
        raise ConfigError(f"monitors={monitors!r}: a list of monitor names")
    provisional = s.get("provisional", False)
    if not isinstance(provisional, bool):
        raise ConfigError(f"provisional={provisional!r}: true or false")
    for key in ("lsp_server", "config", "lsp_cpus"):
        if s.get(key) is not None and not isinstance(s[key], str):
            raise ConfigError(f"{key}={s[key]!r}: a string")
    cpus = s.get("lsp_cpus") or None
    return SessionConfig(
        server=s.get("lsp_server") or None,
        config=s.get("config") or None,
        monitors=None if monitors is None else tuple(monitors),
        request_timeout_s=None if timeout is None else float(timeout),
        allowed_roots=allowed_roots_from_env(env),
        max_inflight=1,
        lsp_cpus=None if cpus is None else parse_cpus(cpus, "lsp_cpus"),
        provisional=provisional,
    )


def operator_payload(config: SessionConfig) -> dict[str, Any]:
    """``additional_config["mgd"]`` for a session's settings (the inverse of :func:`processor_config`)."""
    from lsp_bridge.cpus import format_cpus

    source = None if config.config is None else str(getattr(config.config, "source", config.config))
    payload: dict[str, Any] = {
        "lsp_server": config.server if isinstance(config.server, str) else None,
        "config": source,
        "monitors": None if config.monitors is None else list(config.monitors),
        "request_timeout_s": config.request_timeout_s,
        "lsp_cpus": None if config.lsp_cpus is None else format_cpus(config.lsp_cpus),
        "provisional": True if config.provisional else None,
    }
    return {k: v for k, v in payload.items() if v is not None}


def explicitly_registered(vllm_config: Any) -> tuple[str, ...]:
    """The mgd processors passed with ``logits_processors``/``--logits-processors``, as
    ``module:qualname``."""
    procs = getattr(getattr(vllm_config, "model_config", None), "logits_processors", None) or ()
    names = (p if isinstance(p, str) else f"{getattr(p, '__module__', '')}:{getattr(p, '__qualname__', '')}"
             for p in procs)
    return tuple(n for n in names if n.startswith(_OWN_MODULE))


def engine_problem(shape: EngineShape, explicit: bool, version: str | None = None) -> str | None:
    """Why mgd cannot guide an engine of this shape (None when it can).

    ``explicit``: an mgd processor is registered explicitly (vLLM then fills the
    V1 runner's output-token placeholders before ``apply()``). ``version``: vLLM's
    (which speculative methods MRV2 runs; None: the oldest supported).
    """
    method = shape.speculative_method
    if method is not None and not shape.v2_runner:
        if mrv2_unsupported(method, version):
            way_out = (f"vLLM's Model Runner V2 does not run speculative method '{method}' (vLLM fell back to "
                       "the V1 runner); use a method MRV2 runs (ngram, eagle, eagle3, mtp, draft_model) or "
                       "turn speculative decoding off")
        else:
            way_out = (f"use Model Runner V2 for speculative method '{method}' (the GPU default; do not set "
                       "VLLM_USE_V2_MODEL_RUNNER=0) or turn speculative decoding off")
        return ("mgd: vLLM's V1 model runner does not run custom logits processors under speculative decoding "
                f"(method '{method}'; an entry-point processor is silently dropped), so requests with 'mgd' "
                f"settings would run unconstrained. Way out: {way_out}.")
    if shape.async_scheduling and not shape.v2_runner and not explicit:
        return ("mgd: vLLM's V1 model runner with async scheduling hands an entry-point logits processor "
                "placeholders (-1) instead of the tokens it sampled, so requests with 'mgd' settings would run "
                f"unconstrained. Way out: register mgd explicitly (--logits-processors {EXPLICIT_PROCESSOR}, "
                f"or LLM(logits_processors=['{EXPLICIT_PROCESSOR}'])), or pass --no-async-scheduling, or use "
                "Model Runner V2 (the GPU default).")
    return None


def tokenizer_of(vllm_config: Any) -> Any:
    mc = vllm_config.model_config
    return getattr(mc, "tokenizer", None) or mc.model
