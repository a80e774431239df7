"""Issue 29 end to end: jedi-language-server and the tiny model at definition sites.

At a statement-start ``self.`` in click (not in the model's training files) the default
configuration, healing on and off, with a short token budget: when generation stops, the
member after the dot is a prefix of a name the server lists (cut by the budget), a listed
name followed by a break, or a new name with a certain assignment (a definition). Before
the fix the budget cut new names at many of these sites (``add_message_``, ``show_default_``,
...); the same verdict without monitors shows it can fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lsp_bridge import identifier_names
from mgd.engines.generate import GenerateOptions, HFGenerator, Prompt
from mgd.evaluation.casegen import dot_sites
from mgd.session import SessionConfig
from monitors.definitions import assignment_state, self_statement
from monitors.identifiers import IDENT_BYTES
from monitors.languages import get_language

pytestmark = pytest.mark.e2e

PY = get_language("python")
FILE = "click/core.py"
BUDGET = 4  # tokens: short, so that a new name the model starts is often cut


def statement_sites(project: Path) -> list[Prompt]:
    """Every other statement-start ``self.`` among the first 40 of click's core.py."""
    text = (project / FILE).read_text(encoding="utf-8")
    sites = [s for s in dot_sites(PY, text) if self_statement(text, s.prefix_end - 1)][:40:2]
    return [Prompt(f"{FILE}:{s.prefix_end}", project, project / FILE, text[: s.prefix_end], text[s.suffix_start :])
            for s in sites]


def legal(completion: str, names: set[str]) -> bool:
    """The member as generation left it: cut prefix, listed name and break, or definition."""
    raw = completion.encode()
    run = raw[: len(raw) - len(raw.lstrip(IDENT_BYTES))].decode()
    if run == completion:
        return any(n.startswith(run) for n in names)
    after = completion[len(run) :].split("\n", 1)[0].encode()
    return run in names or (bool(run) and assignment_state(after) == "ok")


@pytest.fixture(scope="module")
def gen(tiny_model):
    g = HFGenerator(tiny_model, config=SessionConfig(server="jedi", wait_ms=30_000.0))
    yield g
    g.close()


def illegal(gen: HFGenerator, prompts: list[Prompt], monitors: bool, heal: bool) -> list[tuple[str, str]]:
    opts = GenerateOptions(max_new_tokens=BUDGET, stop=("\n",), monitors=monitors, heal=heal, max_prompt_tokens=768)
    results = gen.generate(prompts, opts)
    spec = gen.session.server_for(PY)
    out = []
    for p, r in zip(prompts, results, strict=True):
        assert r.error is None, r.error
        if monitors:
            assert r.stats["fallbacks"] == 0 and r.stats["failed_lookups"] == 0, (p.id, r.stats)
        res = gen.session.loop.run(gen.session.pool.complete(spec, p.workspace, p.file, p.prefix + p.suffix,
                                                             len(p.prefix)), timeout=120)
        names = set(identifier_names(res.items, spec.identifier_kinds))
        assert names, p.id
        if not legal(r.completion, names):
            out.append((p.id, r.completion))
    return out


@pytest.mark.parametrize("heal", [False, True], ids=["no-heal", "heal"])
def test_no_member_escapes_at_definition_sites(gen, click_project: Path, heal: bool) -> None:
    prompts = statement_sites(click_project)
    assert len(prompts) == 20
    assert not illegal(gen, prompts, monitors=True, heal=heal)


def test_the_verdict_can_fail(gen, click_project: Path) -> None:
    assert illegal(gen, statement_sites(click_project), monitors=False, heal=False)
