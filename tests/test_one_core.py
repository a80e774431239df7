"""One core for every engine: the same settings give the same monitors, and the drift
between the former copies (issue 15) stays fixed. Each test here failed on the
code before the layout change.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from mgd.config import SessionConfig
from mgd.engines.base import Generator
from mgd.engines.generate import HFGenerator
from mgd.engines.masking import mask_row, mask_rows, masked_copy
from mgd.session import MgdSession
from mgd.vllm.core import MonitorCore
from mgd.vllm.offline import VllmGenerator
from monitors.calls import ArgumentCountMonitor, KeywordArgumentMonitor
from monitors.dereference import DereferenceMonitor
from monitors.errors import ConfigError, WorkspaceError
from monitors.healing import HealingMonitor, heal_prompt, heal_prompt_of
from monitors.syntax import SyntaxMonitor
from monitors.vocab import VocabIndex


@pytest.fixture(scope="module")
def index(tiny_tokenizer) -> VocabIndex:
    return VocabIndex.from_tokenizer(tiny_tokenizer)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A workspace whose mgd.toml turns on only the arguments monitor for Python."""
    (tmp_path / "mgd.toml").write_text('[languages.python]\nmonitors = ["arguments"]\n')
    (tmp_path / "m.py").write_text("x = 1\n")
    return tmp_path


def _kinds(guide) -> list[type]:
    out = []
    for m in guide._monitors:  # noqa: SLF001 - the test looks at what was built
        out.append(type(m.inner) if isinstance(m, HealingMonitor) and m.inner is not None else type(m))
    return out


# -- one guide factory, one precedence -------------------------------------------------


def test_vllm_core_reads_the_workspace_mgd_toml(index, project: Path) -> None:
    core = MonitorCore(index, SessionConfig(allowed_roots=(project,)))
    try:
        settings = core.parse({"workspace": str(project), "file": "m.py", "prefix": "x = 1\n"})
        monitor = core.open(settings, [])
        assert _kinds(monitor.guide) == [ArgumentCountMonitor]  # was: always dereference
        explicit = core.open(core.parse({"workspace": str(project), "file": "m.py", "prefix": "x = 1\n",
                                         "monitors": ["dereference"]}), [])
        assert _kinds(explicit.guide) == [DereferenceMonitor]  # per request beats mgd.toml
    finally:
        core.close()


def test_flags_beat_mgd_toml_and_requests_beat_flags(index, project: Path) -> None:
    with MgdSession(index, SessionConfig(monitors=("dereference",))) as session:
        assert _kinds(session.guide(project, "m.py", "x = 1\n")) == [DereferenceMonitor]  # was: mgd.toml won
        assert _kinds(session.guide(project, "m.py", "x = 1\n", monitors=["arguments"])) == [ArgumentCountMonitor]
    with MgdSession(index) as session:  # no flag: mgd.toml
        assert _kinds(session.guide(project, "m.py", "x = 1\n")) == [ArgumentCountMonitor]
    with MgdSession(index) as session:  # neither: the language's default
        (project / "mgd.toml").unlink()
        # (definition_sites is the dereference monitor with that option, built in its place)
        assert _kinds(session.guide(project, "m.py", "x = 1\n")) == [ArgumentCountMonitor, KeywordArgumentMonitor,
                                                                      DereferenceMonitor, SyntaxMonitor]


def test_every_engine_builds_its_guides_through_the_session(index, project: Path) -> None:
    """HF, the editor and vLLM get the same monitors from the same settings."""
    config = SessionConfig(allowed_roots=(project,))
    with MgdSession(index, config) as session:
        hf = _kinds(session.guide(project, "m.py", "x = 1\n"))
    core = MonitorCore(index, config)
    try:
        vllm = _kinds(core.open(core.parse({"workspace": str(project), "file": "m.py", "prefix": "x = 1\n"}),
                                []).guide)
    finally:
        core.close()
    assert hf == vllm == [ArgumentCountMonitor]


def test_stop_texts_reach_the_syntax_guard_on_hf_and_vllm(index, project: Path, monkeypatch) -> None:
    """``GenerateOptions.stop`` (HF) and ``SamplingParams.stop`` (vLLM) give the same guard."""
    from types import SimpleNamespace

    from mgd.vllm.common import validate_sampling_params

    monkeypatch.setenv("MGD_ALLOWED_WORKSPACES", str(project))
    raw = {"workspace": str(project), "file": "m.py", "prefix": "x = g(", "monitors": ["syntax"]}
    params = SimpleNamespace(extra_args={"mgd": raw}, stop=[",", ""])
    settings = validate_sampling_params(params)
    assert settings is not None and settings.stop == (",",)
    assert validate_sampling_params(SimpleNamespace(extra_args={"mgd": raw}, stop=",")).stop == (",",)
    core = MonitorCore(index, SessionConfig(allowed_roots=(project,)))
    try:
        (vllm,) = core.open(settings, []).guide._monitors  # noqa: SLF001
    finally:
        core.close()
    with MgdSession(index) as session:
        (hf,) = session.guide(project, "m.py", "x = g(", monitors=["syntax"], stops=(",",))._monitors  # noqa: SLF001
        (unstopped,) = session.guide(project, "m.py", "x = g(", monitors=["syntax"])._monitors  # noqa: SLF001
    assert vllm.constraint() == hf.constraint() and hf.constraint().stop is not None
    assert unstopped.constraint().stop is None  # the built-monitor cache keys on the stops


def test_vllm_sync_replays_a_rewritten_history_with_the_same_last_token(index, tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("")
    core = MonitorCore(index, SessionConfig(allowed_roots=(tmp_path,)))
    try:
        monitor = core.open(core.parse({"workspace": str(tmp_path), "file": "m.py", "prefix": "x = 1\n"}), [])
        monitor.sync([11, 12])
        monitor.sync([13, 12])  # preemption rewrote the first token; the last one is the same
        assert monitor.guide.generated_ids == [13, 12]  # was: [11, 12] (only the last token was checked)
    finally:
        core.close()


# -- the offline vLLM generator ----------------------------------------------------------


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A private copy of the environment (the generator writes the operator's settings there)."""
    copy = {k: v for k, v in os.environ.items() if not k.startswith("MGD_") or k == "MGD_MODEL"}
    monkeypatch.setattr(os, "environ", copy)
    return copy


def _offline() -> VllmGenerator:
    gen = VllmGenerator.__new__(VllmGenerator)  # no engine: these checks run before one is needed
    gen._roots = None  # noqa: SLF001
    return gen


def test_offline_vllm_allows_no_workspace_unless_told(env: dict[str, str], tmp_path: Path) -> None:
    VllmGenerator._operator_settings(SessionConfig(), None)  # noqa: SLF001
    assert "MGD_ALLOWED_WORKSPACES" not in os.environ  # was: os.sep, every workspace
    with pytest.raises(WorkspaceError, match="no workspace is allowed"):
        _offline().check_workspace(tmp_path, "m.py")
    VllmGenerator._operator_settings(SessionConfig(), [tmp_path])  # noqa: SLF001
    assert os.environ["MGD_ALLOWED_WORKSPACES"] == str(tmp_path.resolve())


def test_offline_vllm_passes_every_session_flag_to_the_processor(env: dict[str, str], project: Path) -> None:
    from mgd.vllm.common import processor_config

    flags = SessionConfig(server="pyright", config=project / "mgd.toml", monitors=("imports", "arguments"),
                          request_timeout_s=7.5)
    operator = VllmGenerator._operator_settings(flags, [project])  # noqa: SLF001  (additional_config["mgd"])
    seen = processor_config(operator)  # what the processor in the vLLM worker builds its session from
    assert (seen.server, seen.monitors, seen.request_timeout_s) == ("pyright", ("imports", "arguments"), 7.5)
    assert Path(str(seen.config)) == project / "mgd.toml"
    assert seen.allowed_roots == (project.resolve(),)


def test_cli_engine_vllm_refuses_device(monkeypatch: pytest.MonkeyPatch) -> None:
    from mgd.cli.commands.generate import _generator
    from mgd.cli.main import build_parser

    args = build_parser().parse_args(["generate", "--engine", "vllm", "--device", "cuda:1", "--model", "m",
                                      "--cases", "c.jsonl", "--out", "o.jsonl"])
    with pytest.raises(ConfigError, match="--device does not apply to --engine vllm"):
        _generator(args, [])


def test_every_generator_heals_with_the_same_guard(index) -> None:
    assert VllmGenerator.heal is Generator.heal and HFGenerator.heal is Generator.heal
    # A one-token prompt that healing would remove entirely stays as it is (vLLM used to send it empty).
    ids = [int(i) for i in index.ids_of_bytes(b"x")][:1]
    assert ids and heal_prompt(index, ids).ids == ()
    kept = heal_prompt_of(index, "x", ids)
    assert kept.ids == tuple(ids) and kept.removed == b""
    # Removed bytes that are not the end of the typed text (a normalizing tokenizer): unchanged too.
    dot = [int(i) for i in index.ids_of_bytes(b" c.")][:1] or [int(i) for i in index.ids_of_bytes(b".")][:1]
    assert heal_prompt_of(index, "something else", [*ids, *dot]).removed == b""


# -- one masking function with the never-fully-masked guard ------------------------------------


def test_a_row_is_never_fully_masked_when_no_allowed_id_fits() -> None:
    row = torch.arange(8, dtype=torch.float32)
    assert not mask_row(row, np.array([8, 9]))  # every allowed id is past the row
    assert torch.isfinite(row).all()
    out = masked_copy(row, np.array([20]))  # the tree decoder's path (was: a row of -inf)
    assert torch.isfinite(out).all()
    logits = torch.zeros(3, 8)
    assert mask_rows(logits, [0, 2], [np.array([1, 2]), np.array([9])]) == [2]
    assert torch.isfinite(logits[0]).sum() == 2 and torch.isfinite(logits[2]).all()


def test_mask_rows_matches_masking_each_row() -> None:
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 300, generator=gen)
    want = logits.clone()
    rows = [0, 2, 5]
    ids = [np.array([3, 7, 299]), np.array([0, 350, 400]), np.array([10, 11, 12, 13])]  # 350/400: out of range
    for r, a in zip(rows, ids, strict=True):
        mask_row(want[r], a)
    assert mask_rows(logits, rows, ids) == []
    assert torch.equal(logits, want)
    assert torch.isfinite(logits[2]).sum() == 1 and torch.isfinite(logits[1]).all()  # untouched row


def test_hf_processor_counts_an_unappliable_step_as_a_fallback(index) -> None:
    import concurrent.futures

    from mgd.engines.hf import MonitorLogitsProcessor
    from monitors.base import CompletionFacts, IdentifierConstraint
    from monitors.guide import SequenceGuide
    from monitors.languages import get_language

    class Radius:
        def start(self, need):
            fut = concurrent.futures.Future()
            fut.set_result(CompletionFacts(need.serial, frozenset({"radius"})))
            return fut

    lowest = int(index.allowed_ids(IdentifierConstraint(frozenset({b"radius"})))[0])
    guide = SequenceGuide([DereferenceMonitor(get_language("python"), "x = c.")], Radius(), index)
    proc = MonitorLogitsProcessor([guide], prompt_length=1)
    scores = torch.zeros((1, lowest))  # a model with fewer logits than the ids the monitor allows
    proc(torch.zeros((1, 1), dtype=torch.long), scores)
    assert torch.isfinite(scores).all()  # was: the whole row -inf
    assert guide.stats.fallbacks == 1 and guide.stats.constrained_steps == 0


def test_vllm_guides_build_off_the_engine_thread(index, tmp_path: Path) -> None:
    """``MonitorCore(background=True)`` (the V1 processor's): ``open`` returns at once; a step
    before the guide exists runs free (counted), tokens synced meanwhile are fed once it does."""
    import threading

    (tmp_path / "m.py").write_text("")
    core = MonitorCore(index, SessionConfig(allowed_roots=(tmp_path,)), background=True)
    gate, busy = threading.Event(), threading.Event()
    try:
        core._builder_pool().submit(gate.wait)  # the builder is busy: the next build waits behind it
        monitor = core.open(core.parse({"workspace": str(tmp_path), "file": "m.py", "prefix": "x = 1\n",
                                        "wait_ms": 0}), [])
        monitor.sync([11, 12])
        assert monitor.step(0.0).ids is None
        assert core.report()["unbuilt_steps"] == 1
        gate.set()
        assert monitor.guide.generated_ids == [11, 12]  # built, then caught up with the synced tokens
        monitor.close()
        core._builder_pool().submit(busy.wait)
        lookups = core.report()["lookups"]
        closing = core.open(core.parse({"workspace": str(tmp_path), "file": "m.py", "prefix": "y = c."}), [])
        closing.close()  # the request ended before its guide was built: it never is
        busy.set()
        assert closing._building.cancelled()  # no guide: only the engine's step counts
        assert closing.report() == {"steps": 0, "unbuilt_steps": 0, "unguided_steps": 0}
        assert core.report()["lookups"] == lookups  # its trigger's lookup was never started
    finally:
        gate.set()
        busy.set()
        core.close()


def test_new_mechanisms_follow_the_one_path(index, tmp_path: Path) -> None:
    """Definition sites and the syntax guard are monitor names like the others: mgd.toml per
    language, per request (HF guide and the vLLM core), and the suffix reaches the guard."""
    from monitors.base import SyntaxConstraint
    from monitors.syntax import SyntaxMonitor

    (tmp_path / "mgd.toml").write_text('[languages.python]\nmonitors = ["dereference", "definition_sites"]\n')
    (tmp_path / "m.py").write_text("x = 1\n")
    with MgdSession(index) as session:
        (mon,) = session.guide(tmp_path, "m.py", "x = 1\n")._monitors  # noqa: SLF001
        assert isinstance(mon, DereferenceMonitor) and mon._defsites  # noqa: SLF001 - one monitor, option on
        closes = session.guide(tmp_path, "m.py", "x = f(1, ", ")\n", monitors=["syntax"])
        opens = session.guide(tmp_path, "m.py", "x = f(1, ", "\n)", monitors=["syntax"])
        assert _kinds(closes) == [SyntaxMonitor]
        assert closes.constraints()[0] == SyntaxConstraint("(", eos=True)  # the suffix closes the call
        assert opens.constraints()[0] == SyntaxConstraint("(", eos=False)
    core = MonitorCore(index, SessionConfig(allowed_roots=(tmp_path,)))
    try:
        settings = core.parse({"workspace": str(tmp_path), "file": "m.py", "prefix": "x = f(1, ", "suffix": ")",
                               "monitors": ["syntax", "keyword_arguments"]})
        kinds = sorted(k.__name__ for k in _kinds(core.open(settings, []).guide))
        assert kinds == ["KeywordArgumentMonitor", "SyntaxMonitor"]
    finally:
        core.close()


def test_token_budget_reaches_the_guide_on_hf_and_vllm(index, project: Path, monkeypatch) -> None:
    """``GenerateOptions.max_new_tokens`` (HF) and ``SamplingParams.max_tokens`` (vLLM) give the
    guide the same budget: with 1 token left inside ``g(`` both force the close."""
    from types import SimpleNamespace

    from mgd.vllm.common import validate_sampling_params

    monkeypatch.setenv("MGD_ALLOWED_WORKSPACES", str(project))
    raw = {"workspace": str(project), "file": "m.py", "prefix": "x = g(", "monitors": ["syntax"]}
    settings = validate_sampling_params(SimpleNamespace(extra_args={"mgd": raw}, stop=None, max_tokens=1))
    assert settings is not None and settings.max_tokens == 1
    assert validate_sampling_params(SimpleNamespace(extra_args={"mgd": raw}, max_tokens=None)).max_tokens is None
    core = MonitorCore(index, SessionConfig(allowed_roots=(project,)))
    try:
        vllm = core.open(settings, []).guide
        v_ids = vllm.allowed().ids
    finally:
        core.close()
    with MgdSession(index) as session:
        hf = session.guide(project, "m.py", "x = g(", monitors=["syntax"], max_tokens=1)
        h_ids = hf.allowed().ids
        free = session.guide(project, "m.py", "x = g(", monitors=["syntax"]).allowed().ids
    assert v_ids is not None and h_ids is not None and (v_ids == h_ids).all()
    assert len(h_ids) < len(free) and all(b")" in index.token_bytes(int(i)) for i in h_ids)
