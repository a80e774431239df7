"""The member check (mgd.evaluation.member_check) judges the member after the dot, not the line around it (issue 29).

In click's ``HelpFormatter.write_usage`` the hole is the rest of
``indent = " " * (max(self.current_indent, term_len(prefix)) + 4)`` after ``self.``: with
the brackets left open, Python joins the next line (``self.write(``) to the access, and
pyright answers global names there, so a real member (``current_indent``) was judged
illegal. Real servers, the click fixture.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lsp_bridge.brackets import closers
from lsp_bridge.pool import ServerPool
from lsp_bridge.servers import preset
from mgd.evaluation.member_check import check_member_accesses
from monitors.languages import get_language

PY = get_language("python")
LINE = 'indent = " " * (max(self.'


def test_closers() -> None:
    assert closers("python", LINE) == "))"
    assert closers("python", "x = [f(a, {1: b.") == "})]"
    assert closers("python", "x = (1)\ny = a.") == ""
    assert closers("python", 's = f"{self.') == ""  # in a string: the document is left as it is
    assert closers("python", "f(x  # a comment (") == ""
    assert closers("java", "class A { void f() { g(a, b.") == ""  # Python only
    # lexed from the last def line (none is inside brackets): what came before is not read
    assert closers("python", "y = (1,\n" + "def f(a):\n    return g(a,\n" + "    1,\n" * 100 + "    a.") == ")"


def _verdicts(server: str, project: Path, completions: list[str]) -> list[tuple[str, bool | None]]:
    path = project / "click" / "formatting.py"
    text = path.read_text(encoding="utf-8")
    at = text.index(LINE) + len(LINE)
    prefix, suffix = text[:at], text[text.index("\n", at) :]

    async def run():
        async with ServerPool() as pool:
            out = []
            for completion in completions:
                found = await check_member_accesses(pool, preset(server), PY, project, path, prefix, completion,
                                                    suffix, timeout=60)
                out.append((found[0].name, found[0].legal))
            return out

    return asyncio.run(run())


@pytest.mark.parametrize("server", ["jedi", "pyright"])
def test_a_real_member_is_legal_whatever_follows(server: str, click_project: Path) -> None:
    got = _verdicts(server, click_project, [
        "current_indent + 20) // 20)",  # what the model wrote (issue 29)
        "current_indent, term_len(prefix)) + 4)",  # the original line
        "current_indent + ) ] (",  # the rest does not parse at all
        "current_indentz + 20) // 20)",  # an invented member still fails
        "width - 2",
    ])
    assert got == [("current_indent", True), ("current_indent", True), ("current_indent", True),
                   ("current_indentz", False), ("width", True)]
