"""CPU sets for language servers: parsing, the settings that carry them, and real pinning.

The pinning tests start a real jedi-language-server on one CPU and read the
affinity of it and of the inference subprocess it starts later (children
inherit the set), and check the LSP loop thread's own affinity.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from pathlib import Path

import pytest

from lsp_bridge import BackgroundLoop, LspServer, preset
from lsp_bridge.cpus import available_cpus, format_cpus, parse_cpus
from mgd.config import SessionConfig, parse_config
from monitors.errors import ConfigError

from .conftest import PYPROJ

LAST_CPU = max(available_cpus())


@pytest.mark.parametrize(("text", "ids"), [("0", {0}), ("0-1", {0, 1}), ("1,0", {0, 1}), (" 0 , 0-0 ", {0}),
                                           ([0], {0})])
def test_parse(text, ids) -> None:
    assert parse_cpus(text) == frozenset(ids)


@pytest.mark.parametrize("bad", ["", "a", "1-", "-1", "3-1", "0;1", str(os.cpu_count()), 5, [True], [-1], []])
def test_parse_rejects_with_the_reason(bad) -> None:
    with pytest.raises(ConfigError, match="CPU"):
        parse_cpus(bad, "CPU list")


def test_format_round_trips() -> None:
    assert format_cpus({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8"
    every = available_cpus()
    assert parse_cpus(format_cpus(every)) == every


def test_settings_carry_the_set() -> None:
    assert SessionConfig(lsp_cpus="0").lsp_cpus == frozenset({0})
    with pytest.raises(ConfigError):
        SessionConfig(lsp_cpus="x")
    spec = parse_config({"servers": {"jedi": {"cpus": f"{LAST_CPU}"}}}).server("jedi")
    assert spec.cpus == frozenset({LAST_CPU})
    assert parse_config({"servers": {"jedi": {"cpus": [0]}}}).server("jedi").cpus == frozenset({0})
    with pytest.raises(ConfigError, match=r"servers\.jedi\.cpus"):
        parse_config({"servers": {"jedi": {"cpus": "zero"}}})


def test_session_flag_overrides_the_file(tmp_path: Path) -> None:
    from mgd.session import MgdSession
    from monitors.languages import get_language
    from monitors.vocab import VocabIndex

    toml = tmp_path / "mgd.toml"
    toml.write_text('[servers.jedi]\ncpus = "0"\n')
    index = VocabIndex([b"a"], eos_ids=())
    with MgdSession(index, SessionConfig(config=toml)) as s:
        assert s.server_for(get_language("python")).cpus == frozenset({0})
    with MgdSession(index, SessionConfig(config=toml, lsp_cpus=str(LAST_CPU))) as s:
        assert s.server_for(get_language("python")).cpus == frozenset({LAST_CPU})


def test_loop_thread_runs_on_its_cpus() -> None:
    with BackgroundLoop(cpus=frozenset({LAST_CPU})) as loop:

        async def where() -> set[int]:
            return os.sched_getaffinity(0)  # the calling thread's set

        assert loop.run(where(), timeout=5) == {LAST_CPU}
    assert os.sched_getaffinity(0) == set(available_cpus())  # the caller's thread is untouched
    assert threading.current_thread() is threading.main_thread()


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        out.extend(int(k) for k in kids)
        todo.extend(int(k) for k in kids)
    return out


@pytest.mark.e2e
async def test_server_and_its_children_are_pinned() -> None:
    spec = dataclasses.replace(preset("jedi"), cpus=frozenset({LAST_CPU}))
    server = await LspServer.start(spec, PYPROJ)
    try:
        app = PYPROJ / "app.py"
        text = app.read_text() + "    c."
        await server.complete(app, text, len(text), timeout=30)  # jedi starts its inference subprocess
        assert server.pid is not None
        assert os.sched_getaffinity(server.pid) == {LAST_CPU}
        kids = _descendants(server.pid)
        assert kids, "jedi started no subprocess"
        assert all(os.sched_getaffinity(k) == {LAST_CPU} for k in kids)
    finally:
        await server.shutdown()
