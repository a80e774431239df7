"""End to end: the tiny model, real language servers, real code (click 8.1.8).

With monitors, every identifier generated right after a member-access dot must be
in the server's completion list at that point; without monitors the same cases
show violations, so the check can fail.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mgd.engines.generate import GenerateOptions, HFGenerator, Prompt
from mgd.evaluation.casegen import dot_sites, sample_sites
from mgd.evaluation.member_check import check_member_accesses
from mgd.session import SessionConfig
from monitors.languages import language_for_path

pytestmark = pytest.mark.e2e

FILES = ["click/core.py", "click/types.py", "click/parser.py", "click/formatting.py", "click/termui.py"]
N_CASES = 36


def click_prompts(project: Path) -> list[Prompt]:
    prompts: list[Prompt] = []
    per_file = N_CASES // len(FILES) + 1
    for rel in FILES:
        path = project / rel
        text = path.read_text(encoding="utf-8")
        sites = sample_sites(dot_sites(language_for_path(path), text), per_file, seed=7)
        for s in sites:
            prompts.append(Prompt(f"{rel}:{s.prefix_end}", project, path, text[: s.prefix_end], text[s.suffix_start :]))
    return prompts[:N_CASES]


def verdicts(gen: HFGenerator, prompts: list[Prompt], results) -> list:
    out = []
    for p, r in zip(prompts, results, strict=True):
        assert r.error is None, r.error
        language = language_for_path(p.file)
        spec = gen.session.server_for(language)
        checks = gen.session.loop.run(
            check_member_accesses(gen.session.pool, spec, language, p.workspace, p.file,
                                  p.prefix, r.completion, p.suffix, open_end=True),
            timeout=120,
        )
        out.extend((p.id, r.completion, c) for c in checks)
    return out


@pytest.fixture(scope="module", params=["jedi", "pyright"])
def generator(request, tiny_model):
    gen = HFGenerator(tiny_model, config=SessionConfig(server=request.param, wait_ms=15_000))
    yield gen
    gen.close()


def test_monitors_make_every_member_legal(generator: HFGenerator, click_project: Path) -> None:
    prompts = click_prompts(click_project)
    assert len(prompts) >= 30
    opts = dict(max_new_tokens=16, stop=("\n",), batch_size=4, max_prompt_tokens=768)
    guided = generator.generate(prompts, GenerateOptions(monitors=True, **opts))
    plain = generator.generate(prompts, GenerateOptions(monitors=False, **opts))

    g = [c for c in verdicts(generator, prompts, guided) if c[2].legal is not None]
    p = [c for c in verdicts(generator, prompts, plain) if c[2].legal is not None]
    bad = [(cid, comp, c.name) for cid, comp, c in g if not c.legal]
    assert len(g) >= 30, f"only {len(g)} member accesses had a server verdict"
    assert not bad, f"monitored output used members the server rejects: {bad[:10]}"
    violations = [c for c in p if not c[2].legal]
    assert violations, "the unguided model made no mistakes: this test could not fail"
    stats = [r.stats for r in guided]
    assert sum(s["triggers"] for s in stats) >= len(prompts)
    assert sum(s["constrained_steps"] for s in stats) > 0


def test_batch_matches_single(generator: HFGenerator, click_project: Path) -> None:
    prompts = click_prompts(click_project)[:6]
    opts = dict(max_new_tokens=12, stop=("\n",), max_prompt_tokens=768)
    one = generator.generate(prompts, GenerateOptions(batch_size=1, **opts))
    many = generator.generate(prompts, GenerateOptions(batch_size=6, **opts))
    # Left padding can change float rounding; identifiers after the dot must agree.
    first = [r.completion.split("(")[0].split(" ")[0] for r in one]
    second = [r.completion.split("(")[0].split(" ")[0] for r in many]
    agree = sum(a == b for a, b in zip(first, second, strict=True))
    assert agree >= 5


def test_sampling_stays_legal(generator: HFGenerator, click_project: Path) -> None:
    prompts = click_prompts(click_project)[:8]
    res = generator.generate(
        prompts,
        GenerateOptions(max_new_tokens=12, stop=("\n",), do_sample=True, temperature=1.3, seed=3, batch_size=4,
                        max_prompt_tokens=768),
    )
    checks = [c for c in verdicts(generator, prompts, res) if c[2].legal is not None]
    assert checks
    assert all(c[2].legal for c in checks), [(c[0], c[1]) for c in checks if not c[2].legal]


def test_servers_stop_with_the_session(tiny_model) -> None:
    gen = HFGenerator(tiny_model, config=SessionConfig(server="jedi"))
    proj = Path(__file__).resolve().parent.parent / "examples" / "demo_project"
    path = proj / "report.py"
    text = path.read_text()
    at = text.index("total += c.") + len("total += c.")
    (res,) = gen.generate([Prompt("x", proj, path, text[:at], text[at:])], GenerateOptions(max_new_tokens=4))
    assert res.stats["triggers"] >= 1  # the prompt's dot (the model may write another)
    pids = [s.pid for s in gen.session.pool.servers()]
    assert pids
    gen.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
