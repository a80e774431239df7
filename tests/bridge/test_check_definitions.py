"""mgd.evaluation.member_check with a real server (jedi): Python definition sites are legal, uses are not."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsp_bridge.pool import ServerPool
from lsp_bridge.servers import preset
from mgd.evaluation.member_check import check_member_accesses
from monitors.languages import get_language

PREFIX = (
    "class Counter:\n"
    "    def __init__(self, start):\n"
    "        self.start = start\n"
    "\n"
    "    def reset(self):\n"
    "        self."
)
COMPLETION = (
    "total = 0\n"
    "        self.count += 1\n"
    "        self.items.append(self.start)\n"
    "        self.flag == 1\n"
    "        other.self.x = 2\n"
    "        y = self.extra + 3\n"
)


def test_definitions_are_legal_uses_are_not(pyproj: Path) -> None:
    async def run():
        async with ServerPool() as pool:
            return await check_member_accesses(pool, preset("jedi"), get_language("python"), pyproj,
                                               pyproj / "counter.py", PREFIX, COMPLETION, "\n", timeout=60)

    found = {(c.name, c.legal, c.definition) for c in asyncio.run(run())}
    assert ("total", True, True) in found  # ``self.total = 0``: defined
    assert ("count", True, True) in found  # ``+=``: an augmented assignment defines too
    assert ("items", False, False) in found  # used, never defined
    assert ("start", True, False) in found  # listed by the server
    assert ("flag", False, False) in found  # ``==`` is a comparison
    assert ("extra", False, False) in found  # used inside an expression
