"""The ``vllm.logits_processors`` entry point: one class for both model runners, never fatal.

vLLM 0.32 loads *every* class in the ``vllm.logits_processors`` group: the V1
runner constructs each with ``(vllm_config, device, is_pin_memory)`` without a
type check, and the V2 runner rejects any class that is not a V2 processor. Two
entry points (one per runner) would therefore break both. :class:`MgdLogitsProcessor`
subclasses both interfaces and, when vLLM constructs it, returns the processor
for the runner that called (:class:`~mgd.vllm.v1.MgdV1LogitsProcessor` or
:class:`~mgd.vllm.v2.MgdV2LogitsProcessor`). If an mgd class is also passed
explicitly (``--logits-processors``), the entry-point instance stays inert so
nothing is masked twice.

Being installed must never stop vLLM from starting: an exception while loading
this module's vLLM bases, importing mgd, or constructing the processor would be
fatal to vLLM (its loaders turn it into a ``RuntimeError``). So this module
imports nothing of mgd at module level except through a guard; on any failure
it logs the reason once and the class builds an inert processor (it never
touches logits). Requests that carry ``mgd`` settings are then refused with that
reason (HTTP 400) rather than run unconstrained; requests without are served as
usual. Outside the tested vLLM range (:data:`TESTED_VLLM`) it logs a warning once
and carries on.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("mgd.vllm")

__all__ = ["TESTED_VLLM", "MgdLogitsProcessor", "load_problem"]

#: vLLM releases this plugin was tested with (``mgd[vllm]`` pins the same range).
TESTED_VLLM = ("0.32", "0.33")  # >= first, < second
#: The per-request key (``mgd.config.KEY``), repeated so that refusing works when mgd cannot import.
_KEY = "mgd"

_bases: list[type] = []
try:
    from vllm.v1.sample.logits_processor import LogitsProcessor as _V1Base

    _bases.append(_V1Base)
except Exception as exc:  # noqa: BLE001 - any import failure must leave vLLM running
    _V1Base = None  # type: ignore[assignment,misc]
    log.debug("mgd: no V1 logits-processor interface: %s", exc)
try:
    from vllm.v1.worker.gpu.sample.logits_processor import LogitsProcessor as _V2Base

    _bases.append(_V2Base)
except Exception as exc:  # noqa: BLE001
    _V2Base = None  # type: ignore[assignment,misc]
    log.debug("mgd: no V2 logits-processor interface: %s", exc)

_problem: str | None = None  # why mgd is inert (None: it works)
_logged = False


def _fail(what: str, exc: BaseException) -> None:
    """Remember (and log once) why mgd stays inert."""
    global _problem, _logged
    if _problem is None:
        _problem = f"{what}: {type(exc).__name__}: {exc}"
    if not _logged:
        _logged = True
        log.error("mgd: the mgd logits processor is inert (vLLM runs without it; requests with 'mgd' settings "
                  "are refused): %s", _problem)


try:  # everything of mgd the entry point needs, behind one guard
    from mgd.vllm.common import explicitly_registered, validate_sampling_params
except Exception as exc:  # noqa: BLE001
    _fail("mgd failed to import", exc)
    explicitly_registered = validate_sampling_params = None  # type: ignore[assignment]


def _check_version() -> None:
    try:
        import vllm

        version = str(getattr(vllm, "__version__", "unknown"))
    except Exception:  # noqa: BLE001
        return
    parts = version.split(".")
    try:
        major_minor = (int(parts[0]), int(parts[1]))
    except (IndexError, ValueError):
        log.warning("mgd: cannot read the vLLM version %r; mgd was tested with vLLM >= %s, < %s", version,
                    *TESTED_VLLM)
        return
    lo, hi = (tuple(int(x) for x in v.split(".")) for v in TESTED_VLLM)
    if not lo <= major_minor < hi:
        log.warning("mgd: vLLM %s is outside the tested range (>= %s, < %s); mgd may not work with it",
                    version, *TESTED_VLLM)


_check_version()


def load_problem() -> str | None:
    """Why the plugin is inert (None when it works)."""
    return _problem


_checked = False


def _check_processors() -> None:
    """Import the processor modules once (the front end validates requests in its own
    process, where vLLM never builds a processor): a failure there is a failure of
    the workers too, and requests must not be accepted to run unconstrained."""
    global _checked
    if _checked or _problem is not None:
        return
    _checked = True
    try:
        if _V1Base is not None:
            import mgd.vllm.v1  # noqa: F401
        if _V2Base is not None:
            import mgd.vllm.v2  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        _fail("the mgd processor failed to import", exc)


class _InertV1(_V1Base if _V1Base is not None else object):  # type: ignore[misc]
    """A V1 processor that never touches logits."""

    enabled = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def is_argmax_invariant(self) -> bool:
        return True

    def update_state(self, batch_update: Any) -> None:
        pass

    def apply(self, logits: Any) -> Any:
        return logits


class _InertV2(_V2Base if _V2Base is not None else object):  # type: ignore[misc]
    """A V2 processor that takes no request."""

    enabled = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def add_request(self, req_idx: int, sampling_params: Any) -> bool:
        return False

    def apply(self, logits: Any, ctx: Any = None) -> Any:
        return logits


class MgdLogitsProcessor(*_bases):  # type: ignore[misc]
    """Runner-dispatching entry point; never instantiated itself."""

    def __new__(cls, vllm_config: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
        v2 = len(args) + len(kwargs) == 1  # V2: (vllm_config, req_states); V1: (.., device, is_pin_memory)
        if _problem is None:
            try:
                enabled = not explicitly_registered(vllm_config)
                if v2:
                    from mgd.vllm.v2 import MgdV2LogitsProcessor

                    return MgdV2LogitsProcessor(vllm_config, *args, **kwargs, enabled=enabled)
                from mgd.vllm.v1 import MgdV1LogitsProcessor

                return MgdV1LogitsProcessor(vllm_config, *args, **kwargs, enabled=enabled)
            except Exception as exc:  # noqa: BLE001 - a broken processor must not stop vLLM
                _fail("the mgd processor could not be built", exc)
        return _InertV2() if v2 else _InertV1()

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # pragma: no cover - __new__ returns another class
        raise TypeError("MgdLogitsProcessor is constructed by vLLM only")

    @classmethod
    def validate_params(cls, sampling_params: Any) -> None:
        extra = getattr(sampling_params, "extra_args", None)
        if not extra or _KEY not in extra:
            return
        _check_processors()
        if _problem is not None:
            raise ValueError(f"mgd is not available in this server: {_problem}")
        validate_sampling_params(sampling_params)

    def is_argmax_invariant(self) -> bool:  # pragma: no cover
        return False

    def update_state(self, batch_update: Any) -> None:  # pragma: no cover
        raise TypeError("not a processor instance")

    def apply(self, logits: Any, ctx: Any = None) -> Any:  # pragma: no cover
        raise TypeError("not a processor instance")
