"""The ``vllm.logits_processors`` entry point and the explicit class: both runners, never fatal.

vLLM loads *every* class in the ``vllm.logits_processors`` group: the V1 runner
constructs each with ``(vllm_config, device, is_pin_memory)`` without a type check,
and the V2 runner rejects any class that is not a V2 processor. Two entry points
(one per runner) would therefore break both. :class:`MgdLogitsProcessor` (the entry
point) subclasses both interfaces and, when vLLM constructs it, returns the processor
for the runner that called (:class:`~mgd.vllm.v1.MgdV1LogitsProcessor` or
:class:`~mgd.vllm.v2.MgdV2LogitsProcessor`).

Explicit registration (``--logits-processors mgd.vllm.plugin:MgdExplicitProcessor``,
either runner; or the runner's own class) makes the entry-point instance inert so
nothing is masked twice. The entry-point class itself cannot be registered
explicitly: vLLM would build it twice with identical arguments and nothing tells
the two apart, so that start fails with the way out.

The entry-point instance also stays inert, with the reason logged at start-up, where
it would guide nothing (:func:`mgd.vllm.common.engine_problem`: the V1 runner with
async scheduling, where an entry-point processor sees placeholders for every new
token). Register mgd explicitly there.

Being installed must never stop vLLM from starting: an exception while loading
this module's vLLM bases, importing mgd, or constructing the processor would be
fatal to vLLM (its loaders turn it into a ``RuntimeError``). So this module
imports nothing of mgd at module level except through a guard; on any failure
it logs the reason once and the class builds an inert processor (it never
touches logits). Requests that carry ``mgd`` settings are then refused with that
reason (HTTP 400) in the same process (the front end validates requests in its own
process when vLLM runs multiprocess; the reason is in the engine's log);
requests without are served as usual. Outside the supported vLLM range
(:data:`mgd.vllm.compat.SUPPORTED_VLLM`) it logs a warning once and carries on.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("mgd.vllm")

__all__ = ["MgdExplicitProcessor", "MgdLogitsProcessor", "load_problem"]

#: The per-request key (``mgd.config.KEY``), repeated so that refusing works when mgd cannot import.
_KEY = "mgd"

_bases: list[type] = []
try:
    from vllm.v1.sample.logits_processor import LogitsProcessor as _V1Base  # pyright: ignore[reportMissingImports]

    _bases.append(_V1Base)
except Exception as exc:  # noqa: BLE001 - any import failure must leave vLLM running
    _V1Base = None  # type: ignore[assignment,misc]
    log.debug("mgd: no V1 logits-processor interface: %s", exc)
try:
    from vllm.v1.worker.gpu.sample.logits_processor import (  # pyright: ignore[reportMissingImports]
        LogitsProcessor as _V2Base,
    )

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
    from mgd.vllm.common import EXPLICIT_PROCESSOR, engine_problem, explicitly_registered, validate_sampling_params
    from mgd.vllm.compat import SUPPORTED_VLLM, engine_shape
except Exception as exc:  # noqa: BLE001
    _fail("mgd failed to import", exc)
    explicitly_registered = validate_sampling_params = engine_problem = engine_shape = None  # type: ignore[assignment]
    EXPLICIT_PROCESSOR = "mgd.vllm.plugin:MgdExplicitProcessor"
    SUPPORTED_VLLM = ("0.32", "0.35")


def _vllm_version() -> str | None:
    try:
        import vllm

        return str(getattr(vllm, "__version__", "unknown"))
    except Exception:  # noqa: BLE001
        return None


def _check_version(version: str | None) -> None:
    if version is None:
        return
    parts = version.split(".")
    try:
        major_minor = (int(parts[0]), int(parts[1]))
    except (IndexError, ValueError):
        log.warning("mgd: cannot read the vLLM version %r; mgd supports vLLM >= %s, < %s", version,
                    *SUPPORTED_VLLM)
        return
    lo, hi = (tuple(int(x) for x in v.split(".")) for v in SUPPORTED_VLLM)
    if not lo <= major_minor < hi:
        log.warning("mgd: vLLM %s is outside the supported range (>= %s, < %s); mgd may not work with it",
                    version, *SUPPORTED_VLLM)


_VLLM_VERSION = _vllm_version()
_check_version(_VLLM_VERSION)


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


class _RefusingV1(_InertV1):
    """An inert V1 processor in an engine mgd cannot guide: every request with ``mgd``
    settings that reaches it is logged as running unconstrained, with the reason (the
    front end refuses them where it shares this process; a multiprocess server's cannot)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def update_state(self, batch_update: Any) -> None:
        for added in getattr(batch_update, "added", None) or ():
            if _KEY in (getattr(added[1], "extra_args", None) or {}):
                log.error("mgd: a request with 'mgd' settings runs UNCONSTRAINED: %s", self.reason)


class _InertV2(_V2Base if _V2Base is not None else object):  # type: ignore[misc]
    """A V2 processor that takes no request."""

    enabled = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def add_request(self, req_idx: int, sampling_params: Any) -> bool:
        return False

    def apply(self, logits: Any, ctx: Any = None) -> Any:
        return logits


_OWN_NAME = f"{__name__}:MgdLogitsProcessor"


def _explicit_entry_point() -> str:
    return (f"mgd: {_OWN_NAME} is the entry point vLLM already loads; registering it explicitly builds it "
            f"twice with nothing to tell the two apart. Way out: pass --logits-processors {EXPLICIT_PROCESSOR} "
            "(either runner) or nothing (the entry point alone guides, except on the V1 runner with async "
            "scheduling).")


class MgdLogitsProcessor(*_bases):  # type: ignore[misc]
    """Runner-dispatching entry point; never instantiated itself."""

    #: False for the entry point: an explicitly registered mgd class takes over.
    _explicit = False

    def __new__(cls, vllm_config: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
        v2 = len(args) + len(kwargs) == 1  # V2: (vllm_config, req_states); V1: (.., device, is_pin_memory)
        if _problem is None:
            assert explicitly_registered and engine_problem and engine_shape  # imported, else _problem is set
            explicit = explicitly_registered(vllm_config)
            if not cls._explicit and _OWN_NAME in explicit:
                raise ValueError(_explicit_entry_point())  # the user asked for it: loud, not inert
            enabled = cls._explicit or not explicit
            try:
                problem = (engine_problem(engine_shape(vllm_config), bool(explicit), _VLLM_VERSION)
                           if enabled else None)
                if problem is not None:
                    _fail("mgd cannot guide this engine", ValueError(problem))
                    return _InertV2() if v2 else _RefusingV1(problem)
                if v2:
                    from mgd.vllm.v2 import MgdV2LogitsProcessor as Processor
                else:
                    from mgd.vllm.v1 import MgdV1LogitsProcessor as Processor
                proc = Processor(vllm_config, *args, **kwargs, enabled=enabled)
                if proc.enabled:
                    log.info("mgd: %s logits processor active (%s runner, %s)", Processor.__name__,
                             "MRV2" if v2 else "V1", "registered explicitly" if cls._explicit else "entry point")
                return proc
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
        assert validate_sampling_params is not None  # imported, else _problem is set
        validate_sampling_params(sampling_params)

    def is_argmax_invariant(self) -> bool:  # pragma: no cover
        return False

    def update_state(self, batch_update: Any) -> None:  # pragma: no cover
        raise TypeError("not a processor instance")

    def apply(self, logits: Any, ctx: Any = None) -> Any:  # pragma: no cover
        raise TypeError("not a processor instance")


class MgdExplicitProcessor(MgdLogitsProcessor):
    """The class to register explicitly (``--logits-processors mgd.vllm.plugin:MgdExplicitProcessor``
    or ``LLM(logits_processors=[...])``): either runner, always active; the entry-point
    instance then stays inert."""

    _explicit = True
