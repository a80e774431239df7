"""``--model``: a local directory or a Hugging Face id, checked before anything heavy loads."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from mgd.cli.errors import UsageError

__all__ = ["MODEL_ENV", "loading", "resolve_model"]

MODEL_ENV = "MGD_MODEL"

#: ``name`` or ``owner/name`` as the Hugging Face Hub spells repository ids.
_HUB_ID = re.compile(r"^(?:[A-Za-z0-9][\w.-]*/)?[A-Za-z0-9][\w.-]*$")


def resolve_model(value: str | None) -> str:
    """The model to load: ``--model``, else ``$MGD_MODEL``.

    An existing path must be a model directory (``config.json``) and is returned
    absolute; a missing path that cannot be a Hub id is a :class:`UsageError` that
    says what was tried, raised before torch or transformers are imported. A
    possible Hub id is returned as it is (:func:`loading` reports a failure).
    """
    model = value or os.environ.get(MODEL_ENV)
    source = "--model" if value else f"${MODEL_ENV}"
    if not model:
        raise UsageError(f"no model: pass --model PATH_OR_ID or set {MODEL_ENV}")
    path = Path(model).expanduser()
    if path.exists():
        if path.is_dir() and (path / "config.json").is_file():
            return str(path.resolve())
        raise UsageError(f"{source} {model}: {path.resolve()} is not a model directory (it has no config.json)")
    if not _HUB_ID.match(model) or ".." in model:
        raise UsageError(f"{source} {model}: no such directory ({path.absolute()}), and not a Hugging Face "
                         "model id (owner/name) either")
    _check_hub_id(model, source, path)
    return model


def _check_hub_id(model: str, source: str, path: Path) -> None:
    """A Hub id must be in the local cache or answer on the Hub (one request, no
    retries), so that a typo fails in a second with what was tried."""
    try:
        from huggingface_hub import HfApi, constants, try_to_load_from_cache
    except ImportError:  # no Hub client (the hf extra is missing): loading will say so
        return
    if isinstance(try_to_load_from_cache(model, "config.json"), str):
        return
    tried = f"tried: the directory {path.absolute()} (none), the Hugging Face cache (not there)"
    if constants.HF_HUB_OFFLINE:
        raise UsageError(f"{source} {model}: model not found; {tried}; the Hub was not asked (HF_HUB_OFFLINE)")
    try:
        HfApi().model_info(model, timeout=10)
    except Exception as exc:  # not found, gated, or no network: all end here
        raise UsageError(f"{source} {model}: model not found; {tried}, the Hub ({_first_line(exc)})") from None


@contextmanager
def loading(model: str) -> Iterator[None]:
    """Turn a failed ``from_pretrained`` of ``model`` into a :class:`UsageError` that
    lists what was tried (the local directory, then the Hub id)."""
    try:
        yield
    except OSError as exc:
        if Path(model).is_dir():
            raise UsageError(f"model {model}: cannot load it: {_first_line(exc)}") from exc
        raise UsageError(
            f"model {model!r} not found; tried: the directory {Path(model).absolute()} (none), then the "
            f"Hugging Face id {model!r} ({_first_line(exc)}). Pass a model directory with config.json, or "
            f"a Hub id that is cached or reachable (HF_HUB_OFFLINE=1 uses the cache only)"
        ) from exc


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
