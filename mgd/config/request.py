"""Per-request mgd settings (vLLM ``extra_args["mgd"]`` / ``vllm_xargs``): parse and validate.

Offline the value is a dict; over HTTP (``vllm_xargs`` only carries str, int,
float or lists of them) it is the same object as a JSON string. Keys:

``workspace`` (str, required), ``file`` (str, required, relative to the
workspace or absolute inside it), ``suffix`` (str, text after the hole),
``prefix`` (str, document text before the hole; default: the decoded prompt),
``language`` (str, default: from the file's extension and the workspace's
``mgd.toml``), ``monitors`` (list of names; default: the workspace's ``mgd.toml``
for the language, else ``["dereference"]``), ``heal`` (bool: token healing), ``wait_ms``
(number >= 0: how long one step may wait for a language server), ``provisional``
(bool: constrain a step whose lookup is still running to provisional names;
default: the operator's, ``MGD_PROVISIONAL``). Unknown keys
are rejected. The workspace must lie inside one of the operator's allowed roots
(:func:`allowed_roots_from_env`, ``MGD_ALLOWED_WORKSPACES`` or ``mgd serve
--allow-workspace``), never something the request decides.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsp_bridge.workspace import resolve_in_workspace
from monitors.errors import ConfigError, WorkspaceError
from monitors.languages import LANGUAGES
from monitors.registry import check_monitor_names

__all__ = [
    "ALLOWED_WORKSPACES_ENV",
    "DEFAULT_WAIT_MS",
    "KEY",
    "MAX_TEXT_CHARS",
    "MAX_WAIT_MS",
    "MgdSettings",
    "allowed_roots_from_env",
    "settings_of",
    "settings_payload",
]

#: Key of the mgd settings in ``SamplingParams.extra_args`` / ``vllm_xargs``.
KEY = "mgd"
#: Operator allow-list of workspace roots (``os.pathsep``-separated).
ALLOWED_WORKSPACES_ENV = "MGD_ALLOWED_WORKSPACES"
DEFAULT_WAIT_MS = 20.0
MAX_WAIT_MS = 60_000.0
#: Longest ``prefix``/``suffix`` accepted (characters): the language server holds the whole document.
MAX_TEXT_CHARS = 2_000_000
_KEYS = ("workspace", "file", "suffix", "prefix", "language", "monitors", "heal", "wait_ms", "provisional")


@dataclass(frozen=True, slots=True)
class MgdSettings:
    """Validated settings of one request (paths resolved and checked)."""

    workspace: Path
    file: Path
    suffix: str = ""
    prefix: str | None = None
    language: str | None = None
    monitors: tuple[str, ...] | None = None  # None: the workspace's mgd.toml, else the default
    heal: bool = False
    wait_ms: float = DEFAULT_WAIT_MS
    provisional: bool | None = None  # None: the operator's default
    #: The request's stop texts (vLLM's ``SamplingParams.stop``, not an ``mgd`` setting).
    stop: tuple[str, ...] = ()
    #: The request's token budget (vLLM's ``SamplingParams.max_tokens``, not an ``mgd`` setting).
    max_tokens: int | None = None

    @classmethod
    def parse(cls, raw: Any, allowed_roots: tuple[Path, ...] | None) -> MgdSettings:
        """Validate ``raw`` (dict or JSON string); ConfigError/WorkspaceError (ValueErrors) say why.

        ``allowed_roots``: the operator's allow-list; None allows no workspace at all.
        """
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"mgd settings are not valid JSON: {exc}") from exc
        if not isinstance(raw, Mapping):
            raise ConfigError(f"mgd settings must be an object, got {type(raw).__name__}")
        unknown = sorted(str(k) for k in raw if k not in _KEYS)
        if unknown:
            raise ConfigError(f"unknown mgd setting(s) {unknown}; known: {list(_KEYS)}")
        for key in ("workspace", "file"):
            if not isinstance(raw.get(key), str) or not raw[key]:
                raise ConfigError(f"mgd setting {key!r} is required and must be a non-empty string")
        for key in ("suffix", "prefix", "language"):
            if key in raw and raw[key] is not None and not isinstance(raw[key], str):
                raise ConfigError(f"mgd setting {key!r} must be a string")
        for key in ("suffix", "prefix"):
            if len(raw.get(key) or "") > MAX_TEXT_CHARS:
                raise ConfigError(f"mgd setting {key!r} is longer than {MAX_TEXT_CHARS} characters")
        monitors = raw.get("monitors")
        if isinstance(monitors, str):
            monitors = [monitors]
        if monitors is not None:
            if not isinstance(monitors, list) or not all(isinstance(m, str) for m in monitors):
                raise ConfigError("mgd setting 'monitors' must be a list of names")
            monitors = check_monitor_names(monitors, "mgd setting 'monitors'")
        heal = _boolean(raw.get("heal", False), "heal")
        provisional = None if raw.get("provisional") is None else _boolean(raw["provisional"], "provisional")
        if heal and not isinstance(raw.get("prefix"), str):
            raise ConfigError("mgd setting 'heal' needs 'prefix' (the original text before the hole; "
                              "the prompt itself must be the healed one)")
        wait = raw.get("wait_ms", DEFAULT_WAIT_MS)
        if isinstance(wait, bool) or not isinstance(wait, (int, float)) or not 0 <= wait <= MAX_WAIT_MS:
            raise ConfigError(f"mgd setting 'wait_ms' must be a number in [0, {MAX_WAIT_MS:g}]")
        language = raw.get("language")
        if language is not None:
            if language not in LANGUAGES:
                raise ConfigError(f"unknown language {language!r}; known: {sorted(LANGUAGES)}")
        workspace, file = _check_paths(raw["workspace"], raw["file"], allowed_roots)
        return cls(workspace, file, raw.get("suffix") or "", raw.get("prefix"), language,
                   monitors, heal, float(wait), provisional)


def settings_payload(
    workspace: str, file: str, *, suffix: str = "", prefix: str | None = None,
    monitors: Sequence[str] | None = None, heal: bool = False, wait_ms: float = DEFAULT_WAIT_MS,
    provisional: bool | None = None,
) -> dict[str, Any]:
    """The ``mgd`` settings of one request, as :meth:`MgdSettings.parse` reads them (the
    one writer, for the offline engine's ``extra_args`` and a remote ``vllm_xargs``);
    ``monitors`` (``provisional``) None leaves the choice to the workspace's ``mgd.toml``
    (the operator's default)."""
    out: dict[str, Any] = {"workspace": workspace, "file": file, "suffix": suffix, "wait_ms": wait_ms}
    if prefix is not None:
        out["prefix"] = prefix
    if monitors is not None:
        out["monitors"] = list(monitors)
    if heal:
        out["heal"] = True
    if provisional is not None:
        out["provisional"] = provisional
    return out


def settings_of(extra_args: Mapping[str, Any] | None, allowed_roots: tuple[Path, ...] | None) -> MgdSettings | None:
    """The request's settings, or None when it carries no ``mgd`` key."""
    if not extra_args or KEY not in extra_args:
        return None
    return MgdSettings.parse(extra_args[KEY], allowed_roots)


def allowed_roots_from_env(environ: Mapping[str, str] | None = None) -> tuple[Path, ...] | None:
    """Workspace roots the operator allows (``MGD_ALLOWED_WORKSPACES``); None if unset."""
    value = (os.environ if environ is None else environ).get(ALLOWED_WORKSPACES_ENV, "")
    roots = tuple(Path(p).expanduser().resolve() for p in value.split(os.pathsep) if p.strip())
    return roots or None


def _boolean(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise ConfigError(f"mgd setting {key!r} must be a boolean")


def _check_paths(workspace: str, file: str, roots: tuple[Path, ...] | None) -> tuple[Path, Path]:
    if roots is None:
        raise WorkspaceError(
            f"no workspace is allowed: the operator must set {ALLOWED_WORKSPACES_ENV} "
            "(or mgd serve --allow-workspace DIR)"
        )
    try:
        ws = Path(workspace).expanduser().resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # NUL bytes, names too long, loops
        raise WorkspaceError(f"workspace {workspace[:200]!r} cannot be resolved: {exc}") from exc
    if not any(ws.is_relative_to(r) for r in roots):
        raise WorkspaceError(f"workspace {workspace!r} is outside the allowed workspaces")
    try:
        path = resolve_in_workspace(ws, file)
    except ValueError as exc:  # WorkspaceError/ConfigError from the bridge
        raise WorkspaceError(str(exc)) from exc
    return ws, path  # the file need not exist yet: the server gets its text
