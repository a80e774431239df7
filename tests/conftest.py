"""Shared fixtures: the model, real projects, and ordering (end-to-end tests run last)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
collect_ignore = ["fixtures"]

if not os.environ.get("MGD_WHEEL_TEST"):  # tests/package: the wheel in a fresh venv (make test-wheel)
    collect_ignore.append("package")

try:  # tests/vllm run in .venv-vllm (make test-vllm); elsewhere they are not collected
    from vllm import SamplingParams  # noqa: F401
except ImportError:
    collect_ignore.append("vllm")


def model_path() -> Path | None:
    env = os.environ.get("MGD_MODEL")
    candidates = [Path(env)] if env else []
    candidates.append(ROOT.parent / "shared" / "models" / "tinycode-27m")
    for c in candidates:
        if (c / "config.json").exists():
            return c
    return None


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    path = model_path()
    if path is None:
        pytest.fail("no model: set MGD_MODEL or provide ../shared/models/tinycode-27m")
    return path


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_model: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model))


@pytest.fixture(scope="session")
def click_project() -> Path:
    return FIXTURES / "projects" / "click"


@pytest.fixture(scope="session")
def demo_project() -> Path:
    return ROOT / "examples" / "demo_project"


#: A skip whose reason says this is about a missing install. In CI (``CI`` set, as
#: ``make test`` runs there) such a skip fails: `make test` installs what the suite tests.
_MISSING_INSTALL = re.compile(r"not installed|could not import|no module named|pip install", re.IGNORECASE)


def _fail_missing_install(report: pytest.CollectReport | pytest.TestReport) -> None:
    """In CI, turn a skip for a missing install into a failure."""
    if not os.environ.get("CI") or not report.skipped:
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    if _MISSING_INSTALL.search(reason):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI for a missing install (make test installs it): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    outcome = yield
    _fail_missing_install(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    _fail_missing_install(outcome.get_result())


#: Words in a test module that mean its tests may start a process: a language server (the pool,
#: a session, an editor client), a fake one, ``mgd`` itself, a checker. Such a module's tests
#: are marked ``needs_server``, and those using the model (``tiny_model``, directly or through
#: another fixture) ``needs_model``; ``make test-fast`` runs the rest.
_PROCESS_WORDS = re.compile(
    r"\b(ServerPool|MgdSession|Session|LanguageClient|lsp_client|subprocess|Popen|create_subprocess_exec"
    r"|fake_spec|FAKES|start_server|check_items|javac|pyright|nvim)\b")


def _starts_processes(path: Path, seen: dict[Path, bool]) -> bool:
    if path not in seen:
        seen[path] = bool(_PROCESS_WORDS.search(path.read_text(encoding="utf-8")))
    return seen[path]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark what needs the model or a server (see ``_PROCESS_WORDS``); end-to-end tests (marked
    e2e) run after everything else."""
    seen: dict[Path, bool] = {}
    for item in items:
        if "tiny_model" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.needs_model)
        if _starts_processes(Path(item.path), seen):
            item.add_marker(pytest.mark.needs_server)
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)
