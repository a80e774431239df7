"""End to end per language: the tiny model, a real language server, a small real project.

With monitors, every identifier generated right after a member-access dot must be
among the completions the language's server offers there; without monitors the
same prompts must show at least one violation (so the check can fail).
One generator (one JDT LS, one gopls, ...) is shared by the whole module.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from lsp_bridge import resolve_command
from mgd.engines.generate import GenerateOptions, HFGenerator
from mgd.evaluation.member_check import check_member_accesses
from mgd.session import SessionConfig
from monitors.errors import ServerStartError
from monitors.languages import language_for_path

from ._projects import PROJECTS, prompts

pytestmark = pytest.mark.e2e

#: Rust (experimental) runs only where its server is installed; the others must be.
OPTIONAL = {"rust"}
OPTIONS = dict(max_new_tokens=8, stop=("\n",), batch_size=5, max_prompt_tokens=320)


@pytest.fixture(scope="module")
def generator(tiny_model):
    gen = HFGenerator(tiny_model, config=SessionConfig(wait_ms=60_000))
    yield gen
    launchers = [s.pid for s in gen.session.pool.servers() if s.spec.name == "jdtls"]
    gen.close()
    # JDT LS' workspace data lives in a private temporary directory, removed on exit.
    tmp = Path(tempfile.gettempdir())
    assert not [p for pid in launchers for p in tmp.glob(f"mgd-jdtls-{pid}-*")]


def _verdicts(gen: HFGenerator, batch, results):
    out = []
    for p, r in zip(batch, results, strict=True):
        assert r.error is None, r.error
        language = language_for_path(p.file)
        spec = gen.session.server_for(language, p.workspace)
        checks = gen.session.loop.run(
            check_member_accesses(gen.session.pool, spec, language, p.workspace, p.file,
                                  p.prefix, r.completion, p.suffix, open_end=True, timeout=60.0),
            timeout=300,
        )
        out.extend((p.id, r.completion, c) for c in checks if c.legal is not None)
    return out


@pytest.mark.parametrize("language", ["java", "go", "typescript", "rust"])
def test_monitors_keep_members_legal(generator: HFGenerator, language: str) -> None:
    project = PROJECTS[language]
    spec = generator.session.settings(project.root).server(project.server)
    try:
        resolve_command(spec)
    except ServerStartError as exc:
        if language in OPTIONAL:
            pytest.skip(f"{language} server not installed: {exc}")
        raise
    batch = prompts(project)
    assert len(batch) >= 8
    guided = generator.generate(batch, GenerateOptions(monitors=True, **OPTIONS))
    plain = generator.generate(batch, GenerateOptions(monitors=False, **OPTIONS))

    g = _verdicts(generator, batch, guided)
    p = _verdicts(generator, batch, plain)
    assert len(g) >= len(batch), f"only {len(g)} member accesses had a server verdict"
    bad = [(cid, comp, c.name) for cid, comp, c in g if not c.legal]
    assert not bad, f"monitored output used members the server rejects: {bad}"
    assert any(not c.legal for _, _, c in p), "the unguided model made no mistakes: this test could not fail"
    stats = [r.stats for r in guided]
    assert sum(s["triggers"] for s in stats) >= len(batch)
    assert sum(s["constrained_steps"] for s in stats) >= len(batch)


def test_rust_path_separators_are_monitored(generator: HFGenerator) -> None:
    """``::`` works like a dot: rust-analyzer's path completions are the legal names."""
    project = PROJECTS["rust"]
    spec = generator.session.settings(project.root).server(project.server)
    try:
        resolve_command(spec)
    except ServerStartError as exc:
        pytest.skip(f"rust server not installed: {exc}")
    path = project.root / "src/main.rs"
    text = path.read_text(encoding="utf-8")
    language = language_for_path(path)
    cut = text.index("library::") + len("library::")
    prefix, suffix = text[:cut], text[text.index("\n", cut):]

    def check(completion: str):
        return generator.session.loop.run(
            check_member_accesses(generator.session.pool, spec, language, project.root, path,
                                  prefix, completion, suffix, timeout=60.0),
            timeout=300,
        )

    good = check('Shelf::new("A1");')
    assert [(c.name, c.legal) for c in good] == [("Shelf", True), ("new", True)]
    bad = check('Shelf::open("A1");')
    assert [(c.name, c.legal) for c in bad] == [("Shelf", True), ("open", False)]

    batch = [p for p in prompts(PROJECTS["rust"]) if p.prefix.endswith("::")]
    assert batch, "the fixture has no :: prompt"
    guided = generator.generate(batch, GenerateOptions(monitors=True, **OPTIONS))
    verdicts = _verdicts(generator, batch, guided)
    assert verdicts and all(c.legal for _, _, c in verdicts), verdicts
    assert sum(r.stats["constrained_steps"] for r in guided) >= len(batch)
