"""FIM templates per model family: detection from the tokenizer, prompt layout, overrides.

Tokenizers are stand-ins built from each family's published special tokens
(``fim_tokenizers.py``; no model hub here), plus the shared tiny model's real one.
"""

from __future__ import annotations

import pytest

from mgd.config import EditorOptions
from mgd.config.editor import FIM_FAMILIES
from mgd.engines.fim import PREFERRED, TEMPLATES, detect_template, get_template, resolve_template, vocab_lookup
from monitors.errors import ConfigError

from .fim_tokenizers import FAMILIES, standin_tokenizer

PREFIX = "def area(self):\n    return self."
SUFFIX = "\n\nprint(area)\n"


@pytest.fixture(scope="module")
def tokenizers():
    return {family: standin_tokenizer(family) for family in FAMILIES}


def test_families_match_the_settings() -> None:
    assert tuple(TEMPLATES) == FIM_FAMILIES


@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "plain"])
def test_each_family_is_detected_from_its_special_tokens(tokenizers, family: str) -> None:
    tok = tokenizers[family]
    found = detect_template(vocab_lookup(tok))
    assert found is not None and found[0].name == family
    template, ids = found
    assert set(ids) == set(template.markers)
    for marker, i in ids.items():
        assert tok.convert_ids_to_tokens(i) in template.spellings(marker)


def test_a_tokenizer_without_fim_tokens_gets_left_to_right_prompts(tokenizers) -> None:
    lookup = vocab_lookup(tokenizers["plain"])
    assert detect_template(lookup) is None
    assert resolve_template("auto", "auto", lookup) == (None, {}, "the tokenizer has no FIM tokens")
    with pytest.raises(ConfigError, match="fim = 'on'"):
        resolve_template("on", "auto", lookup)


def test_the_tiny_model_is_starcoder_shaped(tiny_tokenizer) -> None:
    found = detect_template(vocab_lookup(tiny_tokenizer))
    assert found is not None and found[0].name == "starcoder"
    # auto takes the BigCode family's SPM layout (mgd.engines.fim.PREFERRED)
    template, ids, source = resolve_template("auto", "auto", vocab_lookup(tiny_tokenizer))
    assert template is not None and template.name == "starcoder-spm" and source == "the tokenizer's special tokens"
    assert ids["<fim_prefix>"] == tiny_tokenizer.convert_tokens_to_ids("<fim_prefix>")


@pytest.mark.parametrize("family", [f for f in FAMILIES if f != "plain"])
def test_prompt_ids_follow_the_family_layout(tokenizers, family: str) -> None:
    tok = tokenizers[family]
    template, ids, _ = resolve_template("auto", "auto", vocab_lookup(tok))
    head = tok(PREFIX, add_special_tokens=False).input_ids
    tail = tok(SUFFIX, add_special_tokens=False).input_ids
    prompt = template.ids(ids, head, tail, tok.bos_token_id)
    start = [tok.bos_token_id] if template.bos else []
    p, s = ids[template.prefix], ids[template.suffix]
    if family == "codestral":  # suffix first, the prompt ends with the prefix
        assert prompt == [*start, s, *tail, p, *head]
    elif family in PREFERRED:  # the BigCode families: SPM, the prompt ends with the prefix
        assert template.name == PREFERRED[family]
        assert prompt == [*start, p, s, *tail, ids[template.middle], *head]
    else:
        assert prompt == [*start, p, *head, s, *tail, ids[template.middle]]
    if template.bos:
        assert prompt[0] == tok.bos_token_id and tok.bos_token_id is not None


def test_prompt_text_per_family() -> None:
    P, S = "x = c.", "\ny = 1"
    assert get_template("starcoder").text(P, S) == "<fim_prefix>x = c.<fim_suffix>\ny = 1<fim_middle>"
    assert get_template("santacoder").text(P, S) == "<fim-prefix>x = c.<fim-suffix>\ny = 1<fim-middle>"
    assert get_template("qwen").text(P, S) == "<|fim_prefix|>x = c.<|fim_suffix|>\ny = 1<|fim_middle|>"
    assert get_template("deepseek").text(P, S) == "<｜fim▁begin｜>x = c.<｜fim▁hole｜>\ny = 1<｜fim▁end｜>"
    assert get_template("codellama").text(P, S) == "<PRE> x = c. <SUF>\ny = 1 <MID>"
    assert get_template("codestral").text(P, S) == "[SUFFIX]\ny = 1[PREFIX]x = c."


def test_override_in_settings(tokenizers) -> None:
    lookup = vocab_lookup(tokenizers["qwen"])
    template, _, source = resolve_template("auto", "qwen", lookup)
    assert template.name == "qwen" and source == "configuration"
    with pytest.raises(ConfigError, match="does not have"):  # the tokenizer cannot spell StarCoder's markers
        resolve_template("auto", "starcoder", lookup)
    assert resolve_template("off", "qwen", lookup)[0] is None
    opts = EditorOptions().merged({"fim_template": "deepseek"}, "mgd.toml: editor")
    assert opts.fim_template == "deepseek"
    with pytest.raises(ConfigError, match="fim_template"):
        EditorOptions().merged({"fim_template": "gpt"}, "mgd.toml: editor")
    with pytest.raises(ConfigError, match="unknown fim_template"):
        get_template("gpt")


def test_stop_tokens_end_the_middle(tokenizers) -> None:
    """A template's stop markers are single tokens of its family's tokenizer (the local engine stops on them)."""
    for family in ("starcoder", "qwen", "deepseek", "codellama"):
        lookup = vocab_lookup(tokenizers[family])
        assert any(lookup(t) is not None for t in TEMPLATES[family].stops), family


def test_spm_layouts_end_with_the_prefix(tiny_tokenizer) -> None:
    """StarCoder's SPM mode: both markers, the suffix, the middle marker, then the prefix
    (the model continues the text as typed); detection never picks it, a setting does."""
    P, S = "x = c.", "\ny = 1"
    assert get_template("starcoder-spm").text(P, S) == "<fim_prefix><fim_suffix>\ny = 1<fim_middle>x = c."
    assert get_template("santacoder-spm").text(P, S) == "<fim-prefix><fim-suffix>\ny = 1<fim-middle>x = c."
    lookup = vocab_lookup(tiny_tokenizer)
    assert resolve_template("auto", "starcoder", lookup)[0].name == "starcoder"  # PSM when named
    template, ids, source = resolve_template("auto", "starcoder-spm", lookup)
    assert template is not None and template.spm and source == "configuration"
    head, tail = [10, 11, 12], [20, 21]
    prompt = template.ids(ids, head, tail, None)
    assert prompt == [ids["<fim_prefix>"], ids["<fim_suffix>"], *tail, ids["<fim_middle>"], *head]
    a, b = template.head_span(ids, prompt)
    assert prompt[a:b] == head


@pytest.mark.parametrize("name", ["starcoder", "codestral", "starcoder-spm"])
def test_head_span_finds_the_prefix_block(name: str) -> None:
    template = get_template(name)
    ids = {m: 900 + k for k, m in enumerate(template.markers)}
    head, tail = [1, 2, 3, 4], [5, 6]
    prompt = template.ids(ids, head, tail, 0)
    a, b = template.head_span(ids, prompt)
    assert prompt[a:b] == head
    assert template.head_span(ids, head) is None  # a left-to-right prompt has no prefix block


@pytest.mark.parametrize(("reader", "writer"), [("starcoder", "starcoder-spm"), ("santacoder", "santacoder-spm"),
                                                ("starcoder-spm", "starcoder"), ("santacoder-spm", "santacoder")])
def test_a_familys_layouts_read_each_others_prompts(reader: str, writer: str) -> None:
    """The vLLM core detects one layout (``auto``); a prompt in the family's other order
    (``mgd serve --fim-template starcoder``) still gives its prefix block (healing reads
    it), and an empty prefix stays empty."""
    template = get_template(reader)
    ids = {m: 900 + k for k, m in enumerate(template.markers)}
    head, tail = [1, 2, 3, 4], [5, 6]
    for h in (head, []):
        prompt = get_template(writer).ids(ids, h, tail, None)
        a, b = template.head_span(ids, prompt)
        assert prompt[a:b] == h, (h, prompt)
