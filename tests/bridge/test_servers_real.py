"""Real jedi-language-server and pyright on a small fixture project."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from lsp_bridge import LspServer, preset
from monitors.errors import ServerExited

from .conftest import PYPROJ, process_gone

pytestmark = pytest.mark.asyncio(loop_scope="module")

APP = PYPROJ / "app.py"
BASE = APP.read_text()
CIRCLE = {"radius", "area", "scale", "perimeter", "diameter"}
SQUARE = {"width", "area", "rotate"}


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["jedi", "pyright"])
async def server(request: pytest.FixtureRequest) -> AsyncIterator[LspServer]:
    srv = await LspServer.start(preset(request.param), PYPROJ)
    yield srv
    await srv.shutdown()
    assert process_gone(srv.pid)


async def names_at_end(server: LspServer, text: str) -> frozenset[str]:
    result = await server.complete(APP, text, len(text), timeout=20)
    return result.names


async def test_negotiated_position_encoding(server: LspServer) -> None:
    # jedi-language-server reads request positions as code points: utf-32 is negotiated.
    expected = {"jedi": "utf-32", "pyright": "utf-16"}[server.spec.name]
    assert server.position_encoding == expected


async def test_member_completion(server: LspServer) -> None:
    names = await names_at_end(server, BASE + "    c.")
    assert CIRCLE <= names
    assert "width" not in names and "rotate" not in names
    names = await names_at_end(server, BASE + "    s.")
    assert SQUARE <= names
    assert "radius" not in names


async def test_incremental_changes(server: LspServer) -> None:
    steps = [
        (BASE + "    c.", CIRCLE, {"width"}),
        # An edit in the middle of the file: c becomes a Square.
        (BASE.replace("c = Circle(2.0)", "c = Square(2.0)") + "    c.", SQUARE, {"radius"}),
        (BASE.replace("c = Circle(2.0)", "c = Square(2.0)") + "    c.area()\n    s.", SQUARE, {"radius"}),
        # A new line inserted earlier; the type flows through scale().
        (
            BASE.replace("    s = Square(3.0)\n", "    s = Square(3.0)\n    t = c.scale(2)\n") + "    t.",
            CIRCLE,
            {"width"},
        ),
        (BASE + "    c.", CIRCLE, {"width"}),
    ]
    await server.sync(APP, BASE)
    version = server.document_version(APP)
    assert version is not None
    for text, present, absent in steps:
        names = await names_at_end(server, text)
        assert present <= names, text
        assert not (absent & names), text
        version += 1
        assert server.document_version(APP) == version  # didChange, not a reopen


async def test_utf16_position_after_emoji(server: LspServer) -> None:
    # In Python characters the cursor would sit 3 units early, after '"; '.
    text = BASE.replace("    print(", '    note = "😀 ünïcode 𝔘"\n    print(') + '    label = "😀😀😀"; c.'
    names = await names_at_end(server, text)
    assert CIRCLE <= names
    assert "width" not in names


async def test_concurrent_completions_same_uri(server: LspServer) -> None:
    text_c = BASE + "    c."
    text_s = BASE + "    s."
    jobs = [server.complete(APP, t, len(t), timeout=20) for t in [text_c, text_s] * 3]
    results = await asyncio.gather(*jobs)
    for i, result in enumerate(results):
        if i % 2 == 0:
            assert CIRCLE <= result.names and "width" not in result.names
        else:
            assert SQUARE <= result.names and "radius" not in result.names


async def test_completion_in_a_new_file(server: LspServer, tmp_path: Path) -> None:
    path = PYPROJ / "scratch_not_on_disk.py"
    text = "from geometry import Square\n\nSquare(1.0)."
    result = await server.complete(path, text, len(text), timeout=20)
    assert SQUARE <= result.names
    await server.close_document(path)
    assert server.document_version(path) is None


@pytest.mark.parametrize("name", ["jedi", "pyright"])
async def test_shutdown_leaves_no_process(name: str) -> None:
    async with await LspServer.start(preset(name), PYPROJ) as srv:
        pid = srv.pid
        assert pid is not None and srv.alive and not process_gone(pid)
        text = BASE + "    c."
        assert "radius" in (await srv.complete(APP, text, len(text), timeout=20)).names
    assert not srv.alive
    assert srv.returncode == 0  # it exited on request, not by signal
    assert process_gone(pid)
    with pytest.raises(ServerExited):
        await srv.complete(APP, text, len(text))
    await srv.shutdown()  # twice is fine
