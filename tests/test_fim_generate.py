"""FIM prompts in batch generation (``mgd generate``, bench, vLLM offline, the remote engine).

The model sees prefix and suffix in its family's layout; the monitors see the
document (the prefix as typed); ``fim = off`` is the left-to-right prompt; every
configuration of a bench run shares the layout; older runs (no ``fim`` recorded)
were left-to-right.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mgd.engines.base import GenerateOptions, Prompt
from mgd.engines.fim import FimPrompter
from monitors.errors import ConfigError


@pytest.fixture(scope="module")
def generator(tiny_model):
    from mgd.engines.generate import HFGenerator
    from mgd.session import SessionConfig

    gen = HFGenerator(tiny_model, config=SessionConfig(server="jedi", wait_ms=20_000))
    yield gen
    gen.close()


def _prompt(click_project: Path, marker: str = "\n        return ") -> Prompt:
    path = click_project / "click/core.py"
    text = path.read_text(encoding="utf-8")
    at = text.index(marker, 20_000) + len(marker)
    return Prompt("core", click_project, path, text[:at], text[at:])


def _ids(tok, name: str) -> int:
    return int(tok.convert_tokens_to_ids(name))


def test_fim_prompt_layout_and_budget(generator, click_project) -> None:
    tok = generator.tokenizer
    p = _prompt(click_project)
    fp, fs, fm = (_ids(tok, t) for t in ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"))
    psm = dict(fim_template="starcoder")
    ids, healed = generator.prepare(p, GenerateOptions(max_new_tokens=8, max_prompt_tokens=200, monitors=False, **psm))
    assert healed is None and len(ids) <= 200
    assert ids[0] == fp and ids[-1] == fm and ids.count(fs) == 1
    head, tail = ids[1 : ids.index(fs)], ids[ids.index(fs) + 1 : -1]
    assert p.prefix.endswith(tok.decode(head)) and p.suffix.startswith(tok.decode(tail))
    assert len(tail) == (200 - 3) // 4  # a long prefix leaves the suffix its quarter
    # the suffix's share is a setting
    ids2, _ = generator.prepare(p, GenerateOptions(max_new_tokens=8, max_prompt_tokens=200, max_suffix_tokens=10,
                                                   monitors=False, **psm))
    assert len(ids2) - ids2.index(fs) - 2 == 10
    # off: the left-to-right prompt, no markers
    plain, _ = generator.prepare(p, GenerateOptions(max_new_tokens=8, max_prompt_tokens=200, fim="off"))
    assert not {fp, fs, fm} & set(plain) and p.prefix.endswith(tok.decode(plain))
    # SPM (what auto picks for this family): the prompt ends with the prefix
    spm, _ = generator.prepare(p, GenerateOptions(max_new_tokens=8, max_prompt_tokens=200))
    assert spm[:2] == [fp, fs] and p.prefix.endswith(tok.decode(spm[spm.index(fm) + 1 :]))
    assert sorted(spm) == sorted(ids)  # the same blocks, in another order


def test_a_short_prefix_leaves_the_suffix_more_room(generator, click_project) -> None:
    tok = generator.tokenizer
    path = click_project / "click/core.py"
    text = path.read_text(encoding="utf-8")
    p = Prompt("top", click_project, path, text[:40], text[40:])
    ids, _ = generator.prepare(p, GenerateOptions(max_new_tokens=8, max_prompt_tokens=300, monitors=False,
                                                  fim_template="starcoder"))
    fs = _ids(tok, "<fim_suffix>")
    assert len(ids) == 300 and len(ids) - ids.index(fs) - 2 > (300 - 3) // 4
    assert tok.decode(ids[1 : ids.index(fs)]) == text[:40]


def test_fim_on_without_fim_tokens_is_a_clear_error(tiny_tokenizer) -> None:
    class NoFim:
        bos_token_id = None

        def get_vocab(self) -> dict[str, int]:
            return {"a": 1}

    assert FimPrompter.resolve(NoFim(), "auto").template is None
    with pytest.raises(ConfigError, match="no FIM tokens"):
        FimPrompter.resolve(NoFim(), "on")
    with pytest.raises(ConfigError, match="fim must be"):
        GenerateOptions(fim="maybe")
    with pytest.raises(ConfigError, match="unknown fim_template"):
        GenerateOptions(fim_template="gpt")
    layout = FimPrompter.resolve(tiny_tokenizer)
    assert layout.stop_ids == (_ids(tiny_tokenizer, "<file_sep>"),)  # the family's end marker ends a middle


@pytest.mark.e2e
def test_fim_generation_is_guided_on_the_document(generator, click_project) -> None:
    """A FIM prompt at ``self.``: the monitors (which see the document, not the markers)
    trigger and every generated member is legal; healing re-spells the prefix block's end."""
    from mgd.evaluation.member_check import check_member_accesses
    from monitors.languages import language_for_path

    p = _prompt(click_project, "\n        self.")
    options = GenerateOptions(max_new_tokens=6, monitors=True, heal=True, max_prompt_tokens=256)
    (r,) = generator.generate([p], options)
    assert r.error is None, r.error
    assert r.stats["triggers"] >= 1 and r.stats["violations"] == 0
    language = language_for_path(p.file)
    checks = generator.session.loop.run(
        check_member_accesses(generator.session.pool, generator.session.server_for(language), language,
                              p.workspace, p.file, p.prefix, r.completion, p.suffix, open_end=True),
        timeout=120,
    )
    assert checks and all(c.legal is not False for c in checks), (r.completion, checks)


def test_runs_that_did_not_record_fim_were_left_to_right(tmp_path: Path) -> None:
    import dataclasses

    from mgd.evaluation.runner import RunSettings, check_settings

    old = dataclasses.asdict(RunSettings())
    old["extra_stop"] = []
    for key in ("fim", "fim_template", "max_suffix_tokens"):
        del old[key]
    (tmp_path / "settings.json").write_text(json.dumps(old))
    with pytest.raises(ConfigError, match="fim"):
        check_settings(tmp_path, RunSettings())  # a resumed run must not mix layouts
    assert check_settings(tmp_path, RunSettings(fim="off")).fim == "off"


def test_split_shares_the_budget() -> None:
    """The prefix keeps its tail, the suffix its head; markers count; nothing is empty that fits."""
    from mgd.engines.fim import get_template

    t = get_template("starcoder")
    layout = FimPrompter(t, {m: 900 + k for k, m in enumerate(t.markers)}, "test")
    head, tail = list(range(100)), list(range(200, 300))
    h, s = layout.split(head, tail, 43)  # room 40: suffix a quarter (10), prefix the rest
    assert (h, s) == (head[-30:], tail[:10])
    h, s = layout.split(head[:5], tail, 43)  # a short prefix leaves the suffix the rest
    assert (h, s) == (head[:5], tail[:35])
    h, s = layout.split(head, [], 43)  # no suffix: all room to the prefix
    assert (h, s) == (head[-40:], [])
    h, s = layout.split(head, tail, 43, max_suffix=0)
    assert (h, s) == (head[-40:], [])
    h, s = layout.split(head, tail, 4)  # one token of room: the prefix keeps it
    assert len(h) == 1 and s == []
    assert len(layout.ids(*layout.split(head, tail, 43))) == 43
