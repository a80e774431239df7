"""Shared fixtures: the model, real projects, and ordering (end-to-end tests run last)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
collect_ignore = ["fixtures"]

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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """End-to-end tests (marked e2e) run after everything else."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)
