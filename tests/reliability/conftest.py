"""Fixtures of the reliability suite: fake-server specs, the demo prompt, one generator."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lsp_bridge import ServerSpec

FAKES = Path(__file__).resolve().parent.parent / "fake_servers"


def fake_spec(script: str, log: Path | None = None, env: dict[str, str] | None = None, **kw: Any) -> ServerSpec:
    """A spec running ``tests/fake_servers/<script>.py`` (a real process) that logs
    what it receives to ``log``."""
    kw.setdefault("start_timeout_s", 10.0)
    kw.setdefault("request_timeout_s", 2.0)
    kw.setdefault("first_request_timeout_s", kw["request_timeout_s"])
    kw.setdefault("shutdown_timeout_s", 1.0)
    extra = {"FAKE_LSP_LOG": str(log)} if log is not None else {}
    return ServerSpec(
        name=f"fake-{script}",
        language_id="python",
        command=(sys.executable, str(FAKES / f"{script}.py")),
        env={**extra, **(env or {})},
        **kw,
    )


def received_methods(log: Path) -> list[str]:
    """Methods (requests and notifications) a fake server received, in order."""
    if not log.exists():
        return []
    return [m["method"] for m in map(json.loads, log.read_text().splitlines()) if "method" in m]


@pytest.fixture(scope="module")
def demo_hole(demo_project: Path) -> tuple[Path, Path, str, str]:
    """(workspace, file, prefix, suffix) with the prefix ending in ``total += c.``."""
    path = demo_project / "report.py"
    text = path.read_text()
    at = text.index("total += c.") + len("total += c.")
    return demo_project, path, text[:at], text[at:]


@pytest.fixture(scope="module")
def generator(tiny_model: Path) -> Iterator[Any]:
    """One HF generator (model loaded once) for the module."""
    from mgd.engines.generate import HFGenerator

    gen = HFGenerator(tiny_model)
    yield gen
    gen.close()


@pytest.fixture
def with_session(generator: Any) -> Callable[..., contextlib.AbstractContextManager[Any]]:
    """``with with_session(config) as gen:`` the module's generator with a fresh
    session (own loop and server pool, shared vocabulary index), closed afterwards."""
    from mgd.session import MgdSession

    @contextlib.contextmanager
    def use(config: Any) -> Iterator[Any]:
        old = generator.session
        generator.session = MgdSession(old.index, config)
        try:
            yield generator
        finally:
            generator.session.close()
            generator.session = old

    return use
