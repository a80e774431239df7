"""Reading a tokenizer: the exact bytes of every token id, special ids, EOS.

Duck-typed over Hugging Face tokenizers (fast or slow) and raw
``tokenizers.Tokenizer`` objects; nothing here imports transformers. The kind of
tokenizer is read from its JSON (decoder, pre-tokenizer, normalizer):

* ``byte_level``: byte-level BPE; characters map through the GPT-2 byte table, so
  ids that are partial UTF-8 keep their exact bytes;
* ``sentencepiece``: ``▁`` (or the Metaspace replacement) is a space, kept on
  word-initial tokens; ``<0xNN>`` byte-fallback pieces are single bytes;
* ``decode``: anything else; each id is decoded alone.

Special and added-special tokens get no bytes (None); non-special added tokens
are their literal content.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from monitors.errors import TokenizerError

__all__ = ["TokenizerKind", "read_tokenizer"]

TokenizerKind = Literal["bytes", "byte_level", "sentencepiece", "decode"]

#: End-of-sequence tokens recognised on a raw ``tokenizers.Tokenizer`` (which has no
#: notion of EOS) when the caller does not say.
_KNOWN_EOS = frozenset(
    {
        "<|endoftext|>",
        "</s>",
        "<eos>",
        "<|end_of_text|>",
        "<|eot_id|>",
        "<|im_end|>",
        "<|end|>",
        "<|EOT|>",
    }
)
_BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def read_tokenizer(tokenizer: Any) -> tuple[list[bytes | None], set[int], set[int], TokenizerKind]:
    """``(bytes per id (None: special), special ids, default EOS ids, kind)``.

    Raises:
        TokenizerError: the object is not a tokenizer mgd can read.
    """
    backend = _backend_of(tokenizer)
    hf = None if backend is tokenizer else tokenizer
    if backend is not None:
        return _read_backend(backend, hf)
    if hf is not None and hasattr(hf, "convert_ids_to_tokens"):
        return _read_slow(hf)
    raise TokenizerError(f"cannot index {type(tokenizer).__name__}: not a tokenizer")


def _gpt2_unicode_to_bytes() -> dict[str, int]:
    """The GPT-2 byte-level table, inverted: printable character -> byte."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs, strict=True)}


_BYTE_DECODER = _gpt2_unicode_to_bytes()
_BYTE_TRANSLATE = {ord(ch): b for ch, b in _BYTE_DECODER.items()}
_BYTE_CHARS = frozenset(_BYTE_DECODER)


def _byte_level_bytes(token: str, table: dict[str, int] | None = None) -> bytes:
    """Bytes of a byte-level BPE token string; raw UTF-8 if a char is not in the table."""
    if table is None:
        if _BYTE_CHARS.issuperset(token):
            return token.translate(_BYTE_TRANSLATE).encode("latin-1")
        return token.encode("utf-8")
    try:
        return bytes(table[ch] for ch in token)
    except KeyError:
        return token.encode("utf-8")


def _backend_of(tokenizer: Any) -> Any:
    """The ``tokenizers.Tokenizer`` behind ``tokenizer`` (itself if raw), or None."""
    try:
        from tokenizers import Tokenizer
    except ImportError:  # pragma: no cover - tokenizers is part of the hf extra
        Tokenizer = None  # noqa: N806
    if Tokenizer is not None and isinstance(tokenizer, Tokenizer):
        return tokenizer
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        backend = getattr(tokenizer, "_tokenizer", None)
    if backend is not None and hasattr(backend, "to_str") and hasattr(backend, "id_to_token"):
        return backend
    return None


def _types(node: Any, key: str) -> list[dict[str, Any]]:
    """Flatten a decoder/pre-tokenizer/normalizer JSON node (Sequence -> children)."""
    if not isinstance(node, dict):
        return []
    if node.get("type") == "Sequence":
        out: list[dict[str, Any]] = []
        for child in node.get(key) or []:
            out.extend(_types(child, key))
        return out
    return [node]


def _detect_kind(j: dict[str, Any]) -> tuple[TokenizerKind, str]:
    """(kind, SentencePiece replacement char) from a tokenizer's JSON."""
    dec = _types(j.get("decoder"), "decoders")
    pre = _types(j.get("pre_tokenizer"), "pretokenizers")
    norm = _types(j.get("normalizer"), "normalizers")
    dec_t = {d.get("type") for d in dec}
    pre_t = {p.get("type") for p in pre}
    if "ByteLevel" in dec_t or (not dec and "ByteLevel" in pre_t):
        return "byte_level", ""
    for d in dec:
        if d.get("type") == "Metaspace":
            return "sentencepiece", d.get("replacement") or "▁"
    for d in dec:
        pat = d.get("pattern")
        if d.get("type") == "Replace" and isinstance(pat, dict) and d.get("content") == " ":
            s = pat.get("String")
            if isinstance(s, str) and len(s) == 1:
                return "sentencepiece", s
    if "ByteFallback" in dec_t:
        return "sentencepiece", "▁"
    if not dec:
        for p in pre:
            if p.get("type") == "Metaspace":
                return "sentencepiece", p.get("replacement") or "▁"
        for nn in norm:
            if nn.get("type") == "Replace" and nn.get("content") == "▁":
                return "sentencepiece", "▁"
    return "decode", ""


def _hf_special_and_eos(hf: Any) -> tuple[set[int], set[int], int]:
    """(special ids, eos ids, len) read from an HF tokenizer object."""
    special: set[int] = set()
    for i in getattr(hf, "all_special_ids", None) or []:
        if isinstance(i, int):
            special.add(i)
    added = getattr(hf, "added_tokens_decoder", None) or {}
    for i, tok in dict(added).items():
        if getattr(tok, "special", False):
            special.add(int(i))
    eos: set[int] = set()
    e = getattr(hf, "eos_token_id", None)
    if isinstance(e, int):
        eos.add(e)
    elif isinstance(e, (list, tuple)):
        eos.update(int(x) for x in e)
    try:
        n = len(hf)
    except TypeError:
        n = 0
    return special, eos, n


def _read_backend(
    backend: Any, hf: Any
) -> tuple[list[bytes | None], set[int], set[int], TokenizerKind]:
    try:
        j = json.loads(backend.to_str())
        vocab: dict[str, int] = backend.get_vocab(with_added_tokens=True)
    except Exception as exc:  # noqa: BLE001 - any failure means unusable
        raise TokenizerError(f"cannot read tokenizer: {exc}") from exc
    kind, repl = _detect_kind(j)
    model = j.get("model") or {}
    byte_fallback = bool(model.get("byte_fallback"))
    added = {int(a["id"]): a for a in j.get("added_tokens") or [] if "id" in a}
    special = {i for i, a in added.items() if a.get("special")}
    eos: set[int] = set()
    n_hf = 0
    if hf is not None:
        hf_special, eos, n_hf = _hf_special_and_eos(hf)
        special |= hf_special
    else:
        eos = {i for i in special if added[i].get("content") in _KNOWN_EOS} if added else set()
    unk = model.get("unk_token")
    if isinstance(unk, str) and unk in vocab:
        special.add(vocab[unk])
    size = max(
        n_hf,
        backend.get_vocab_size(with_added_tokens=True),
        max(vocab.values(), default=-1) + 1,
        max(added, default=-1) + 1,
    )
    names: list[str | None] = [None] * size
    for tok, i in vocab.items():
        if 0 <= i < size:
            names[i] = tok
    for i in range(size):
        if names[i] is None:
            names[i] = backend.id_to_token(i)
    tokens = _spell_tokens(
        names, special, added, kind, literal=lambda a, name: str(a.get("content", name)),
        byte_table=None, space=repl, byte_fallback=byte_fallback, decode=backend.decode,
    )
    return tokens, special, eos, kind


def _read_slow(hf: Any) -> tuple[list[bytes | None], set[int], set[int], TokenizerKind]:
    """A tokenizer without a ``tokenizers`` backend (pure-Python / sentencepiece)."""
    special, eos, n = _hf_special_and_eos(hf)
    added = getattr(hf, "added_tokens_decoder", None) or {}
    size = max([n, *(int(i) + 1 for i in added)], default=0)
    if size <= 0:
        raise TokenizerError(f"cannot index {type(hf).__name__}: empty vocabulary")
    try:
        names = list(hf.convert_ids_to_tokens(list(range(size))))
    except Exception as exc:  # noqa: BLE001
        raise TokenizerError(f"cannot read tokens: {exc}") from exc
    byte_decoder = getattr(hf, "byte_decoder", None)
    sp = getattr(hf, "sp_model", None)
    kind: TokenizerKind
    if isinstance(byte_decoder, dict) and byte_decoder:
        kind = "byte_level"
    elif sp is not None:
        kind = "sentencepiece"
    else:
        kind = "decode"
    tokens = _spell_tokens(
        names, special, added, kind, literal=lambda a, name: str(getattr(a, "content", name)),
        byte_table=byte_decoder, space="▁", byte_fallback=True, decode=hf.decode,
    )
    return tokens, special, eos, kind


def _spell_tokens(
    names: Sequence[str | None],
    special: set[int],
    added: Mapping[int, Any],
    kind: TokenizerKind,
    *,
    literal: Callable[[Any, str], str],
    byte_table: dict[str, int] | None,
    space: str,
    byte_fallback: bool,
    decode: Callable[..., str],
) -> list[bytes | None]:
    """The bytes of every token name: None for special ids, an added token's ``literal``
    content, else spelt by ``kind`` (``space``: the sentencepiece space mark)."""
    tokens: list[bytes | None] = []
    for i, name in enumerate(names):
        if name is None or i in special:
            tokens.append(None)
        elif i in added:
            tokens.append(literal(added[i], name).encode("utf-8"))
        elif kind == "byte_level":
            tokens.append(_byte_level_bytes(name, byte_table))
        elif kind == "sentencepiece":
            m = _BYTE_PIECE.fullmatch(name) if byte_fallback else None
            tokens.append(bytes([int(m.group(1), 16)]) if m else name.replace(space, " ").encode())
        else:
            try:
                tokens.append(decode([i], skip_special_tokens=False).encode("utf-8"))
            except Exception as exc:  # noqa: BLE001
                raise TokenizerError(f"cannot decode token {i}: {exc}") from exc
    return tokens
