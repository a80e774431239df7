"""Bad input gets a clear error and touches nothing else.

Request settings (vLLM ``extra_args["mgd"]``), the session's allow-list, cases
in a batch (one bad case is reported, the rest finish), prompts longer than the
context, and how language servers are spawned (no shell, scrubbed environment,
private temporary directories that are removed). Path checks of
``resolve_in_workspace`` itself are in ``tests/bridge/test_workspace.py``; HTTP
400s from ``mgd serve`` in ``tests/vllm/test_vllm_server.py``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lsp_bridge import preset
from mgd.config import MAX_TEXT_CHARS, MgdSettings
from mgd.engines.cases import iter_cases
from mgd.engines.generate import GenerateOptions, Prompt
from mgd.session import MgdSession, SessionConfig
from monitors.errors import ConfigError, MgdError, WorkspaceError

from ._procs import children
from .conftest import FAKES, fake_spec

# -- request settings ------------------------------------------------------------------


@pytest.fixture(scope="module")
def ws() -> Path:
    return (Path(__file__).resolve().parents[2] / "examples" / "demo_project").resolve()


BAD_SETTINGS: list[tuple[str, Any, type[MgdError], str]] = [
    ("not an object", [1], ConfigError, "must be an object"),
    ("a number", 5, ConfigError, "must be an object"),
    ("invalid JSON", "{not json", ConfigError, "not valid JSON"),
    ("JSON list", "[1, 2]", ConfigError, "must be an object"),
    ("unknown key", {"colour": "red"}, ConfigError, "unknown mgd setting"),
    ("non-string key", {1: 2}, ConfigError, "unknown mgd setting"),
    ("workspace int", {"workspace": 3}, ConfigError, "'workspace' is required"),
    ("file list", {"file": ["a.py"]}, ConfigError, "'file' is required"),
    ("file empty", {"file": ""}, ConfigError, "'file' is required"),
    ("suffix int", {"suffix": 3}, ConfigError, "'suffix' must be a string"),
    ("prefix object", {"prefix": {}}, ConfigError, "'prefix' must be a string"),
    ("language int", {"language": 1}, ConfigError, "'language' must be a string"),
    ("language unknown", {"language": "cobol"}, ConfigError, "unknown language"),
    ("monitors int", {"monitors": 3}, ConfigError, "list of names"),
    ("monitors nested", {"monitors": [["dereference"]]}, ConfigError, "list of names"),
    ("monitor unknown", {"monitors": ["telepathy"]}, ConfigError, "unknown monitor"),
    ("heal text", {"heal": "maybe"}, ConfigError, "'heal' must be a boolean"),
    ("heal 2", {"heal": 2}, ConfigError, "'heal' must be a boolean"),
    ("wait negative", {"wait_ms": -1}, ConfigError, "'wait_ms'"),
    ("wait huge", {"wait_ms": 1e12}, ConfigError, "'wait_ms'"),
    ("wait text", {"wait_ms": "5"}, ConfigError, "'wait_ms'"),
    ("wait bool", {"wait_ms": True}, ConfigError, "'wait_ms'"),
    ("wait NaN", {"wait_ms": float("nan")}, ConfigError, "'wait_ms'"),
    ("suffix too long", {"suffix": "x" * (MAX_TEXT_CHARS + 1)}, ConfigError, "longer than"),
    ("prefix too long", {"prefix": "x" * (MAX_TEXT_CHARS + 1)}, ConfigError, "longer than"),
    ("file ..", {"file": "../../../etc/passwd"}, WorkspaceError, "outside the workspace"),
    ("file absolute", {"file": "/etc/passwd"}, WorkspaceError, "outside the workspace"),
    ("file NUL", {"file": "a\0b.py"}, WorkspaceError, "null byte"),
    ("file name too long", {"file": "a" * 100_000}, WorkspaceError, "cannot use"),
    ("file is a directory", {"file": "geometry"}, WorkspaceError, "directory"),
    ("workspace elsewhere", {"workspace": "/tmp"}, WorkspaceError, "outside the allowed"),
    ("workspace ..", {"workspace": "{ws}/../.."}, WorkspaceError, "outside the allowed"),
    ("workspace NUL", {"workspace": "{ws}\0"}, WorkspaceError, "cannot be resolved"),
]


@pytest.mark.parametrize(("raw", "error", "match"), [c[1:] for c in BAD_SETTINGS], ids=[c[0] for c in BAD_SETTINGS])
def test_malformed_settings_are_rejected(raw: Any, error: type[MgdError], match: str, ws: Path) -> None:
    if isinstance(raw, dict):
        raw = {"workspace": str(ws), "file": "report.py", **raw}
        raw = {k: v.replace("{ws}", str(ws)) if isinstance(v, str) and len(v) < 1000 else v for k, v in raw.items()}
    with pytest.raises(error, match=match):
        MgdSettings.parse(raw, (ws,))
    assert issubclass(error, ValueError)  # vLLM turns ValueError into HTTP 400


def test_no_allow_list_allows_nothing(ws: Path) -> None:
    with pytest.raises(WorkspaceError, match="no workspace is allowed"):
        MgdSettings.parse({"workspace": str(ws), "file": "report.py"}, None)


def test_good_settings_pass(ws: Path) -> None:
    s = MgdSettings.parse(json.dumps({"workspace": str(ws), "file": "report.py", "wait_ms": 5}), (ws,))
    assert s.file == ws / "report.py" and s.wait_ms == 5.0


# -- the session's allow-list -------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, Path]:
    """allowed/ws (a.py, a symlink to a file outside, a symlinked dir outside),
    outside/ws2, secret.py, and a symlink inside allowed/ to outside/ws2."""
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    (allowed / "ws").mkdir(parents=True)
    (outside / "ws2").mkdir(parents=True)
    (allowed / "ws" / "a.py").write_text("x = 1\nx.")
    (tmp_path / "secret.py").write_text("KEY = 1\n")
    (allowed / "ws" / "link.py").symlink_to(tmp_path / "secret.py")
    (allowed / "ws" / "linkdir").symlink_to(outside)
    (allowed / "escape").symlink_to(outside / "ws2")
    return {"allowed": allowed, "ws": allowed / "ws", "outside": outside, "secret": tmp_path / "secret.py"}


@pytest.fixture(scope="module")
def index(tiny_tokenizer: Any) -> Any:
    from monitors.vocab import VocabIndex

    return VocabIndex.from_tokenizer(tiny_tokenizer)


def escapes(t: dict[str, Path]) -> list[tuple[str, str | Path, str | Path]]:
    ws = t["ws"]
    return [
        ("workspace outside the roots", t["outside"] / "ws2", "a.py"),
        ("workspace through ..", ws / ".." / ".." / "outside" / "ws2", "a.py"),
        ("workspace symlinked outside", t["allowed"] / "escape", "a.py"),
        ("file through ..", ws, "../../secret.py"),
        ("file symlink outside", ws, "link.py"),
        ("file in a symlinked dir", ws, "linkdir/ws2/a.py"),
        ("absolute file elsewhere", ws, t["secret"]),
        ("absolute /etc/passwd", ws, "/etc/passwd"),
        ("NUL in file", ws, "a\0.py"),
        ("missing workspace", t["allowed"] / "nope", "a.py"),
    ]


def test_session_allow_list(tree: dict[str, Path], index: Any) -> None:
    before = children()
    spec = preset("jedi")
    with MgdSession(index, SessionConfig(server=spec, allowed_roots=(tree["allowed"],))) as session:
        for name, workspace, file in escapes(tree):
            with pytest.raises(WorkspaceError):
                session.guide(workspace, file, "x = 1\nx.")
            assert session.pool.servers() == [], name  # nothing was started
        guide = session.guide(tree["ws"], "a.py", "x = 1\nx.")  # inside: fine
        assert guide is not None
    assert children() - before == set()
    assert tree["secret"].read_text() == "KEY = 1\n"


# -- how servers are spawned -------------------------------------------------------------


def test_server_spawned_without_shell_with_scrubbed_env(tmp_path: Path, index: Any, demo_hole, monkeypatch) -> None:
    """Arguments reach the server verbatim (no shell expands them), the server leads its
    own session, runs in the workspace, and sees only PATH, HOME, LANG and its spec's env."""
    ws, path, prefix, suffix = demo_hole
    dump, pwned = tmp_path / "dump.json", tmp_path / "pwned"
    hostile = [f"$(touch {pwned})", f"; touch {pwned}", "`id`", "*", "a b"]
    monkeypatch.setenv("MGD_SECRET_TOKEN", "do-not-leak")
    monkeypatch.setenv("LD_PRELOAD", "/nonexistent.so")
    base = fake_spec("dump_env", env={"FAKE_DUMP": str(dump)})
    spec = dataclasses.replace(base, command=(*base.command, *hostile))
    before = children()
    with MgdSession(index, SessionConfig(server=spec, wait_ms=10_000)) as session:
        guide = session.guide(ws, path, prefix, suffix)
        step = guide.allowed()  # the lookup at the prompt's final dot starts the server
        assert step.ids is not None and guide.report()["failed_lookups"] == 0
        [server] = session.pool.servers()
        info = json.loads(dump.read_text())
        assert children() - before == {server.pid}
    assert info["argv"][1:] == hostile and not pwned.exists()
    assert info["ppid"] == os.getpid() and info["sid"] == info["pid"] == server.pid
    assert Path(info["cwd"]) == ws
    assert set(info["env"]) <= {"PATH", "HOME", "LANG", "FAKE_DUMP", "LC_CTYPE"}
    assert children() - before == set()


def test_jdtls_launcher_uses_a_private_temp_dir_and_removes_it(tmp_path: Path) -> None:
    """The JDT LS launcher (real) with a stand-in ``java``: its state lives in a
    0700 directory under TMPDIR, removed when the server stops; a directory left by
    a killed launcher is removed by the next launch."""
    import asyncio

    from lsp_bridge import LspServer

    home, tmp = tmp_path / "jdtls", tmp_path / "tmp"
    (home / "plugins").mkdir(parents=True)
    (home / "plugins" / "org.eclipse.equinox.launcher_1.0.jar").write_bytes(b"")
    (home / "configuration").mkdir()
    (home / "configuration" / "config.ini").write_text("x=1\n")
    tmp.mkdir()
    stale = tmp / "mgd-jdtls-999999999-dead"  # its launcher pid does not exist
    stale.mkdir()
    java = tmp_path / "java"
    java.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKES / "fake_java.py"}" "$@"\n')
    java.chmod(0o755)
    dump = tmp_path / "dump.json"
    spec = dataclasses.replace(
        preset("jdtls"),
        env={"JDTLS_JAVA": str(java), "JDTLS_HOME": str(home), "TMPDIR": str(tmp), "FAKE_DUMP": str(dump)},
        start_timeout_s=30, shutdown_timeout_s=2,
    )
    project = tmp_path / "proj"
    project.mkdir()

    async def run() -> tuple[dict[str, Any], set[int]]:
        before = children()
        async with await LspServer.start(spec, project):
            info = json.loads(dump.read_text())
            running = children() - before
            assert Path(info["private"]).is_dir()
        return info, running

    info, running = asyncio.run(run())
    assert info["pid"] in running  # java ran under the launcher, not a shell
    private = Path(info["private"])
    assert private.parent == tmp and private.name.startswith("mgd-jdtls-")
    assert info["mode"] == 0o700
    assert not private.exists() and not stale.exists()
    assert list(tmp.iterdir()) == []
    assert not project.joinpath(".metadata").exists()
    deadline = time.monotonic() + 5
    while not all(not Path(f"/proc/{p}").exists() for p in running) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children() & running == set()


# -- batches, huge prompts, non-UTF-8 files (the model and jedi) -------------------------


@pytest.mark.e2e
def test_batch_with_bad_cases_finishes_the_rest(generator, demo_project: Path, tmp_path: Path) -> None:
    """One JSONL file: good cases around bad ones. Each bad one is an error result with
    a clear reason; the good ones (in a workspace that also holds a non-UTF-8 file)
    complete."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "good.py").write_text("import os\n\npath = os.")
    (work / "latin1.py").write_bytes("nom = 'caf\xe9'\n".encode("latin-1"))  # not UTF-8
    text = (demo_project / "report.py").read_text()
    at = text.index("total += c.") + len("total += c.")

    def case(cid: str, workspace: Path | str, file: str, start: int, end: int | None = None) -> str:
        return json.dumps({"id": cid, "workspace": str(workspace), "file": file,
                           "prefix_end": start, "suffix_start": start if end is None else end})

    lines = [
        case("good-demo", demo_project, "report.py", at),
        case("non-utf8", work, "latin1.py", 5),
        case("dotdot", work, "../../etc/passwd", 0),
        case("absolute", work, "/etc/passwd", 0),
        case("missing", work, "nope.py", 0),
        "{this is not json",
        json.dumps({"id": "no-file", "workspace": str(work)}),
        json.dumps({"id": "bad-type", "workspace": str(work), "file": "good.py", "prefix_end": "3", "suffix_start": 3}),
        case("past-end", work, "good.py", 5, 10_000),
        case("unknown-language", work, "latin1.txt", 0),
        case("good-work", work, "good.py", len("import os\n\npath = os.")),
    ]
    (work / "latin1.txt").write_text("plain text\n")
    cases_file = tmp_path / "cases.jsonl"
    cases_file.write_text("\n".join(lines) + "\n")
    options = GenerateOptions(max_new_tokens=4, max_prompt_tokens=64, batch_size=4)
    results = generator.run_cases(iter_cases(cases_file), options)
    by_id = {r.id: r for r in results}
    assert [r.id for r in results] == ["good-demo", "non-utf8", "dotdot", "absolute", "missing", "line6", "no-file",
                                       "bad-type", "past-end", "unknown-language", "good-work"]
    expected = {
        "non-utf8": "not UTF-8", "dotdot": "outside the workspace", "absolute": "outside the workspace",
        "missing": "cannot read", "line6": "invalid JSON", "no-file": "missing", "bad-type": "non-negative integer",
        "past-end": "past the end", "unknown-language": "no language",
    }
    for cid, reason in expected.items():
        assert by_id[cid].error is not None and reason in by_id[cid].error, (cid, by_id[cid].error)
        assert by_id[cid].completion == ""
    for cid in ("good-demo", "good-work"):
        assert by_id[cid].error is None and by_id[cid].tokens >= 1, by_id[cid]
        assert by_id[cid].stats["triggers"] >= 1


@pytest.mark.e2e
def test_huge_prompt_keeps_its_tail(generator, demo_hole) -> None:
    """A prompt far longer than the model's context is cut to its tail (documented in
    ``HFGenerator.prompt_ids``); asking for more new tokens than the context holds is
    a clear per-case error."""
    ws, path, prefix, suffix = demo_hole
    context = generator.context
    filler = "# " + "padding line\n# " * (context * 2)
    huge = filler + prefix
    assert len(generator.tokenizer(huge, verbose=False).input_ids) > 2 * context
    ids = generator.prompt_ids(huge, 4)
    assert len(ids) == context - 4
    assert generator.tokenizer.decode(ids).endswith("total += c.")
    too_many = GenerateOptions(max_new_tokens=context + 1, monitors=False)
    ok = GenerateOptions(max_new_tokens=4, monitors=False)
    (bad,) = generator.generate([Prompt("too-many", ws, path, prefix, suffix)], too_many)
    assert bad.error is not None and "leaves no room" in bad.error
    (good,) = generator.generate([Prompt("huge", ws, path, huge, suffix)], ok)
    assert good.error is None and good.tokens == 4
