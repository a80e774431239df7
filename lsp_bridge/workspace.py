"""Keep files inside a workspace, and convert between paths and ``file:`` URIs."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from monitors.errors import WorkspaceError

__all__ = ["path_to_uri", "resolve_in_workspace", "resolve_workspace", "uri_to_path"]


def resolve_workspace(workspace: str | Path) -> Path:
    """The workspace directory, absolute with symlinks resolved.

    Raises :class:`WorkspaceError` if it does not exist or is not a directory.
    """
    try:
        root = Path(workspace).resolve(strict=True)
    except (OSError, ValueError) as exc:
        raise WorkspaceError(f"workspace {str(workspace)!r} does not exist") from exc
    if not root.is_dir():
        raise WorkspaceError(f"workspace {str(workspace)!r} is not a directory")
    return root


def resolve_in_workspace(workspace: str | Path, file: str | Path) -> Path:
    """The absolute, symlink-free path of ``file`` inside ``workspace``.

    ``file`` may be relative to the workspace or absolute, and need not exist
    yet. Raises :class:`WorkspaceError` when the workspace is missing, or the
    file is a directory or lies outside the workspace (through ``..``, a
    symlink, or an absolute path elsewhere).
    """
    root = resolve_workspace(workspace)
    candidate = Path(file)
    if not candidate.is_absolute():
        candidate = root / candidate
    try:
        resolved = candidate.resolve(strict=False)
    except (OSError, ValueError, RuntimeError) as exc:
        raise WorkspaceError(f"cannot resolve {str(file)!r}: {exc}") from exc
    if not resolved.is_relative_to(root):
        raise WorkspaceError(f"{str(file)!r} is outside the workspace {str(root)!r}")
    try:
        is_dir = resolved.is_dir()
    except OSError as exc:  # e.g. a name too long for the file system
        raise WorkspaceError(f"cannot use {str(file)[:200]!r}: {exc.strerror or exc}") from exc
    if is_dir:
        raise WorkspaceError(f"{str(file)!r} is a directory, not a file")
    return resolved


def path_to_uri(path: str | Path) -> str:
    """The ``file:`` URI of ``path`` (made absolute first)."""
    return Path(path).absolute().as_uri()


def uri_to_path(uri: str) -> Path:
    """The local path of a ``file:`` URI; :class:`WorkspaceError` for anything else."""
    parsed = urlparse(uri)
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        raise WorkspaceError(f"not a local file URI: {uri!r}")
    return Path(unquote(parsed.path))
