"""What the editor server needs from a model: one request type, one result type, one protocol.

Light on purpose (no torch): the server (:mod:`.server`, whose ``make_engine``
picks the engine) and both engines import it: :mod:`.local_engine` (transformers)
and :mod:`.remote_engine` (an OpenAI-compatible server). It imports neither engine.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mgd.editor.completion_shape import CompletionShape

__all__ = ["CompletionEngine", "EngineRequest", "EngineResult"]


@dataclass(frozen=True, slots=True)
class EngineRequest:
    """One completion: where, what shape, how long it may take."""

    workspace: Path
    file: Path
    prefix: str
    suffix: str
    shape: CompletionShape
    max_new_tokens: int
    deadline: float  # time.perf_counter() value after which generation stops
    monitors: bool = True
    decode_after: float = 0.0  # perf_counter() value before which no token is picked (debounce)


@dataclass(slots=True)
class EngineResult:
    """The completion text (already cut by the stop rule) and what happened.

    ``stopped``: ``stop`` (a stop rule), ``eos``, ``length`` (token limit),
    ``budget`` (latency budget), ``cancelled``.
    """

    text: str
    tokens: int
    stopped: str
    elapsed_ms: float
    stats: dict[str, Any] = field(default_factory=dict)


class CompletionEngine(Protocol):
    """What the editor server needs from a model."""

    name: str

    def complete(self, request: EngineRequest, cancel: threading.Event) -> EngineResult:
        """Generate (blocking; run it in a worker thread). Checks ``cancel`` every step."""
        ...

    def warm(self, workspace: Path, file: Path, text: str) -> None:
        """Optional: start the language server / caches for a file that was opened."""
        ...

    def describe(self) -> dict[str, Any]:
        """What the engine runs (model, FIM template and where it came from); no secrets."""
        ...

    def close(self) -> None:
        """Release the model and the language servers."""
        ...
