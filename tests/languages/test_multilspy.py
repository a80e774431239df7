"""The optional multilspy backend, offline with Python (jedi-language-server)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lsp_bridge import preset
from mgd.session import SessionConfig
from monitors.errors import ConfigError

pytest.importorskip("multilspy", reason="optional backend: pip install --no-deps multilspy psutil requests")

from lsp_bridge.multilspy_backend import MultilspyPool  # noqa: E402

pytestmark = pytest.mark.e2e


async def test_multilspy_pool_completes_python(demo_project: Path) -> None:
    path = demo_project / "report.py"
    text = path.read_text(encoding="utf-8")
    at = text.index("total += c.") + len("total += c.")
    async with MultilspyPool() as pool:
        res = await pool.complete(preset("jedi"), demo_project, path, text, at, timeout=60)
        assert "area" in res.names and "radius" in res.names
        assert "import" not in res.names  # keywords are not identifiers
        edited = text[:at] + "ar" + text[at:]
        res = await pool.complete(preset("jedi"), demo_project, path, edited, at + 2, timeout=60)
        assert "area" in res.names
        # A need for member types: multilspy cannot resolve, the items come back plain.
        res = await pool.complete(preset("jedi"), demo_project, path, edited, at + 2, timeout=60, resolve=8)
        assert "area" in res.names
        pids = [s.pid for s in pool.servers()]
    assert pids
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_unknown_backend_is_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown backend"):
        SessionConfig(backend="vscode")
