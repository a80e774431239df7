"""The vocabulary index and the masking rule (monitors.vocab)."""

from __future__ import annotations

import inspect
import json
import textwrap
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitors.base import IdentifierConstraint as C
from monitors.errors import TokenizerError
from monitors.identifiers import IDENT_BYTES, ident_run_length, is_ident_byte
from monitors.vocab import IdsMemo, VocabIndex


def cs(*names: str | bytes) -> frozenset[bytes]:
    return frozenset(n.encode() if isinstance(n, str) else n for n in names)


# --------------------------------------------------------------------------- reference


def ref_is_ident(b: int) -> bool:
    ch = chr(b)
    return b >= 0x80 or (ch.isascii() and (ch.isalnum() or ch in "_$"))


def ref_lead_run(t: bytes) -> int:
    n = 0
    while n < len(t) and ref_is_ident(t[n]):
        n += 1
    return n


def reference_allowed(
    tokens: list[bytes | None], eos: set[int], special: set[int], c: C
) -> set[int]:
    """The masking rule written plainly, for comparison."""
    live = [cand for cand in c.candidates if cand.startswith(c.typed)]
    out: set[int] = set()
    if not live:
        return out
    for i, t in enumerate(tokens):
        if t is None or i in special or i in eos or not t:
            continue
        for cand in live:
            s = cand[len(c.typed) :]
            # (a) a non-empty prefix of s made only of identifier bytes
            if s.startswith(t) and all(ref_is_ident(b) for b in t):
                out.add(i)
            # (b) leading identifier run == s, then at least one break byte
            run = ref_lead_run(t)
            if t[:run] == s and run < len(t):
                out.add(i)
    if c.typed in c.candidates:  # (c)
        out |= eos
    return out


# --------------------------------------------------------------------------- tiny vocabularies

# A byte-level-like vocabulary: no space-prefix convention, words and punctuation mixed.
BL_TOKENS: list[bytes | None] = [
    None,  # 0 <|endoftext|> (eos)
    None,  # 1 <fim_prefix>
    b"a",  # 2
    b"r",  # 3
    b"ar",  # 4
    b"are",  # 5
    b"area",  # 6
    b"rad",  # 7
    b"radi",  # 8
    b"radius",  # 9
    b"ius",  # 10
    b"us",  # 11
    b"area(",  # 12
    b"area()",  # 13
    b"radius)",  # 14
    b"().",  # 15
    b"(",  # 16
    b")",  # 17
    b".",  # 18
    b" ",  # 19
    b" radius",  # 20
    b"areas",  # 21
    b"foo",  # 22
    b"foobar",  # 23
    b"bar",  # 24
    b"foo(",  # 25
    b"b",  # 26
    b"ius)",  # 27
    b"rad",  # 28 duplicate bytes of 7
    b"i",  # 29
    b"u",  # 30
    b"s",  # 31
    b"f",  # 32
    b"o",  # 33
    b"e",  # 34
    b"$x",  # 35
    b"_",  # 36
    b"area)",  # 37
    b"\n",  # 38
]
BL_EOS = {0}
BL_SPECIAL = {0, 1}


@pytest.fixture(scope="module")
def bl() -> VocabIndex:
    return VocabIndex.from_token_bytes(BL_TOKENS, eos_ids=BL_EOS, special_ids={1})


def ids(v: VocabIndex, c: C) -> set[int]:
    a = v.allowed_ids(c)
    assert a.dtype == np.int32
    assert list(a) == sorted(set(a.tolist()))
    return set(a.tolist())


def by_bytes(v: VocabIndex, *toks: bytes) -> set[int]:
    out: set[int] = set()
    for t in toks:
        found = v.ids_of_bytes(t)
        assert found, t
        out.update(found)
    return out


def test_ident_bytes() -> None:
    assert ident_run_length(b"radius)") == 6
    assert ident_run_length(b"().") == 0
    assert ident_run_length(b"") == 0
    assert ident_run_length(b"$x_1\xc3\xa9 y") == 6
    for b in range(256):
        assert is_ident_byte(b) == ref_is_ident(b), b
        assert (b in IDENT_BYTES) == ref_is_ident(b)


def test_multi_token_identifier_all_segmentations(bl: VocabIndex) -> None:
    got = ids(bl, C(cs("radius")))
    # r|a|d..., rad|ius, radi|us, radius, radius) -- and both ids of "rad"
    assert got == by_bytes(bl, b"r", b"rad", b"radi", b"radius", b"radius)")
    assert {7, 28} <= got
    assert got == reference_allowed(BL_TOKENS, BL_EOS, BL_SPECIAL, C(cs("radius")))
    got = ids(bl, C(cs("radius"), b"rad"))
    assert got == by_bytes(bl, b"i", b"ius", b"ius)")
    got = ids(bl, C(cs("radius"), b"radi"))
    assert got == by_bytes(bl, b"u", b"us")


def test_break_char_tokens(bl: VocabIndex) -> None:
    c = C(cs("radius", "area"))
    got = ids(bl, c)
    assert got == by_bytes(
        bl,
        b"r",
        b"rad",
        b"radi",
        b"radius",
        b"radius)",
        b"a",
        b"ar",
        b"are",
        b"area",
        b"area(",
        b"area()",
        b"area)",
    )
    assert bl.ids_of_bytes(b"areas")[0] not in got  # pure, but not a prefix of a candidate
    assert bl.ids_of_bytes(b" radius")[0] not in got  # leading space
    assert bl.ids_of_bytes(b"().")[0] not in got  # identifier not complete yet
    assert not got & BL_EOS


def test_typed_complete_allows_breaks_and_eos(bl: VocabIndex) -> None:
    got = ids(bl, C(cs("area"), b"area"))
    breaks = by_bytes(bl, b"().", b"(", b")", b".", b" ", b" radius", b"\n")
    assert got == breaks | BL_EOS
    # foo and foobar: typed "foo" is complete *and* can go on
    got = ids(bl, C(cs("foo", "foobar"), b"foo"))
    assert got == breaks | BL_EOS | by_bytes(bl, b"b", b"bar")
    assert bl.ids_of_bytes(b"foo(")[0] not in got
    got = ids(bl, C(cs("foo", "foobar")))
    assert got == by_bytes(bl, b"f", b"foo", b"foo(", b"foobar")


def test_eos_only_when_complete(bl: VocabIndex) -> None:
    assert not ids(bl, C(cs("foo", "foobar"), b"fo")) & BL_EOS
    assert not ids(bl, C(cs("foobar"), b"foo")) & BL_EOS
    assert ids(bl, C(cs("foobar"), b"foobar")) >= BL_EOS


def test_duplicate_ids_all_allowed(bl: VocabIndex) -> None:
    assert bl.ids_of_bytes(b"rad") == (7, 28)
    got = ids(bl, C(cs("rad")))
    assert {7, 28} <= got


def test_empty_when_nothing_live(bl: VocabIndex) -> None:
    for c in (C(cs("radius"), b"x"), C(frozenset()), C(cs("area"), b"areas")):
        a = bl.allowed_ids(c)
        assert a.dtype == np.int32 and a.size == 0
        assert not bl.mask(c).any()
        assert not bl.bitmask(c).any()
    # live, but the vocabulary cannot spell it: empty as well
    assert bl.allowed_ids(C(cs("zzz"))).size == 0


def test_specials_never_allowed() -> None:
    toks: list[bytes | None] = [b"area", b"a", b"(", None, b"area("]
    v = VocabIndex.from_token_bytes(toks, eos_ids=[3], special_ids=[0])
    assert v.special_ids == {0, 3} and v.eos_ids == {3}
    assert v.token_bytes(0) == b"" and v.token_bytes(3) == b""
    assert ids(v, C(cs("area"))) == {1, 4}
    assert ids(v, C(cs("area"), b"area")) == {2, 3}
    assert ids(v, C(cs("area", ""), b"")) == {1, 2, 3, 4}


def test_padded_width_and_bitmask_layout(bl: VocabIndex) -> None:
    cons = [
        C(cs("radius", "area")),
        C(cs("area"), b"area"),
        C(cs("foo", "foobar"), b"foo"),
        C(cs("zz")),
    ]
    for c in cons:
        allowed = bl.allowed_ids(c)
        for width in (None, bl.size, bl.size + 1, 64, 100, 129):
            m = bl.mask(c, width)
            w = bl.size if width is None else width
            assert m.dtype == np.bool_ and m.shape == (w,)
            assert np.array_equal(np.flatnonzero(m), allowed)
            assert not m[bl.size :].any()
            bm = bl.bitmask(c, width)
            assert bm.dtype == np.int32 and bm.shape == ((w + 31) // 32,)
            words = bm.astype(np.int64) & 0xFFFFFFFF
            bits = [bool((int(words[i // 32]) >> (i % 32)) & 1) for i in range(len(bm) * 32)]
            assert bits[:w] == m.tolist()
            assert not any(bits[w:])
    with pytest.raises(ValueError):
        bl.mask(cons[0], bl.size - 1)
    with pytest.raises(ValueError):
        bl.bitmask(cons[0], 3)


def test_mask_matches_allowed_ids(bl: VocabIndex) -> None:
    c = C(cs("radius"))
    m = bl.mask(c, 64)
    assert m.dtype == bool and m.shape == (64,)
    assert np.flatnonzero(m).tolist() == bl.allowed_ids(c).tolist()


def test_non_ascii_identifier_split_across_partial_utf8() -> None:
    name = "größe".encode()  # b"gr\xc3\xb6\xc3\x9fe"
    assert name == b"gr\xc3\xb6\xc3\x9fe"
    toks: list[bytes | None] = [
        None,
        b"gr",  # 1
        b"gr\xc3",  # 2 ends inside a character
        b"\xb6",  # 3 continuation byte alone
        b"\xc3\xb6\xc3",  # 4
        b"\x9fe",  # 5
        b"\x9fe(",  # 6
        b"\xb6\xc3\x9fe",  # 7
        b"\xc3",  # 8
        b"g",  # 9
        b"e",  # 10
        b"\xc3\xa9",  # 11 another character
        b"(",  # 12
    ]
    v = VocabIndex.from_token_bytes(toks, eos_ids=[0])
    assert ids(v, C(frozenset({name}))) == {1, 2, 9}
    assert ids(v, C(frozenset({name}), b"gr")) == {4, 8}
    assert ids(v, C(frozenset({name}), b"gr\xc3")) == {3, 7}
    assert ids(v, C(frozenset({name}), b"gr\xc3\xb6\xc3")) == {5, 6}
    assert ids(v, C(frozenset({name}), name)) == {0, 12}
    for typed in (b"", b"gr", b"gr\xc3", b"gr\xc3\xb6\xc3", name):
        c = C(frozenset({name}), typed)
        assert ids(v, c) == reference_allowed(toks, {0}, {0}, c)


def test_sentencepiece_like_tiny_vocabulary() -> None:
    # Bytes as a SentencePiece index produces them: "▁" is already a space.
    toks: list[bytes | None] = [
        None,  # <unk>
        None,  # <s>
        None,  # </s>
        b" get",  # 3
        b"get",  # 4
        b"_",  # 5
        b"item",  # 6
        b"items",  # 7
        b"it",  # 8
        b"ems",  # 9
        b"ems()",  # 10
        b" ",  # 11
        b"\xe2",  # 12 <0xE2>
        b"()",  # 13
        b"get_",  # 14
        b"_items",  # 15
    ]
    v = VocabIndex.from_token_bytes(toks, eos_ids=[2], special_ids=[0, 1])
    c = C(cs("get_items", "get"))
    assert ids(v, c) == {4, 14}
    # " get" starts with a break byte; "\xe2" is an identifier byte (part of a character)
    assert ids(v, C(c.candidates, b"get")) == {2, 3, 5, 11, 13, 15}
    assert ids(v, C(c.candidates, b"get_it")) == {9, 10}
    for typed in (b"", b"g", b"get", b"get_", b"get_it", b"get_items"):
        cc = C(c.candidates, typed)
        assert ids(v, cc) == reference_allowed(toks, {2}, {0, 1, 2}, cc)


def test_prefix_queries(bl: VocabIndex) -> None:
    live = [(i, t) for i, t in enumerate(BL_TOKENS) if t and i not in BL_SPECIAL]

    def brute_with(data: bytes) -> list[int]:
        return [i for i, t in live if t.startswith(data)]

    def brute_of(data: bytes) -> list[int]:
        return [i for i, t in live if data.startswith(t)]

    probes = (b"", b"a", b"ar", b"area", b"area(", b"rad", b"(", b" ", b"zz", b"\xff", b"radius)x")
    for data in probes:
        assert bl.ids_with_prefix(data).tolist() == brute_with(data), data
        assert bl.ids_prefix_of(data).tolist() == brute_of(data), data
    assert bl.ids_with_prefix(b"a").dtype == np.int32


def test_memo_and_readonly(bl: VocabIndex) -> None:
    memo = IdsMemo()
    c = C(cs("radius", "area"))
    a = bl.allowed_ids(c, memo=memo)
    b = bl.allowed_ids(C(frozenset(c.candidates), b""), memo=memo)
    assert np.array_equal(a, b)
    info = memo.info()
    assert info["hits"] == 1 and info["misses"] == 1 and info["entries"] == 1
    with pytest.raises(ValueError):
        a[0] = 5
    assert np.array_equal(bl.allowed_ids(c), a)  # no memo: computed afresh, nothing kept
    assert memo.info()["entries"] == 1
    m = bl.mask(c)
    m[:] = True  # masks are fresh copies
    assert np.array_equal(np.flatnonzero(bl.mask(c)), a)


def test_the_index_holds_no_mutable_cache(bl: VocabIndex) -> None:
    """Immutable once built: asking changes nothing in the index (the memo is the caller's)."""
    bl.rule_tables()  # the one lazily built table (see the module docstring)
    before = dict(vars(bl))
    bl.allowed_ids(C(cs("radius", "area")), memo=IdsMemo())
    bl.ids_containing((b"ra",))
    assert vars(bl).keys() == before.keys() and all(vars(bl)[k] is v for k, v in before.items())
    assert not any("lock" in type(v).__name__.lower() for v in before.values())


def test_a_small_memo_drops_the_least_recently_used() -> None:
    memo = IdsMemo(entries=2)
    parts = (np.zeros(1, dtype=np.int32), False)
    for key in ("a", "b", "a", "c"):
        memo.put(key, parts) if memo.get(key) is None else None
    assert memo.get("a") is not None and memo.get("c") is not None and memo.get("b") is None


def test_from_token_bytes_misuse() -> None:
    with pytest.raises(TokenizerError):
        VocabIndex.from_token_bytes([])
    with pytest.raises(TokenizerError):
        VocabIndex.from_token_bytes([b"a"], eos_ids=[3])
    with pytest.raises(TypeError):
        VocabIndex.from_token_bytes([b"a", "b"])  # type: ignore[list-item]
    v = VocabIndex.from_token_bytes([b"a"])
    with pytest.raises(IndexError):
        v.token_bytes(1)


_ALPHA = b"ab_$x(). \xc3\xa9"
_IDALPHA = b"ab_x\xc3"


@st.composite
def vocab_case(draw: st.DrawFn) -> tuple[list[bytes | None], set[int], set[int], C]:
    tok = st.binary(min_size=0, max_size=4).map(lambda b: bytes(_ALPHA[x % len(_ALPHA)] for x in b))
    tokens = draw(st.lists(st.one_of(tok, tok, tok, st.none()), min_size=1, max_size=30))
    n = len(tokens)
    eos = draw(st.sets(st.integers(0, n - 1), max_size=2))
    special = draw(st.sets(st.integers(0, n - 1), max_size=2))
    ident = st.binary(max_size=5).map(lambda b: bytes(_IDALPHA[x % len(_IDALPHA)] for x in b))
    anyb = st.binary(max_size=5).map(lambda b: bytes(_ALPHA[x % len(_ALPHA)] for x in b))
    cands = draw(st.frozensets(st.one_of(ident, ident, anyb), max_size=6))
    if cands and draw(st.booleans()):
        pick = draw(st.sampled_from(sorted(cands)))
        typed = pick[: draw(st.integers(0, len(pick)))]
    else:
        typed = draw(ident)
    return tokens, eos, special, C(cands, typed)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(vocab_case())
def test_matches_reference(case: tuple[list[bytes | None], set[int], set[int], C]) -> None:
    tokens, eos, special, c = case
    v = VocabIndex.from_token_bytes(tokens, eos_ids=eos, special_ids=special)
    nones = {i for i, t in enumerate(tokens) if t is None}
    expected = reference_allowed(tokens, eos, special | eos | nones, c)
    got = v.allowed_ids(c)
    assert got.tolist() == sorted(expected)
    assert np.array_equal(np.flatnonzero(v.mask(c, v.size + 5)), got)
    assert np.array_equal(v.allowed_ids(c, memo=IdsMemo()), got)
    # bitmask agrees with the mask
    bits = np.unpackbits(v.bitmask(c).view(np.uint8), bitorder="little").astype(bool)
    assert np.array_equal(np.flatnonzero(bits), got)


# --------------------------------------------------------------------------- real tokenizers

CODE_SAMPLES = [
    "def area(self) -> float:\n    return math.pi * self.radius ** 2\n",
    "class Circle:\n\tdef __init__(self, radius):\n\t\tself.radius = radius  # größe\n",
    'print(f"{x!r:>10}")  # π ≈ 3.14159, 日本語, emoji 😀👍🏽\n',
    "public static void main(String[] args) { System.out.println(\"héllo\"); }\n",
    "  \n\n\t x = [i for i in range(10)]; y = {'k': None}\r\n",
    "ñ = 'Ω'; $var = `€` + '\\u00e9'\n",
]


@pytest.fixture(scope="module")
def tiny_tok(tiny_model: Path):  # type: ignore[no-untyped-def]
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model))


@pytest.fixture(scope="module")
def tiny(tiny_tok) -> VocabIndex:  # type: ignore[no-untyped-def]
    return VocabIndex.from_tokenizer(tiny_tok)


def test_tinycode_index(tiny_tok, tiny: VocabIndex) -> None:  # type: ignore[no-untyped-def]
    assert tiny.kind == "byte_level"
    assert tiny.size == len(tiny_tok) == 16384
    assert tiny.eos_ids == {tiny_tok.eos_token_id}
    assert set(tiny_tok.all_special_ids) <= tiny.special_ids
    for i in tiny.special_ids:
        assert tiny.token_bytes(i) == b""
    # every ordinary id decodes like the tokenizer decodes it alone
    for i in range(tiny.size):
        if i in tiny.special_ids:
            continue
        b = tiny.token_bytes(i)
        assert b
        assert b.decode("utf-8", errors="replace") == tiny_tok.decode([i]), i
    assert tiny.max_token_bytes == max(len(tiny.token_bytes(i)) for i in range(tiny.size))


def test_tinycode_round_trip(tiny_tok, tiny: VocabIndex) -> None:  # type: ignore[no-untyped-def]
    for s in CODE_SAMPLES:
        enc = tiny_tok.encode(s, add_special_tokens=False)
        assert b"".join(tiny.token_bytes(i) for i in enc) == s.encode(), s


def test_tinycode_allowed(tiny_tok, tiny: VocabIndex) -> None:  # type: ignore[no-untyped-def]
    vocab = tiny_tok.get_vocab()
    c = C(cs("radius", "area"))
    got = ids(tiny, c)
    for piece in ("radius", "rad", "radi", "area", "are", "ar", "a", "r", "ra"):
        if piece in vocab:
            assert vocab[piece] in got, piece
    assert vocab["radius"] in got and vocab["rad"] in got
    assert vocab["Ġradius"] not in got
    assert not got & tiny.special_ids
    table = [tiny.token_bytes(i) or None for i in range(tiny.size)]
    assert got == reference_allowed(table, set(tiny.eos_ids), set(tiny.special_ids), c)
    done = ids(tiny, C(cs("radius", "area"), b"area"))
    assert tiny_tok.eos_token_id in done
    assert vocab["()."] in done and vocab["Ġradius"] in done and vocab["radius"] not in done


def test_raw_tokenizer_and_added_tokens(tiny_model: Path, tiny: VocabIndex) -> None:
    import tokenizers

    raw = tokenizers.Tokenizer.from_file(str(tiny_model / "tokenizer.json"))
    v = VocabIndex.from_tokenizer(raw)
    assert v.size == tiny.size and v.kind == "byte_level"
    assert v.eos_ids == {0}  # <|endoftext|>, recognised by name on a raw tokenizer
    assert all(v.token_bytes(i) == tiny.token_bytes(i) for i in range(v.size))
    raw.add_tokens([tokenizers.AddedToken(" hello world", normalized=False), "héllo"])
    raw.add_special_tokens(["<extra_special>"])
    v2 = VocabIndex.from_tokenizer(raw, eos_ids=[0, raw.token_to_id("<extra_special>")])
    assert v2.size == tiny.size + 3
    assert v2.token_bytes(tiny.size) == b" hello world"
    assert v2.token_bytes(tiny.size + 1) == "héllo".encode()
    assert v2.token_bytes(tiny.size + 2) == b"" and tiny.size + 2 in v2.eos_ids
    enc = raw.encode("x = héllo hello world").ids
    assert b"".join(v2.token_bytes(i) for i in enc) == "x = héllo hello world".encode()


def _train_sentencepiece(style: str):  # type: ignore[no-untyped-def]
    """A SentencePiece-style BPE (▁ for spaces, <0xNN> byte fallback) trained on a few KB."""
    import tokenizers
    import transformers
    from tokenizers import decoders, models, pre_tokenizers, trainers

    text = inspect.getsource(textwrap)[:8000] + "\n".join(CODE_SAMPLES[:2])
    tok = tokenizers.Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False
    )
    tok.train_from_iterator([text], trainer=trainer)
    j = json.loads(tok.to_str())
    items = sorted(j["model"]["vocab"].items(), key=lambda kv: kv[1])
    vocab = dict(items[:3])  # the specials keep ids 0..2
    vocab.update({f"<0x{b:02X}>": 3 + b for b in range(256)})
    vocab.update({t: i + 256 for t, i in items[3:]})
    j["model"]["vocab"] = vocab
    if style == "llama":  # normalizer does the ▁; decoder Replace + ByteFallback + Fuse + Strip
        j["normalizer"] = {
            "type": "Sequence",
            "normalizers": [
                {"type": "Prepend", "prepend": "▁"},
                {"type": "Replace", "pattern": {"String": " "}, "content": "▁"},
            ],
        }
        j["pre_tokenizer"] = None
        dec = decoders.Sequence(
            [
                decoders.Replace("▁", " "),
                decoders.ByteFallback(),
                decoders.Fuse(),
                decoders.Strip(" ", 1, 0),
            ]
        )
    else:
        dec = decoders.Sequence(
            [decoders.ByteFallback(), decoders.Metaspace(replacement="▁", prepend_scheme="first")]
        )
    j["decoder"] = json.loads(dec.__getstate__())
    backend = tokenizers.Tokenizer.from_str(json.dumps(j))
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=backend, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )


@pytest.mark.parametrize("style", ["metaspace", "llama"])
def test_sentencepiece_tokenizer(style: str) -> None:
    tok = _train_sentencepiece(style)
    v = VocabIndex.from_tokenizer(tok)
    assert v.kind == "sentencepiece"
    assert v.size == len(tok)
    assert v.eos_ids == {tok.eos_token_id}
    assert {0, 1, 2} <= v.special_ids and all(v.token_bytes(i) == b"" for i in (0, 1, 2))
    for b in range(256):
        assert v.token_bytes(3 + b) == bytes([b])
    vocab = tok.get_vocab()
    for piece, i in vocab.items():
        if i > 258:
            assert v.token_bytes(i) == piece.replace("▁", " ").encode()
    for s in CODE_SAMPLES:
        enc = tok.encode(s, add_special_tokens=False)
        got = b"".join(v.token_bytes(i) for i in enc)
        # the "▁" SentencePiece prepends to the text is a leading space (the Metaspace
        # pre-tokenizer does not add one to text that already starts with a space)
        lead = b"" if style == "metaspace" and s.startswith(" ") else b" "
        assert got == lead + s.encode(), s
        if style == "llama":  # (Metaspace's decoder drops a leading space of such text)
            assert tok.decode(enc) == s
    # byte-fallback pieces were really used for the emoji
    enc = tok.encode("😀", add_special_tokens=False)
    assert b"".join(v.token_bytes(i) for i in enc) == " 😀".encode()
    # masking agrees with the plain rule; word-initial pieces ("▁self") carry the space,
    # so they are break-starting tokens: allowed only once the identifier is complete
    table = [v.token_bytes(i) or None for i in range(v.size)]
    for c in (C(cs("radius", "area", "indent")), C(cs("radius"), b"rad"), C(cs("self", "x"), b"x")):
        assert ids(v, c) == reference_allowed(table, set(v.eos_ids), set(v.special_ids), c)
    space_self = vocab.get("▁self")
    if space_self is not None:
        assert space_self in ids(v, C(cs("x"), b"x"))
        assert space_self not in ids(v, C(cs("self")))


def test_decode_fallback_kind() -> None:
    import tokenizers
    from tokenizers import models, pre_tokenizers

    words = {"<eos>": 0, "foo": 1, "bar": 2, "(": 3}
    raw = tokenizers.Tokenizer(models.WordLevel(words, unk_token="<eos>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    raw.add_special_tokens(["<eos>"])
    v = VocabIndex.from_tokenizer(raw)
    assert v.kind == "decode"
    assert [v.token_bytes(i) for i in range(4)] == [b"", b"foo", b"bar", b"("]
    assert v.eos_ids == {0}
    assert ids(v, C(cs("foo"), b"foo")) == {0, 3}


class _FakeSlow:
    """A tokenizer without a ``tokenizers`` backend (like transformers' Python ones)."""

    def __init__(self, pieces: list[str], byte_decoder: dict[str, int] | None, sp: bool) -> None:
        self.pieces = pieces
        if byte_decoder is not None:
            self.byte_decoder = byte_decoder
        if sp:
            self.sp_model = object()
        self.all_special_ids = [0]
        self.eos_token_id = 0
        self.added_tokens_decoder: dict[int, object] = {}

    def __len__(self) -> int:
        return len(self.pieces)

    def convert_ids_to_tokens(self, ids: list[int]) -> list[str]:
        return [self.pieces[i] for i in ids]

    def decode(self, ids: list[int], skip_special_tokens: bool = False) -> str:
        return "".join(self.pieces[i] for i in ids)


def test_slow_tokenizers() -> None:
    from monitors.vocab.reading import _BYTE_DECODER

    enc = {b: ch for ch, b in _BYTE_DECODER.items()}
    pieces = ["</s>", "".join(enc[b] for b in b" radius"), enc["ö".encode()[0]], "area"]
    v = VocabIndex.from_tokenizer(_FakeSlow(pieces, _BYTE_DECODER, sp=False))
    assert v.kind == "byte_level"
    assert [v.token_bytes(i) for i in range(4)] == [b"", b" radius", b"\xc3", b"area"]
    v = VocabIndex.from_tokenizer(_FakeSlow(["</s>", "▁get", "<0xE2>", "items"], None, sp=True))
    assert v.kind == "sentencepiece"
    assert [v.token_bytes(i) for i in range(4)] == [b"", b" get", b"\xe2", b"items"]
    v = VocabIndex.from_tokenizer(_FakeSlow(["</s>", "foo", "(", "bar"], None, sp=False))
    assert v.kind == "decode" and v.token_bytes(2) == b"("


def test_unusable_tokenizers() -> None:
    with pytest.raises(TokenizerError):
        VocabIndex.from_tokenizer(object())
    with pytest.raises(TokenizerError):
        VocabIndex.from_tokenizer(_FakeSlow(["</s>"], None, sp=False))


def test_exported_names() -> None:
    import monitors.vocab as mod

    assert sorted(mod.__all__) == ["IdsMemo", "TokenizerKind", "VocabIndex", "read_tokenizer"]


def test_no_torch_at_import() -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    code = (
        "import sys, monitors.vocab; "
        "bad = [m for m in ('torch', 'transformers', 'tokenizers') if m in sys.modules]; "
        "sys.exit(str(bad) if bad else 0)"
    )
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"}
    subprocess.run([sys.executable, "-c", code], cwd=root, env=env, check=True)
