"""Token healing: heal_prompt, PrefixConstraint masking, HealingMonitor, engines.

Pure tests use hand-written vocabularies, the tiny model's byte-level BPE and a
SentencePiece-style BPE trained here offline; property tests cut real code
(the click fixture, stdlib files) at many points. End-to-end tests (marked)
run the tiny model through HFGenerator, greedy and sampling, with and without
the dereference monitor on a real language server.
"""

from __future__ import annotations

import inspect
import json
import random
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitors.base import CompletionFacts, IdentifierConstraint, PrefixConstraint
from monitors.dereference import DereferenceMonitor
from monitors.healing import HealedPrompt, HealingMonitor, completion_after, heal_prompt
from monitors.identifiers import ident_run_length
from monitors.languages import get_language
from monitors.vocab import VocabIndex

CLICK_FILES = ["click/core.py", "click/types.py", "click/parser.py", "click/utils.py"]
PY = get_language("python")


# ---------------------------------------------------------------------- helpers


def brute_prefix(index: VocabIndex, c: PrefixConstraint) -> list[int]:
    """The PrefixConstraint rule, by a scan of the whole vocabulary."""
    req = c.required
    live: list[bytes] = []
    if c.then is not None:
        t = c.then.typed
        live = [x[len(t) :] for x in c.then.candidates if x.startswith(t)]
    out = []
    for i in range(index.size):
        b = index.token_bytes(i)
        if not b or i in index.special_ids:
            continue
        if req.startswith(b):
            out.append(i)
        elif b.startswith(req):
            tail = b[len(req) :]
            if c.then is None or not tail:
                out.append(i)
                continue
            run = ident_run_length(tail)
            if run == len(tail):
                if any(s.startswith(tail) for s in live):
                    out.append(i)
            elif tail[:run] in live:
                out.append(i)
    return out


def token_text(index: VocabIndex, ids) -> bytes:
    return b"".join(index.token_bytes(int(i)) for i in ids)


def walk(index: VocabIndex, monitor: HealingMonitor, rng: random.Random, limit: int = 64) -> bytes:
    """Pick random allowed tokens until the healing constraint is gone."""
    out = b""
    for _ in range(limit):
        c = monitor.constraint()
        if not isinstance(c, PrefixConstraint):
            return out
        ids = index.allowed_ids(c)
        assert len(ids), c
        tid = int(ids[rng.randrange(len(ids))])
        data = index.token_bytes(tid)
        out += data
        monitor.feed(data)
    raise AssertionError("healing never finished")


@pytest.fixture(scope="module")
def tiny_index(tiny_tokenizer) -> VocabIndex:
    return VocabIndex.from_tokenizer(tiny_tokenizer)


def _train_sentencepiece():  # type: ignore[no-untyped-def]
    """A SentencePiece-style BPE (▁ for spaces, <0xNN> byte fallback) trained offline."""
    import tokenizers
    import transformers
    from tokenizers import decoders, models, pre_tokenizers, trainers

    root = Path(__file__).resolve().parent / "fixtures" / "projects" / "click"
    text = inspect.getsource(textwrap)[:20000] + (root / "click/parser.py").read_text()[:20000]
    tok = tokenizers.Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(vocab_size=900, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False)
    tok.train_from_iterator([text], trainer=trainer)
    j = json.loads(tok.to_str())
    items = sorted(j["model"]["vocab"].items(), key=lambda kv: kv[1])
    vocab = dict(items[:3])
    vocab.update({f"<0x{b:02X}>": 3 + b for b in range(256)})
    vocab.update({t: i + 256 for t, i in items[3:] if not (t.startswith("<0x") and len(t) == 6)})
    j["model"]["vocab"] = vocab
    dec = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace(replacement="▁", prepend_scheme="first")])
    j["decoder"] = json.loads(dec.__getstate__())
    backend = tokenizers.Tokenizer.from_str(json.dumps(j))
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )


@pytest.fixture(scope="module")
def sp_tokenizer():
    return _train_sentencepiece()


@pytest.fixture(scope="module")
def sp_index(sp_tokenizer) -> VocabIndex:
    index = VocabIndex.from_tokenizer(sp_tokenizer)
    assert index.kind == "sentencepiece"
    return index


@pytest.fixture(scope="module")
def code_texts(click_project: Path) -> list[str]:
    texts = [(click_project / f).read_text(encoding="utf-8") for f in CLICK_FILES]
    texts.append(inspect.getsource(textwrap))
    texts.append(inspect.getsource(json.decoder))
    return texts


# ---------------------------------------------------------------------- hand-made vocabularies


def small_index() -> VocabIndex:
    tokens = [None, b"a", b"b", b"c", b"x", b"y", b"z", b"w", b"wxy", b"yzq", b"ab", b"abc", b"abcx",
              b"caf", b"\xc3", b"\xa9", b"\xa9s", b" ", b" f", b" foo", b" foobar", b".", b".ap", b".apple",
              b".b", b"(", b"()", b"ap", b"append", b"apply", b"pend", None]
    return VocabIndex.from_token_bytes(tokens, eos_ids=[31], special_ids=[0])


def ids_of(index: VocabIndex, *texts: bytes) -> list[int]:
    return [index.ids_of_bytes(t)[0] for t in texts]


def test_heal_prompt_backs_off_the_longest_extendable_suffix() -> None:
    v = small_index()
    h = heal_prompt(v, ids_of(v, b"x", b"a", b"b", b"c"))  # "abcx" extends "abc": three tokens back
    assert h.removed == b"abc" and h.ids == tuple(ids_of(v, b"x"))
    # "y" + "z": "yzq" extends "yz", whose first byte sits inside "wxy": the whole token goes,
    # so the removed text ("wxyz") is spelled by no single token and takes several steps.
    h = heal_prompt(v, ids_of(v, b"wxy", b"z"))
    assert h.removed == b"wxyz" and h.ids == ()
    assert not v.ids_with_prefix(h.removed).size
    # "wxy" extends "w": heal; a suffix no token extends: untouched
    assert heal_prompt(v, ids_of(v, b"c", b"w")).removed == b"w"
    assert heal_prompt(v, ids_of(v, b"a", b"()")) == HealedPrompt(tuple(ids_of(v, b"a", b"()")), b"")


def test_heal_prompt_never_splits_a_character_nor_removes_specials() -> None:
    v = small_index()
    ids = ids_of(v, b"caf", b"\xc3", b"\xa9")  # "café", é split into two byte tokens
    h = heal_prompt(v, ids)
    assert h.removed == "é".encode() and h.removed_text == "é"  # not the lone b"\xa9"
    assert h.ids == tuple(ids_of(v, b"caf"))
    h = heal_prompt(v, [0, *ids_of(v, b"a", b"b")])  # special id 0 stays
    assert h.ids == (0,) and h.removed == b"ab"
    h = heal_prompt(v, [0, *ids_of(v, b"wxy", b"z")])
    assert h.ids == (0,) and h.removed == b"wxyz"


def test_heal_prompt_max_tokens() -> None:
    v = small_index()
    ids = ids_of(v, b"x", b"a", b"b", b"c")
    assert heal_prompt(v, ids, max_tokens=0).removed == b""
    assert heal_prompt(v, ids, max_tokens=2).removed == b"c"  # "bc" has no extension, "caf" extends "c"
    assert heal_prompt(v, ids, max_tokens=3).removed == b"abc"
    with pytest.raises(ValueError):
        heal_prompt(v, ids, max_tokens=-1)
    assert heal_prompt(v, []) == HealedPrompt((), b"")


def test_prefix_constraint_rule_small_vocabulary() -> None:
    v = small_index()
    with pytest.raises(ValueError):
        PrefixConstraint(b"")
    c = PrefixConstraint(b"ab")
    got = [v.token_bytes(int(i)) for i in v.allowed_ids(c)]
    assert sorted(got) == sorted([b"a", b"ab", b"abc", b"abcx"])
    c = PrefixConstraint(b".ap", IdentifierConstraint(frozenset({b"append", b"apply"}), b"ap"))
    assert [v.token_bytes(int(i)) for i in v.allowed_ids(c)] == [b".", b".ap"]  # not ".apple"
    c = PrefixConstraint(b".", IdentifierConstraint(frozenset({b"apple", b"b"}), b""))
    assert sorted(v.token_bytes(int(i)) for i in v.allowed_ids(c)) == [b".", b".ap", b".apple", b".b"]
    for c in [PrefixConstraint(b"wxyz"), PrefixConstraint(b"\xa9"), PrefixConstraint(b" fo")]:
        ids = v.allowed_ids(c)
        assert list(ids) == brute_prefix(v, c)
        m = v.mask(c, 40)
        assert m.sum() == len(ids) and m[ids].all() and not m[31] and not m[0]
        bits = np.unpackbits(v.bitmask(c, 40).view(np.uint8), bitorder="little").astype(bool)
        assert (bits[:40] == m).all()


def test_healing_monitor_several_steps_and_off_path() -> None:
    v = small_index()
    m = HealingMonitor(b"wxyz")
    assert m.constraint() == PrefixConstraint(b"wxyz")
    assert [v.token_bytes(int(i)) for i in v.allowed_ids(m.constraint())] == [b"w", b"wxy"]
    fork = m.fork()
    m.feed(b"w")
    assert m.remaining == b"xyz" and fork.remaining == b"wxyz"
    m.feed(b"xy")
    m.feed(b"zq")  # covers the rest and goes on
    assert m.constraint() is None and m.remaining == b""
    assert m.stats.extra == {"healed_bytes": 4, "heal_steps": 3, "heal_off": 0}
    fork.feed(b"q")  # the engine ignored the mask: counted, healing stops
    assert fork.constraint() is None and fork.stats.extra["heal_off"] == 1
    assert completion_after("wxyzq", HealedPrompt((), b"wxyz")) == "q"
    assert completion_after("wx", HealedPrompt((), b"wxyz")) == ""


# ---------------------------------------------------------------------- composition with dereference


def _deref(prefix: str, names: set[str]) -> DereferenceMonitor:
    d = DereferenceMonitor(PY, prefix)
    need = d.need()
    assert need is not None
    d.provide(CompletionFacts(need.serial, frozenset(names)))
    return d


@pytest.mark.parametrize("tail", ["", "ap"])
def test_composition_with_dereference_small(tail: str) -> None:
    """``obj.`` and ``obj.ap``: healing and the member names constrain the same token."""
    v = small_index()
    prompt = "x = obj." + tail
    names = {"append", "apply", "b"}
    removed = ("." + tail).encode()  # what a healer of this vocabulary removes
    m = HealingMonitor(removed, inner=_deref(prompt, names))
    c = m.constraint()
    assert isinstance(c, PrefixConstraint) and c.then is not None
    allowed = {v.token_bytes(int(i)) for i in v.allowed_ids(c)}
    legal = {b".", b".ap"} | ({b".b"} if not tail else set())
    assert allowed == legal  # ".apple" is healed text but not a member
    m.feed(b".ap")
    if tail:  # healing done, the identifier continues under the member names
        assert m.constraint() == IdentifierConstraint(frozenset({b"append", b"apply"}), b"ap")
    else:
        assert m.constraint() == IdentifierConstraint(frozenset({b"append", b"apply"}), b"ap")
    m.feed(b"pend")
    m.feed(b"(")
    assert m.constraint() is None and m.stats.extra["accepted"] == 1 and m.stats.extra["violations"] == 0


def test_composition_real_vocabulary(tiny_index: VocabIndex, tiny_tokenizer) -> None:
    names = {"append", "apply", "copy", "_private"}
    for prompt in ["    x = obj.", "    x = obj.ap", "    x = obj._pr"]:
        h = heal_prompt(tiny_index, tiny_tokenizer(prompt).input_ids)
        assert h.removed and prompt.endswith(h.removed_text)
        m = HealingMonitor(h.removed, inner=_deref(prompt, names))
        c = m.constraint()
        assert isinstance(c, PrefixConstraint)
        ids = tiny_index.allowed_ids(c)
        assert list(ids) == brute_prefix(tiny_index, c)
        kept = prompt[: len(prompt) - len(h.removed_text)]
        rng = random.Random(1)
        for _ in range(30):  # every path through the mask spells a member
            w = m.fork()
            text = walk(tiny_index, w, rng)
            ident = (kept + text.decode("utf-8", "replace")).rsplit(".", 1)[1]
            run = ident[: len(ident) - len(ident.lstrip("abcdefghijklmnopqrstuvwxyz_"))]
            assert any(n.startswith(run) for n in names), (prompt, text)
            c2 = w.constraint()
            if isinstance(c2, IdentifierConstraint):
                assert c2.candidates <= {n.encode() for n in names}


# ---------------------------------------------------------------------- properties over real code


def _check_cut(index: VocabIndex, ids: list[int], prompt: str, lead: bytes, seed: int) -> None:
    h = heal_prompt(index, ids)
    kept = token_text(index, h.ids)
    full = token_text(index, ids)
    assert kept + h.removed == full  # exact round trip
    assert full == lead + prompt.encode()
    assert len(ids) - len(h.ids) <= index.max_token_bytes + 3
    if not h.removed:
        return
    h.removed.decode("utf-8")  # never a split character
    if h.ids:
        assert prompt.encode().endswith(h.removed)
    # else: the whole prompt went, with a synthetic leading ▁ (engines do not heal then)
    # the original tokens are one path through the mask
    m = HealingMonitor(h.removed)
    for tid in ids[len(h.ids) :]:
        c = m.constraint()
        assert c is not None and tid in set(index.allowed_ids(c).tolist())
        m.feed(index.token_bytes(tid))
    assert m.constraint() is None
    # every first token extends the removed text or is a prefix of it
    c = PrefixConstraint(h.removed)
    first = index.allowed_ids(c)
    assert len(first)
    for tid in first.tolist():
        b = index.token_bytes(tid)
        assert b.startswith(h.removed) or h.removed.startswith(b)
        assert tid not in index.special_ids
    assert len(first) == len(brute_prefix(index, c)) or len(first) > 2000  # brute force only when small
    # any path through the mask: prompt + completion == kept text + generated text
    gen = walk(index, HealingMonitor(h.removed), random.Random(seed))
    gen += b" tail"
    if not h.ids:
        return
    generated_text = gen.decode("utf-8", "replace")
    kept_text = prompt[: len(prompt) - len(h.removed_text)]
    assert prompt + completion_after(generated_text, h) == kept_text + generated_text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_real_code_byte_level(data, tiny_index: VocabIndex, tiny_tokenizer, code_texts) -> None:
    text = data.draw(st.sampled_from(code_texts))
    cut = data.draw(st.integers(min_value=1, max_value=len(text)))
    prompt = text[max(0, cut - 300) : cut]
    ids = tiny_tokenizer(prompt).input_ids
    _check_cut(tiny_index, ids, prompt, b"", cut)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_property_real_code_sentencepiece(data, sp_index: VocabIndex, sp_tokenizer, code_texts) -> None:
    text = data.draw(st.sampled_from(code_texts))
    cut = data.draw(st.integers(min_value=1, max_value=len(text)))
    prompt = text[max(0, cut - 300) : cut]
    ids = sp_tokenizer.encode(prompt, add_special_tokens=False)
    lead = b"" if prompt.startswith(" ") else b" "  # the ▁ Metaspace prepends
    _check_cut(sp_index, ids, prompt, lead, cut)


def test_sentencepiece_space_tokens(sp_index: VocabIndex, sp_tokenizer) -> None:
    """A removed word keeps its ▁ as a leading space; ▁-tokens extend it."""
    prompt = "def parse_args(self, args):\n        return self.par"
    ids = sp_tokenizer.encode(prompt, add_special_tokens=False)
    h = heal_prompt(sp_index, ids)
    assert h.removed and prompt.endswith(h.removed_text)
    first = [sp_index.token_bytes(i) for i in sp_index.allowed_ids(PrefixConstraint(h.removed)).tolist()]
    assert any(len(b) > len(h.removed) for b in first)
    h2 = heal_prompt(sp_index, sp_tokenizer.encode("x = y + z", add_special_tokens=False))
    assert h2.removed.startswith(b" ") or h2.removed == b""


def test_healed_index_queries_are_kept_in_the_memo(tiny_index: VocabIndex) -> None:
    from monitors.vocab import IdsMemo

    memo = IdsMemo()
    c = PrefixConstraint(b"sel", IdentifierConstraint(frozenset({b"self"}), b""))
    a = tiny_index.allowed_ids(c, memo=memo)
    b = tiny_index.allowed_ids(c, memo=memo)
    assert a is b and not a.flags.writeable
    assert tiny_index.allowed_ids(c).tolist() == a.tolist()


# ---------------------------------------------------------------------- engines (tiny model)


def click_cut_prompts(project: Path, n: int, cut: int, seed: int):
    from mgd.engines.generate import Prompt
    from mgd.evaluation.casegen import dot_sites, sample_sites
    from monitors.languages import language_for_path

    path = project / "click/core.py"
    text = path.read_text(encoding="utf-8")
    sites = [s for s in dot_sites(language_for_path(path), text) if len(s.name) > 3]
    out = []
    for s in sample_sites(sites, n, seed=seed):
        end = s.prefix_end + cut
        out.append(Prompt(f"core:{end}", project, path, text[:end], text[s.suffix_start :], {"name": s.name}))
    return out


@pytest.fixture(scope="module")
def generator(tiny_model):
    from mgd.engines.generate import HFGenerator
    from mgd.session import SessionConfig

    gen = HFGenerator(tiny_model, config=SessionConfig(server="jedi", wait_ms=20_000))
    yield gen
    gen.close()


def _raw_generation(gen, prompt, options, healed: HealedPrompt) -> str:
    """Generate the healed prompt again with the public pieces; the exact text."""
    import torch

    from mgd.engines.hf import MonitorLogitsProcessor

    guide = gen.session.guide(prompt.workspace, prompt.file, prompt.prefix, prompt.suffix, heal=healed.removed,
                              monitors=() if not options.monitors else None)
    ids = torch.tensor([list(healed.ids)])
    kwargs = {"do_sample": options.do_sample}
    if options.do_sample:
        torch.manual_seed(options.seed)
        kwargs.update(temperature=options.temperature, top_p=options.top_p, top_k=0)
    out = gen.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids),
                             max_new_tokens=options.max_new_tokens,
                             logits_processor=[MonitorLogitsProcessor([guide], ids.shape[1])],
                             pad_token_id=gen.pad_id, eos_token_id=gen.tokenizer.eos_token_id, **kwargs)
    new = [t for t in out[0, ids.shape[1] :].tolist() if t != gen.tokenizer.eos_token_id]
    return token_text(gen.session.index, new).decode("utf-8", "replace")


def _check_results(generator, prompts, options, results) -> None:
    """prompt + completion == kept prompt + the text the model really generated."""
    for p, r in zip(prompts, results, strict=True):
        assert r.error is None, r.error
        fim = generator.fim(options)
        if fim.template is None:
            ids = generator.prompt_ids(p.prefix, options.max_new_tokens, options.max_prompt_tokens)
            healed = heal_prompt(generator.session.index, ids)
        else:  # a FIM prompt heals the end of its prefix block
            head, tail = generator._fim_parts(p, options, fim)
            h = heal_prompt(generator.session.index, head)
            healed = HealedPrompt(tuple(fim.ids(list(h.ids), tail)), h.removed)
        assert healed.removed and r.stats["healed_chars"] == len(healed.removed_text)
        assert r.stats["heal_off"] == 0
        raw = _raw_generation(generator, p, options, healed)
        kept = p.prefix[: len(p.prefix) - len(healed.removed_text)]
        assert raw.startswith(healed.removed_text)  # the healed first tokens re-spell it
        if options.stop:  # generation stopped at the stop text (not returned)
            assert "\n" not in r.completion
            assert (kept + raw).startswith(p.prefix + r.completion)
            rest = (kept + raw)[len(p.prefix + r.completion) :]
            assert rest == "" or rest.startswith("\n")
        else:
            assert p.prefix + r.completion == kept + raw  # nothing dropped or duplicated


@pytest.mark.e2e
@pytest.mark.parametrize("monitors", [False, True])
def test_e2e_greedy_round_trip(generator, click_project, monitors: bool) -> None:
    from mgd.engines.generate import GenerateOptions

    prompts = click_cut_prompts(click_project, 2, 2, seed=11)
    options = GenerateOptions(max_new_tokens=4, heal=True, monitors=monitors, max_prompt_tokens=64)
    results = generator.generate(prompts, options)
    _check_results(generator, prompts, options, results)
    if monitors:
        assert all(r.stats["triggers"] >= 1 and r.stats["violations"] == 0 for r in results)


@pytest.mark.e2e
def test_e2e_sampling_and_stop(generator, click_project) -> None:
    from mgd.engines.generate import GenerateOptions

    prompts = click_cut_prompts(click_project, 2, 1, seed=5)
    options = GenerateOptions(max_new_tokens=5, heal=True, monitors=False, do_sample=True, temperature=1.0,
                              seed=3, max_prompt_tokens=64, stop=("\n",))
    results = generator.generate(prompts, options)
    _check_results(generator, prompts, options, results)


@pytest.mark.e2e
def test_e2e_composition_dereference_legal(generator, click_project) -> None:
    """``obj.`` and ``obj.xy`` healed with jedi's names: every member generated is legal."""
    from mgd.engines.generate import GenerateOptions
    from mgd.evaluation.member_check import check_member_accesses
    from monitors.languages import language_for_path

    prompts = click_cut_prompts(click_project, 1, 0, seed=2) + click_cut_prompts(click_project, 1, 2, seed=3)
    options = GenerateOptions(max_new_tokens=4, heal=True, monitors=True, max_prompt_tokens=64)
    results = generator.generate(prompts, options)
    for p, r in zip(prompts, results, strict=True):
        assert r.error is None, r.error
        assert r.stats["triggers"] >= 1 and r.stats["violations"] == 0
        language = language_for_path(p.file)
        spec = generator.session.server_for(language)
        checks = generator.session.loop.run(
            check_member_accesses(generator.session.pool, spec, language, p.workspace, p.file,
                                  p.prefix, r.completion, p.suffix, open_end=True),
            timeout=120,
        )
        for c in checks:
            assert c.legal is not False, (p.id, r.completion, c)


@pytest.mark.e2e
def test_e2e_cli_cases_heal(generator, click_project, tiny_model, tmp_path: Path) -> None:
    """``mgd generate --cases --heal``: prefix_end inside an identifier and inside indentation."""
    from mgd.cli import main
    from mgd.engines.generate import GenerateOptions, Prompt

    path = click_project / "click/core.py"
    text = path.read_text(encoding="utf-8")
    (p_ident,) = click_cut_prompts(click_project, 1, 2, seed=4)
    at_ident = len(p_ident.prefix)
    at_indent = text.index("\n        return ") + 1 + 6  # inside an 8-space indentation run
    cases = tmp_path / "cases.jsonl"
    cases.write_text("".join(
        json.dumps({"id": cid, "workspace": str(click_project), "file": "click/core.py",
                    "prefix_end": at, "suffix_start": at}) + "\n"
        for cid, at in (("ident", at_ident), ("indent", at_indent))
    ))
    out = tmp_path / "out.jsonl"
    rc = main(["generate", "--model", str(tiny_model), "--cases", str(cases), "--out", str(out), "--heal",
               "--no-monitors", "--max-new-tokens", "3", "--max-prompt-tokens", "48", "--quiet"])
    assert rc == 0
    got = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in got] == ["ident", "indent"]
    options = GenerateOptions(max_new_tokens=3, heal=True, monitors=False, max_prompt_tokens=48)
    prompts = [Prompt(r["id"], click_project, path, text[:at], text[at:])
               for r, at in zip(got, (at_ident, at_indent), strict=True)]
    api = generator.generate(prompts, options)
    for r, a in zip(got, api, strict=True):
        assert "error" not in r and r["stats"]["healed_chars"] >= 1
        assert r["completion"] == a.completion  # the CLI is the Python API


def test_prefix_alternatives_mask_the_union(tiny_index: VocabIndex) -> None:
    """``alternatives``: a token may spell any of the prefixes (``new Name`` then ``(`` or ``[``)."""
    c = PrefixConstraint(b"(", alternatives=frozenset({b"[", b"<"}))
    got = tiny_index.allowed_ids(c).tolist()
    want = sorted(set().union(*(brute_prefix(tiny_index, PrefixConstraint(r)) for r in (b"(", b"[", b"<"))))
    assert got == want
    assert set(brute_prefix(tiny_index, PrefixConstraint(b"("))) < set(got)
    with pytest.raises(ValueError):
        PrefixConstraint(b"(", alternatives=frozenset({b""}))
