"""Fixtures of the vLLM suite (runs in .venv-vllm): one offline engine per module."""

from __future__ import annotations

import os

os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"

#: Engine settings for the tiny model on CPU.
LLM_ARGS = {"dtype": "float32", "enforce_eager": True, "max_model_len": 2048}


@pytest.fixture(scope="session")
def allowed_workspaces():
    """The operator's allow-list for this test session: the fixture projects."""
    roots = [str(FIXTURES / "projects" / "click"), str(ROOT / "examples" / "demo_project")]
    old = os.environ.get("MGD_ALLOWED_WORKSPACES")
    os.environ["MGD_ALLOWED_WORKSPACES"] = os.pathsep.join(roots)
    yield roots
    if old is None:
        os.environ.pop("MGD_ALLOWED_WORKSPACES", None)
    else:
        os.environ["MGD_ALLOWED_WORKSPACES"] = old


@pytest.fixture(scope="session")
def vllm_generator(tiny_model, allowed_workspaces):
    from mgd.config import SessionConfig
    from mgd.vllm.offline import VllmGenerator

    gen = VllmGenerator(tiny_model, config=SessionConfig(server="jedi", wait_ms=30_000), **LLM_ARGS)
    yield gen
    gen.close()


def pytest_configure(config: pytest.Config) -> None:
    # vLLM and torch warn on import (deprecations); the main suite's "error" filter is for mgd's own code.
    for category in ("DeprecationWarning", "PendingDeprecationWarning", "FutureWarning", "UserWarning"):
        config.addinivalue_line("filterwarnings", f"ignore::{category}")
