"""Speculative greedy == plain greedy with monitors and the real jedi server.

Positions: the demo project and member-access dots in click 8.1.8 (tests/fixtures).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mgd.engines.generate import GenerateOptions, HFGenerator, Prompt
from mgd.evaluation.casegen import dot_sites, sample_sites
from mgd.evaluation.member_check import check_member_accesses
from mgd.session import SessionConfig
from monitors.languages import language_for_path

pytestmark = pytest.mark.e2e


def prompts(demo: Path, click: Path) -> list[Prompt]:
    out: list[Prompt] = []
    report = demo / "report.py"
    text = report.read_text(encoding="utf-8")
    for needle in ("total += c.", "return c."):
        at = text.index(needle) + len(needle)
        out.append(Prompt(f"demo:{at}", demo, report, text[:at], text[text.index("\n", at):]))
    for rel in ("click/formatting.py", "click/types.py"):
        path = click / rel
        src = path.read_text(encoding="utf-8")
        for s in sample_sites(dot_sites(language_for_path(path), src), 1, seed=3):
            out.append(Prompt(f"{rel}:{s.prefix_end}", click, path, src[: s.prefix_end], src[s.suffix_start :]))
    return out


@pytest.fixture(scope="module")
def generator(tiny_model):
    gen = HFGenerator(tiny_model, config=SessionConfig(server="jedi", wait_ms=30_000))
    yield gen
    gen.close()


def test_greedy_equivalence_with_monitors(generator, demo_project, click_project) -> None:
    ps = prompts(demo_project, click_project)
    opts = dict(max_new_tokens=10, monitors=True, max_prompt_tokens=192)
    plain = generator.generate(ps, GenerateOptions(**opts))
    for spec_text in ("", "monitor,ngram,recycle:8", "monitor,suffix:48:h200-27m"):  # "" = a bare --speculative
        spec = generator.generate(ps, GenerateOptions(speculative=spec_text, **opts))
        for p, a, b in zip(ps, plain, spec, strict=True):
            assert a.error is None and b.error is None, (a.error, b.error)
            assert (b.completion, b.tokens) == (a.completion, a.tokens), (spec_text, p.id)
            assert b.stats["constrained_steps"] == a.stats["constrained_steps"], (spec_text, p.id)
        assert sum(r.stats["triggers"] for r in spec) >= len(ps)
        assert sum(r.stats["constrained_steps"] for r in spec) > 0
        assert sum(r.stats["spec_forwards"] for r in spec) < sum(r.tokens for r in spec), spec_text


def test_sampling_with_monitors_runs_masked(generator, demo_project) -> None:
    report = demo_project / "report.py"
    text = report.read_text(encoding="utf-8")
    at = text.index("total += c.") + len("total += c.")
    p = Prompt("demo", demo_project, report, text[:at], text[text.index("\n", at):])
    (r,) = generator.generate([p], GenerateOptions(max_new_tokens=6, do_sample=True, temperature=0.8, seed=1,
                                                   speculative="monitor,ngram,recycle:8"))
    assert r.error is None and r.stats["constrained_steps"] >= 1
    language = language_for_path(report)
    checks = generator.session.loop.run(
        check_member_accesses(generator.session.pool, generator.session.server_for(language), language,
                              demo_project, report, p.prefix, r.completion, p.suffix, open_end=True),
        timeout=120,
    )
    judged = [c for c in checks if c.legal is not None]
    assert judged and all(c.legal for c in judged), (r.completion, [(c.name, c.legal) for c in checks])
