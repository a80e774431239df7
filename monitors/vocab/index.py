"""The vocabulary index: exact bytes of every token id and the one masking rule.

One :class:`VocabIndex` is built per tokenizer and shared, read-only, by every
request and every engine (HF logits processor, vLLM processors, speculative
decoding, token healing). It answers "which ids may come next" for an
:class:`~monitors.base.IdentifierConstraint` as sorted id arrays, boolean masks or
int32 bitmasks in the ``(ceil(V/32),)`` word layout that vLLM/XGrammar kernels
apply.

Identifier bytes (the same for every language): ASCII letters, digits, ``_``,
``$`` and every byte >= 0x80 (parts of non-ASCII characters). Any other byte is a
*break* byte.

The masking rule, for ``IdentifierConstraint(candidates, typed)``. Let *live* be the
candidates that start with ``typed`` and, for each, ``s = cand[len(typed):]``.
A token is allowed when

(a) its bytes are a non-empty prefix of some ``s`` and are all identifier bytes
    (so every segmentation of a multi-token identifier is reachable), or
(b) its leading identifier run equals some ``s`` exactly and at least one break
    byte follows (``area()``, ``radius)``); for ``s == b""`` (``typed`` is a
    complete candidate) these are the tokens that start with a break byte, or
(c) it is an end-of-sequence id and ``typed`` is a complete candidate.

Special ids (EOS included) carry no bytes and are never allowed otherwise. Ids that
share the same bytes are all allowed together. When no candidate is live the
result is empty: the caller decides the fallback (it must never apply a fully
masked row). Ids at or above :attr:`VocabIndex.size` (padding of the logits row)
are never allowed.

Cost: the index precomputes, per tokenizer, a dictionary of every prefix of every
pure-identifier token, a dictionary from leading identifier run to the tokens that
continue with a break byte, the sorted ids that start with a break byte, and the
vocabulary in byte order. A constraint then costs, per live candidate, one
look-up for (b) and at most ``len(s)`` look-ups for (a) (stopping at the first
prefix no token has); nothing loops over the vocabulary. Results are kept in a
bounded LRU keyed by the constraint.

This module imports numpy only; ``tokenizers``/``transformers`` objects are read
duck-typed and torch is imported lazily by :meth:`VocabIndex.mask_tensor`.
"""

from __future__ import annotations

import json
import re
import threading
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from monitors.base import ExcludeConstraint, IdentifierConstraint, PrefixConstraint, SpacedConstraint
from monitors.errors import TokenizerError

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = [
    "IDENT_BYTES",
    "TokenizerKind",
    "VocabIndex",
    "ident_run_length",
    "is_ident_byte",
]

TokenizerKind = Literal["bytes", "byte_level", "sentencepiece", "decode"]
Constraint = IdentifierConstraint | PrefixConstraint | SpacedConstraint | ExcludeConstraint

#: Every byte that can be part of an identifier.
IDENT_BYTES: bytes = bytes(
    sorted(
        set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_$")
        | set(range(0x80, 0x100))
    )
)
_IDENT_SET = frozenset(IDENT_BYTES)

_EMPTY_IDS = np.zeros(0, dtype=np.int32)
_EMPTY_IDS.flags.writeable = False
_IDS = -1  # key of a trie node's token ids (children are keyed by byte 0..255)

# Result cache bounds (per index). Entries are small: the large part of a
# "typed is complete" answer (every break-starting token) is shared, not copied.
_CACHE_ENTRIES = 4096
_CACHE_BYTES = 64 << 20

# End-of-sequence tokens recognised on a raw ``tokenizers.Tokenizer`` (which has no
# notion of EOS) when the caller does not say.
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
# ExcludeConstraint: the first top-level structural byte of a token, and ``[ws] ident [ws] =`` (not ``==``).
_STRUCTURAL = re.compile(rb"[()\[\]{},;\"'`#]")
_ASSIGN = re.compile(rb"([ \t]*)([A-Za-z0-9_$\x80-\xff]*)([ \t]*)=(?!=)")
# SpacedConstraint: a space followed by a byte that can start an identifier (not a digit).
_SPACE_WORD = re.compile(rb" [A-Za-z_$\x80-\xff]")
_WORD_START = re.compile(rb"[A-Za-z_$\x80-\xff]")


def is_ident_byte(byte: int) -> bool:
    """Whether ``byte`` (0..255) can be part of an identifier."""
    return byte in _IDENT_SET


def ident_run_length(data: bytes) -> int:
    """Length of the leading run of identifier bytes of ``data``."""
    return len(data) - len(data.lstrip(IDENT_BYTES))


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


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


class VocabIndex:
    """An immutable index of one tokenizer's vocabulary, shared by all requests.

    Build it with :meth:`from_tokenizer` (HF tokenizers, raw ``tokenizers.Tokenizer``)
    or :meth:`from_token_bytes` (explicit bytes, for tests). Arrays it returns are
    read-only views of cached data unless documented as fresh.
    """

    size: int
    eos_ids: frozenset[int]
    special_ids: frozenset[int]
    max_token_bytes: int
    kind: TokenizerKind

    def __init__(
        self,
        tokens: Sequence[bytes | None],
        *,
        eos_ids: Iterable[int] = (),
        special_ids: Iterable[int] = (),
        kind: TokenizerKind = "bytes",
    ) -> None:
        """Prefer the ``from_*`` constructors; arguments as in :meth:`from_token_bytes`."""
        size = len(tokens)
        if size == 0:
            raise TokenizerError("empty vocabulary")
        eos = frozenset(int(i) for i in eos_ids)
        special = set(int(i) for i in special_ids) | eos
        for i in special:
            if not 0 <= i < size:
                raise TokenizerError(f"special/eos id {i} outside the vocabulary (size {size})")
        table: list[bytes] = []
        for i, tok in enumerate(tokens):
            if tok is None:
                special.add(i)
                table.append(b"")
            elif i in special:
                table.append(b"")
            elif isinstance(tok, (bytes, bytearray, memoryview)):
                table.append(bytes(tok))
            else:
                raise TypeError(f"token {i}: expected bytes or None, got {type(tok).__name__}")
        self.size = size
        self.eos_ids = eos
        self.special_ids = frozenset(special)
        self.kind = kind
        self._bytes: tuple[bytes, ...] = tuple(table)
        self.max_token_bytes = max(map(len, table))
        self._build_tables()
        self._rule_tables: _RuleTables | None = None
        self._cache: OrderedDict[Constraint, tuple[np.ndarray, bool]] = OrderedDict()
        self._cache_nbytes = 0
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    # ------------------------------------------------------------------ building

    def _build_tables(self) -> None:
        # Trie of pure-identifier tokens: node = {byte: child, ..., _IDS: (ids...)}.
        trie: dict[int, Any] = {}
        lead: dict[bytes, list[int]] = {}
        by_bytes: dict[bytes, list[int]] = {}
        break_start: list[int] = []
        strip = IDENT_BYTES
        for i, b in enumerate(self._bytes):
            if not b:
                continue
            by_bytes.setdefault(b, []).append(i)
            run = len(b) - len(b.lstrip(strip))
            if run == len(b):
                node = trie
                for x in b:
                    child = node.get(x)
                    if child is None:
                        child = node[x] = {}
                    node = child
                node[_IDS] = node.get(_IDS, ()) + (i,)
            elif run:
                lead.setdefault(b[:run], []).append(i)
            else:
                break_start.append(i)
        self._trie = trie
        self._lead: dict[bytes, tuple[int, ...]] = {k: tuple(v) for k, v in lead.items()}
        self._by_bytes: dict[bytes, tuple[int, ...]] = {k: tuple(v) for k, v in by_bytes.items()}
        self._break_start = _readonly(np.asarray(break_start, dtype=np.int32))
        eos = np.asarray(sorted(self.eos_ids), dtype=np.int32)
        # Ids allowed by (b) with s == b"" and by (c): disjoint sets (EOS is special).
        self._complete_ids = _readonly(np.sort(np.concatenate([self._break_start, eos])))
        complete_mask = np.zeros(self.size, dtype=bool)
        complete_mask[self._complete_ids] = True
        self._complete_mask = _readonly(complete_mask)
        order = sorted(by_bytes)
        self._sorted_bytes: list[bytes] = order
        # For equal bytes, the ids of the group, in id order.
        starts = [0]
        flat: list[int] = []
        for key in order:
            flat.extend(by_bytes[key])
            starts.append(len(flat))
        self._sorted_ids = _readonly(np.asarray(flat, dtype=np.int32))
        self._sorted_starts = starts

    @classmethod
    def from_token_bytes(
        cls,
        tokens: Sequence[bytes | None],
        *,
        eos_ids: Iterable[int] = (),
        special_ids: Iterable[int] = (),
    ) -> VocabIndex:
        """An index over explicit token bytes: ``tokens[i]`` is id ``i``, None = special.

        EOS ids are special too (their bytes, if given, are ignored).
        """
        return cls(tokens, eos_ids=eos_ids, special_ids=special_ids, kind="bytes")

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, *, eos_ids: Iterable[int] | None = None) -> VocabIndex:
        """Index an HF tokenizer (fast or slow) or a raw ``tokenizers.Tokenizer``.

        The kind is read from the backend's decoder/pre-tokenizer/model JSON:
        byte-level BPE maps characters through the GPT-2 byte table (partial UTF-8
        ids keep their exact bytes); SentencePiece-style (Metaspace or a
        ``▁``-replacing decoder, optional ``<0xNN>`` byte fallback) maps ``▁`` to a
        space, keeping it on word-initial tokens; anything else decodes each id
        alone. Special/added-special tokens get no bytes; non-special added tokens
        are their literal content. ``eos_ids`` defaults to the HF tokenizer's EOS
        (or, for a raw tokenizer, well-known EOS names among its special tokens).

        Raises:
            TokenizerError: the object is not a tokenizer mgd can index.
        """
        backend = _backend_of(tokenizer)
        hf = None if backend is tokenizer else tokenizer
        if backend is not None:
            tokens, special, eos_default, kind = _read_backend(backend, hf)
        elif hf is not None and hasattr(hf, "convert_ids_to_tokens"):
            tokens, special, eos_default, kind = _read_slow(hf)
        else:
            raise TokenizerError(f"cannot index {type(tokenizer).__name__}: not a tokenizer")
        eos = set(eos_default if eos_ids is None else eos_ids)
        size = len(tokens)
        bad = [i for i in eos if not 0 <= i < size]
        if bad:
            raise TokenizerError(f"eos ids {bad} outside the vocabulary (size {size})")
        if all(t is None or i in eos for i, t in enumerate(tokens)):
            raise TokenizerError("tokenizer has no ordinary tokens")
        return cls(tokens, eos_ids=eos, special_ids=special, kind=kind)

    # ------------------------------------------------------------------ queries

    def token_bytes(self, token_id: int) -> bytes:
        """Exact bytes of ``token_id`` (b"" for special ids)."""
        if not 0 <= token_id < self.size:
            raise IndexError(f"token id {token_id} outside the vocabulary (size {self.size})")
        return self._bytes[token_id]

    def _parts(self, c: Constraint, cache: bool) -> tuple[np.ndarray, bool]:
        """(sorted ids from rules (a)+(b) for non-empty suffixes, typed-is-complete)."""
        if cache:
            with self._lock:
                hit = self._cache.get(c)
                if hit is not None:
                    self._cache.move_to_end(c)
                    self._hits += 1
                    return hit
        parts = self._compute(c)
        if cache:
            with self._lock:
                self._misses += 1
                if c not in self._cache:
                    self._cache[c] = parts
                    self._cache_nbytes += parts[0].nbytes
                    while self._cache and (
                        len(self._cache) > _CACHE_ENTRIES or self._cache_nbytes > _CACHE_BYTES
                    ):
                        _, old = self._cache.popitem(last=False)
                        self._cache_nbytes -= old[0].nbytes
        return parts

    def _compute(self, c: Constraint) -> tuple[np.ndarray, bool]:
        if isinstance(c, PrefixConstraint):
            return self._compute_prefix(c), False
        if isinstance(c, SpacedConstraint):
            return self._compute_spaced(c), False
        if isinstance(c, ExcludeConstraint):
            return self._compute_exclude(c), False
        typed = c.typed
        n = len(typed)
        root = self._trie
        lead_get = self._lead.get
        acc: list[int] = []
        complete = False
        for cand in c.candidates:
            if n:
                if not cand.startswith(typed):
                    continue
                s = cand[n:]
            else:
                s = cand
            if not s:
                complete = True
                continue
            t = lead_get(s)  # rule (b)
            if t:
                acc += t
            node = root  # rule (a): walk s down the trie of pure-identifier tokens
            for x in s:
                node = node.get(x)
                if node is None:
                    break
                t = node.get(_IDS)
                if t:
                    acc += t
        if not acc:
            return _EMPTY_IDS, complete
        ids = np.asarray(acc, dtype=np.int32)
        if len(ids) > 1:
            ids.sort()
            ids = ids[np.concatenate(([True], ids[1:] != ids[:-1]))]
        return _readonly(ids), complete

    def _compute_prefix(self, c: PrefixConstraint) -> np.ndarray:
        """Token healing: ids spelling ``required`` first (see :class:`PrefixConstraint`).

        Tokens extending ``required`` are one sorted range (binary search); with
        ``then`` their tails are checked against the identifier rule (a set
        look-up each). Tokens that are prefixes of it: at most ``len(required)``
        dictionary look-ups.
        """
        ids = _EMPTY_IDS
        for req in sorted({c.required, *c.alternatives}):
            longer = self.ids_with_prefix(req)
            if c.then is not None and len(longer):
                ok = _tail_rule(c.then)
                n = len(req)
                tb = self._bytes
                longer = longer[np.fromiter((ok(tb[i][n:]) for i in longer.tolist()), bool, len(longer))]
            ids = np.union1d(ids, np.union1d(longer, self.ids_prefix_of(req)))
        return _readonly(ids.astype(np.int32, copy=False))

    def _rules(self) -> _RuleTables:
        """Tables for :class:`SpacedConstraint`/:class:`ExcludeConstraint` (built on first use)."""
        tables = self._rule_tables
        if tables is None:
            tables = _RuleTables.build(self._bytes, self.eos_ids)
            self._rule_tables = tables
        return tables

    def _compute_spaced(self, c: SpacedConstraint) -> np.ndarray:
        """Tokens not starting with space+word, plus those spelling `` `` then ``c.then``."""
        rules = self._rules()
        if c.then is None and not c.spaced:
            return rules.word_start
        if c.then is None:
            spelled = rules.space_word
        else:
            spelled = self._compute_prefix(PrefixConstraint(b" ", c.then))
        banned = rules.space_other if c.strict else rules.space_word
        free = np.setdiff1d(rules.all_ids, banned, assume_unique=True)
        return _readonly(np.union1d(free, spelled).astype(np.int32, copy=False))

    def _compute_exclude(self, c: ExcludeConstraint) -> np.ndarray:
        """Every id (EOS included) except the ones ``c`` forbids (see :class:`ExcludeConstraint`)."""
        rules = self._rules()
        banned: list[np.ndarray] = [rules.first_structural[b] for b in c.stops if b in rules.first_structural]
        if c.names is not None:
            names, typed, spaced = c.names, c.typed, c.spaced
            bad: list[int] = []
            for i, lead, run, _mid in rules.assign:
                if spaced:
                    if not run and typed not in names:
                        bad.append(i)  # "x  =" / "x =" with x typed already
                elif typed:
                    if lead:
                        if not run and typed not in names:
                            bad.append(i)
                    elif typed + run not in names:
                        bad.append(i)
                elif run and run not in names:
                    bad.append(i)
            if bad:
                banned.append(np.asarray(bad, dtype=np.int32))
        if not banned:
            return rules.all_ids
        out = np.setdiff1d(rules.all_ids, np.concatenate(banned))
        return _readonly(out.astype(np.int32, copy=False))

    def has_strict_extension(self, data: bytes) -> bool:
        """Whether some token's bytes start with ``data`` and are longer (binary search)."""
        keys = self._sorted_bytes
        lo = bisect_left(keys, data)
        if lo < len(keys) and keys[lo] == data:
            lo += 1
        return lo < len(keys) and keys[lo].startswith(data)

    def allowed_ids(self, c: Constraint, *, cache: bool = True) -> np.ndarray:
        """Sorted unique int32 ids the rule allows next (possibly empty; read-only).

        ``cache=False`` recomputes without touching the LRU (for benchmarks).
        """
        ids, complete = self._parts(c, cache)
        if not complete:
            return ids
        base = self._complete_ids
        if not len(ids):
            return base
        # Disjoint sorted sets: a linear merge.
        return _readonly(np.insert(base, np.searchsorted(base, ids), ids))

    def _width(self, width: int | None) -> int:
        if width is None:
            return self.size
        if width < self.size:
            raise ValueError(f"width {width} is smaller than the vocabulary ({self.size})")
        return int(width)

    def mask(
        self, c: Constraint, width: int | None = None, *, cache: bool = True
    ) -> np.ndarray:
        """A fresh bool array of ``width`` (default :attr:`size`): True = allowed.

        Ids >= :attr:`size` (padding of the logits row) are False.
        """
        w = self._width(width)
        ids, complete = self._parts(c, cache)
        if complete:
            m = np.empty(w, dtype=bool)
            m[: self.size] = self._complete_mask
            m[self.size :] = False
        else:
            m = np.zeros(w, dtype=bool)
        m[ids] = True
        return m

    def bitmask(
        self, c: Constraint, width: int | None = None, *, cache: bool = True
    ) -> np.ndarray:
        """A fresh int32 array of ``ceil(width / 32)`` words; bit ``i % 32`` of word
        ``i // 32`` is set when id ``i`` is allowed (the vLLM/XGrammar layout)."""
        w = self._width(width)
        words = (w + 31) // 32
        ids, complete = self._parts(c, cache)
        m = np.zeros(words * 32, dtype=bool)
        if complete:
            m[: self.size] = self._complete_mask
        m[ids] = True
        return np.packbits(m, bitorder="little").view("<i4").astype(np.int32, copy=False)

    def mask_tensor(
        self, c: Constraint, width: int | None = None, *, cache: bool = True
    ) -> torch.Tensor:
        """:meth:`mask` as a CPU ``torch.bool`` tensor (shares memory; imports torch)."""
        import torch

        return torch.from_numpy(self.mask(c, width, cache=cache))

    def ids_with_prefix(self, data: bytes) -> np.ndarray:
        """Sorted int32 ids whose bytes start with ``data`` (all non-special for b"")."""
        keys = self._sorted_bytes
        lo = bisect_left(keys, data)
        top = data.rstrip(b"\xff")
        if top:
            hi = bisect_left(keys, top[:-1] + bytes([top[-1] + 1]), lo)
        else:
            hi = len(keys)
        if lo >= hi:
            return _EMPTY_IDS
        starts = self._sorted_starts
        return np.sort(self._sorted_ids[starts[lo] : starts[hi]])

    def ids_prefix_of(self, data: bytes) -> np.ndarray:
        """Sorted int32 ids whose bytes are a non-empty prefix of ``data``."""
        get = self._by_bytes.get
        acc: list[int] = []
        for k in range(1, min(len(data), self.max_token_bytes) + 1):
            t = get(data[:k])
            if t:
                acc += t
        if not acc:
            return _EMPTY_IDS
        return np.sort(np.asarray(acc, dtype=np.int32))

    def ids_of_bytes(self, data: bytes) -> tuple[int, ...]:
        """Every id whose bytes are exactly ``data`` (ascending)."""
        return self._by_bytes.get(data, ())

    # ------------------------------------------------------------------ misc

    def cache_clear(self) -> None:
        with self._lock:
            self._cache.clear()
            self._cache_nbytes = 0
            self._hits = self._misses = 0

    def cache_info(self) -> dict[str, int]:
        with self._lock:
            return {
                "entries": len(self._cache),
                "nbytes": self._cache_nbytes,
                "hits": self._hits,
                "misses": self._misses,
            }

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return (
            f"VocabIndex(size={self.size}, kind={self.kind!r}, "
            f"special={len(self.special_ids)}, eos={sorted(self.eos_ids)})"
        )


class _RuleTables:
    """Per-vocabulary tables of the "everything except" rules (built once, read-only).

    ``all_ids``: every non-special id plus EOS. ``space_word``: ids whose bytes
    start with a space and an identifier-start byte; ``space_other``: with a space and
    then any non-space byte; ``word_start``: ids starting with a word byte. ``first_structural``: for each
    structural byte, the ids whose first top-level structural byte it is. ``assign``: ids
    spelling ``[ws] ident [ws] =`` (not ``==``) as ``(id, lead ws, ident, mid ws)``.
    """

    __slots__ = ("all_ids", "assign", "first_structural", "space_other", "space_word", "word_start")

    def __init__(
        self,
        all_ids: np.ndarray,
        space_word: np.ndarray,
        space_other: np.ndarray,
        word_start: np.ndarray,
        first_structural: dict[int, np.ndarray],
        assign: tuple[tuple[int, bytes, bytes, bytes], ...],
    ) -> None:
        self.all_ids = all_ids
        self.space_word = space_word
        self.space_other = space_other
        self.word_start = word_start
        self.first_structural = first_structural
        self.assign = assign

    @classmethod
    def build(cls, table: Sequence[bytes], eos: frozenset[int]) -> _RuleTables:
        ordinary: list[int] = []
        space_word: list[int] = []
        space_other: list[int] = []
        word_start: list[int] = []
        first: dict[int, list[int]] = {}
        assign: list[tuple[int, bytes, bytes, bytes]] = []
        for i, b in enumerate(table):
            if not b:
                continue
            ordinary.append(i)
            if _SPACE_WORD.match(b):
                space_word.append(i)
            if b[:1] == b" " and b.strip(b" "):
                space_other.append(i)
            if _WORD_START.match(b):
                word_start.append(i)
            event = _first_top_level_event(b)
            if event is not None:
                first.setdefault(event, []).append(i)
            if b"=" in b:
                a = _ASSIGN.match(b)
                if a is not None:
                    assign.append((i, a.group(1), a.group(2), a.group(3)))
        all_ids = np.asarray(sorted(set(ordinary) | set(eos)), dtype=np.int32)
        return cls(
            _readonly(all_ids),
            _readonly(np.asarray(space_word, dtype=np.int32)),
            _readonly(np.asarray(space_other, dtype=np.int32)),
            _readonly(np.asarray(word_start, dtype=np.int32)),
            {k: _readonly(np.asarray(v, dtype=np.int32)) for k, v in first.items()},
            tuple(assign),
        )


_OPENERS = frozenset(b"([{")
_CLOSERS = frozenset(b")]}")
_SEPARATORS = frozenset(b",;")


def _first_top_level_event(token: bytes) -> int | None:
    """The first structural byte of ``token`` at the nesting level the token starts in.

    Brackets the token opens and closes itself are skipped (``(),`` -> ``,``;
    ``()`` -> None); a closer, ``,`` or ``;`` at that level, or a quote/``#``
    there, is the event. A quote inside a bracket the token opened ends the scan
    (what follows is string text): no event.
    """
    depth = 0
    for m in _STRUCTURAL.finditer(token):
        byte = token[m.start()]
        if byte in _OPENERS:
            depth += 1
        elif byte in _CLOSERS:
            if depth == 0:
                return byte
            depth -= 1
        elif byte in _SEPARATORS:
            if depth == 0:
                return byte
        else:  # a quote, backtick or '#'
            return byte if depth == 0 else None
    return None


def _tail_rule(c: IdentifierConstraint):  # -> Callable[[bytes], bool]
    """The identifier rule of :class:`IdentifierConstraint` for a token's tail bytes.

    Used by :class:`PrefixConstraint` with ``then``: the part of a token past the
    healed text must be allowed as a token would be; an empty tail always is.
    """
    typed = c.typed
    live = {cand[len(typed) :] for cand in c.candidates if cand.startswith(typed)}
    prefixes = {s[:k] for s in live for k in range(1, len(s) + 1)}

    def ok(tail: bytes) -> bool:
        if not tail:
            return True
        run = len(tail) - len(tail.lstrip(IDENT_BYTES))
        if run == len(tail):
            return tail in prefixes
        return tail[:run] in live

    return ok


# ---------------------------------------------------------------------- readers


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
    tokens: list[bytes | None] = []
    for i, name in enumerate(names):
        if name is None or i in special:
            tokens.append(None)
        elif i in added:
            tokens.append(str(added[i].get("content", name)).encode("utf-8"))
        elif kind == "byte_level":
            tokens.append(_byte_level_bytes(name))
        elif kind == "sentencepiece":
            m = _BYTE_PIECE.fullmatch(name) if byte_fallback else None
            tokens.append(bytes([int(m.group(1), 16)]) if m else name.replace(repl, " ").encode())
        else:
            try:
                tokens.append(backend.decode([i], skip_special_tokens=False).encode("utf-8"))
            except Exception as exc:  # noqa: BLE001
                raise TokenizerError(f"cannot decode token {i}: {exc}") from exc
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
    tokens: list[bytes | None] = []
    for i, name in enumerate(names):
        if name is None or i in special:
            tokens.append(None)
        elif i in added:
            tokens.append(str(getattr(added[i], "content", name)).encode("utf-8"))
        elif kind == "byte_level":
            tokens.append(_byte_level_bytes(name, byte_decoder))
        elif kind == "sentencepiece":
            m = _BYTE_PIECE.fullmatch(name)
            tokens.append(bytes([int(m.group(1), 16)]) if m else name.replace("▁", " ").encode())
        else:
            try:
                tokens.append(hf.decode([i], skip_special_tokens=False).encode("utf-8"))
            except Exception as exc:  # noqa: BLE001
                raise TokenizerError(f"cannot decode token {i}: {exc}") from exc
    return tokens, special, eos, kind
