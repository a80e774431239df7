"""Offline vLLM with the mgd processor: the tiny model, jedi, real click code.

With monitors every identifier generated right after a member-access dot must be
in the server's completion list there; the same requests without ``mgd``
settings show violations (so the check can fail); a mixed batch behaves per
request.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mgd.engines.generate import GenerateOptions, Prompt
from mgd.evaluation.casegen import dot_sites, sample_sites
from mgd.evaluation.member_check import check_member_accesses
from monitors.languages import language_for_path

pytestmark = pytest.mark.e2e

FILES = ["click/core.py", "click/types.py", "click/parser.py", "click/formatting.py", "click/termui.py"]
N_CASES = 16
OPTS = dict(max_new_tokens=10, stop=("\n",), max_prompt_tokens=512)


def click_prompts(project: Path, n: int = N_CASES) -> list[Prompt]:
    prompts: list[Prompt] = []
    per_file = n // len(FILES) + 1
    for rel in FILES:
        path = project / rel
        text = path.read_text(encoding="utf-8")
        for s in sample_sites(dot_sites(language_for_path(path), text), per_file, seed=11):
            prompts.append(Prompt(f"{rel}:{s.prefix_end}", project, path, text[: s.prefix_end], text[s.suffix_start :]))
    return prompts[:n]


def verdicts(prompts, results):
    from lsp_bridge import BackgroundLoop, ServerPool, preset

    out = []
    with BackgroundLoop() as loop:
        pool = ServerPool()
        try:
            for p, r in zip(prompts, results, strict=True):
                assert r.error is None, r.error
                language = language_for_path(p.file)
                checks = loop.run(check_member_accesses(pool, preset("jedi"), language, p.workspace, p.file,
                                                        p.prefix, r.completion, p.suffix, open_end=True), timeout=120)
                out.extend((p.id, r.completion, c) for c in checks if c.legal is not None)
        finally:
            loop.run(pool.close(), timeout=30)
    return out


@pytest.fixture(scope="module")
def runs(vllm_generator, click_project):
    prompts = click_prompts(click_project)
    guided = vllm_generator.generate(prompts, GenerateOptions(monitors=True, batch_size=8, **OPTS))
    plain = vllm_generator.generate(prompts, GenerateOptions(monitors=False, batch_size=8, **OPTS))
    return prompts, guided, plain


def test_plugin_makes_every_member_legal(runs) -> None:
    prompts, guided, _plain = runs
    checks = verdicts(prompts, guided)
    assert len(checks) >= 12, f"only {len(checks)} member accesses had a server verdict"
    bad = [(cid, comp, c.name) for cid, comp, c in checks if not c.legal]
    assert not bad, f"monitored output used members the server rejects: {bad[:10]}"
    stats = [r.stats for r in guided]
    assert all(stats), "a request had no counters"
    assert sum(s["triggers"] for s in stats) >= len(prompts)
    assert sum(s["constrained_steps"] for s in stats) > 0


def test_without_plugin_there_are_violations(runs) -> None:
    prompts, _guided, plain = runs
    assert all(not r.stats for r in plain)
    checks = verdicts(prompts, plain)
    assert [c for c in checks if not c[2].legal], "the unguided model made no mistakes: the test could not fail"


def test_mixed_batch_is_per_request(vllm_generator, runs) -> None:
    """Alternate requests with and without ``mgd`` in one batch: each matches its own run."""
    prompts, guided, plain = runs
    sub = prompts[:8]
    from vllm.inputs import TokensPrompt

    on = GenerateOptions(monitors=True, **OPTS)
    off = GenerateOptions(monitors=False, **OPTS)
    inputs, params = [], []
    for i, p in enumerate(sub):
        opts = on if i % 2 == 0 else off
        inputs.append(TokensPrompt(prompt_token_ids=vllm_generator.prepare(p, opts)[0]))
        params.append(vllm_generator.sampling_params(p, opts, None, False))
    outs = vllm_generator.llm.generate(inputs, params, use_tqdm=False)
    for i, out in enumerate(outs):
        expected = guided[i] if i % 2 == 0 else plain[i]
        assert out.outputs[0].text == expected.completion, (sub[i].id, i % 2 == 0)
    differs = [i for i in range(len(sub)) if guided[i].completion != plain[i].completion]
    assert differs, "monitors changed nothing on these prompts: the mixed batch proves nothing"


def test_processor_totals(vllm_generator) -> None:
    totals = vllm_generator.reports()["totals"]
    assert totals["requests"] > 0 and totals["lookups"] > 0
    assert 0.0 <= totals["fail_open_rate"] <= 1.0
    assert totals["lsp_ms"] > 0


def test_heal_respells_the_cut_identifier(vllm_generator, demo_project) -> None:
    """A prompt cut inside a member name: healed, the model re-spells it and stays legal."""
    path = demo_project / "report.py"
    text = path.read_text()
    at = text.index("total += c.area") + len("total += c.ar")
    p = Prompt("heal", demo_project, path, text[:at], text[text.index("\n", at):])
    (res,) = vllm_generator.generate([p], GenerateOptions(heal=True, max_new_tokens=6, stop=("\n",)))
    assert res.error is None
    assert res.stats.get("healed_bytes", 0) > 0, res.stats
    name = ("ar" + res.completion).split("(")[0]
    assert name == "area", res.completion
