from __future__ import annotations

import os
from pathlib import Path

import pytest

from lsp_bridge.workspace import path_to_uri, resolve_in_workspace, resolve_workspace, uri_to_path
from monitors.errors import WorkspaceError


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("x = 1\n")
    (tmp_path / "secret.py").write_text("KEY = 1\n")
    return root


def test_relative_and_absolute(ws: Path) -> None:
    expected = (ws / "pkg" / "mod.py").resolve()
    assert resolve_in_workspace(ws, "pkg/mod.py") == expected
    assert resolve_in_workspace(str(ws), ws / "pkg" / "mod.py") == expected
    assert resolve_in_workspace(ws, "pkg/../pkg/mod.py") == expected


def test_new_file_inside_is_allowed(ws: Path) -> None:
    assert resolve_in_workspace(ws, "pkg/new.py") == (ws / "pkg" / "new.py").resolve()


def test_dotdot_escape(ws: Path) -> None:
    with pytest.raises(WorkspaceError, match="outside"):
        resolve_in_workspace(ws, "../secret.py")


def test_symlink_escape(ws: Path, tmp_path: Path) -> None:
    (ws / "link.py").symlink_to(tmp_path / "secret.py")
    (ws / "linkdir").symlink_to(tmp_path)
    with pytest.raises(WorkspaceError, match="outside"):
        resolve_in_workspace(ws, "link.py")
    with pytest.raises(WorkspaceError, match="outside"):
        resolve_in_workspace(ws, "linkdir/secret.py")


def test_symlink_inside_is_fine(ws: Path) -> None:
    (ws / "alias.py").symlink_to(ws / "pkg" / "mod.py")
    assert resolve_in_workspace(ws, "alias.py") == (ws / "pkg" / "mod.py").resolve()


def test_symlinked_workspace(ws: Path, tmp_path: Path) -> None:
    link = tmp_path / "wslink"
    link.symlink_to(ws)
    assert resolve_in_workspace(link, link / "pkg" / "mod.py") == (ws / "pkg" / "mod.py").resolve()


def test_absolute_elsewhere(ws: Path, tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="outside"):
        resolve_in_workspace(ws, tmp_path / "secret.py")
    with pytest.raises(WorkspaceError, match="outside"):
        resolve_in_workspace(ws, "/etc/passwd")


def test_missing_or_bad_workspace(ws: Path, tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="does not exist"):
        resolve_in_workspace(tmp_path / "nope", "a.py")
    with pytest.raises(WorkspaceError, match="not a directory"):
        resolve_in_workspace(ws / "pkg" / "mod.py", "a.py")
    with pytest.raises(WorkspaceError, match="directory"):
        resolve_in_workspace(ws, "pkg")
    with pytest.raises(WorkspaceError):
        resolve_workspace("bad\0path")


def test_uris(tmp_path: Path) -> None:
    path = tmp_path / "a b" / "é.py"
    uri = path_to_uri(path)
    assert uri.startswith("file:///") and "%20" in uri
    assert uri_to_path(uri) == path
    assert uri_to_path(path_to_uri(Path(os.sep))) == Path(os.sep)
    with pytest.raises(WorkspaceError):
        uri_to_path("https://example.com/a.py")
    with pytest.raises(WorkspaceError):
        uri_to_path("file://host/share/a.py")
