"""The vocabulary index: exact bytes of every token id and the one masking rule.

One :class:`VocabIndex` is built per tokenizer and shared, read-only, by every
request and every engine (HF logits processor, vLLM processors, speculative
decoding, token healing). It answers "which ids may come next" for a
:data:`~monitors.base.Constraint` as sorted id arrays (what engines apply, through
``mgd.engines.masking``), or exports it as a boolean mask or an int32 bitmask in
the ``(ceil(V/32),)`` word layout that vLLM/XGrammar kernels apply.

Identifier bytes: :mod:`monitors.identifiers` (ASCII letters, digits, ``_``, ``$``
and every byte >= 0x80). Any other byte is a *break* byte.

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
are never allowed. The other constraint types: :mod:`monitors.vocab.rules`.

Cost: the index precomputes, per tokenizer, a dictionary of every prefix of every
pure-identifier token, a dictionary from leading identifier run to the tokens that
continue with a break byte, the sorted ids that start with a break byte, and the
vocabulary in byte order. A constraint then costs, per live candidate, one
look-up for (b) and at most ``len(s)`` look-ups for (a) (stopping at the first
prefix no token has); nothing loops over the vocabulary. The index is immutable
once built (no lock, no cache inside): callers pass an :class:`~monitors.vocab.memo.IdsMemo`
(``memo=``) to keep answers; without one every call computes afresh. The tables of
the "everything except" rules are built on first use (:meth:`VocabIndex.rule_tables`):
a deterministic function of the immutable bytes, published by one attribute store, so
two threads at worst both build it and keep equal tables; no lock is needed.

Imports numpy only; tokenizers are read duck-typed (:mod:`monitors.vocab.reading`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from monitors.base import Constraint
from monitors.errors import TokenizerError
from monitors.identifiers import IDENT_BYTES
from monitors.vocab.memo import IdsMemo
from monitors.vocab.reading import TokenizerKind, read_tokenizer
from monitors.vocab.rules import EMPTY_IDS, TRIE_IDS, RuleTables, constraint_ids, readonly

__all__ = ["VocabIndex"]


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
        self._rule_tables: RuleTables | None = None

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
                node[TRIE_IDS] = node.get(TRIE_IDS, ()) + (i,)
            elif run:
                lead.setdefault(b[:run], []).append(i)
            else:
                break_start.append(i)
        self._trie = trie
        self._lead: dict[bytes, tuple[int, ...]] = {k: tuple(v) for k, v in lead.items()}
        self._by_bytes: dict[bytes, tuple[int, ...]] = {k: tuple(v) for k, v in by_bytes.items()}
        self._break_start = readonly(np.asarray(break_start, dtype=np.int32))
        eos = np.asarray(sorted(self.eos_ids), dtype=np.int32)
        # Ids allowed by (b) with s == b"" and by (c): disjoint sets (EOS is special).
        self._complete_ids = readonly(np.sort(np.concatenate([self._break_start, eos])))
        complete_mask = np.zeros(self.size, dtype=bool)
        complete_mask[self._complete_ids] = True
        self._complete_mask = readonly(complete_mask)
        order = sorted(by_bytes)
        self._sorted_bytes: list[bytes] = order
        # For equal bytes, the ids of the group, in id order.
        starts = [0]
        flat: list[int] = []
        for key in order:
            flat.extend(by_bytes[key])
            starts.append(len(flat))
        self._sorted_ids = readonly(np.asarray(flat, dtype=np.int32))
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
        tokens, special, eos_default, kind = read_tokenizer(tokenizer)
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

    def _parts(self, c: Constraint, memo: IdsMemo | None) -> tuple[np.ndarray, bool]:
        """(sorted ids from rules (a)+(b) for non-empty suffixes, typed-is-complete)."""
        if memo is None or getattr(c, "stop", None) is not None:  # a stop guard is per step: not kept
            return constraint_ids(self, c, memo)
        hit = memo.get(c)
        if hit is not None:
            return hit
        parts = constraint_ids(self, c, memo)
        memo.put(c, parts)
        return parts

    def rule_tables(self) -> RuleTables:
        """Tables of the "everything except" rules (built on first use, then shared;
        safe without a lock, see the module docstring)."""
        tables = self._rule_tables
        if tables is None:
            tables = RuleTables.build(self._bytes, self.eos_ids)
            self._rule_tables = tables
        return tables

    def has_strict_extension(self, data: bytes) -> bool:
        """Whether some token's bytes start with ``data`` and are longer (binary search)."""
        keys = self._sorted_bytes
        lo = bisect_left(keys, data)
        if lo < len(keys) and keys[lo] == data:
            lo += 1
        return lo < len(keys) and keys[lo].startswith(data)

    def allowed_ids(self, c: Constraint, *, memo: IdsMemo | None = None) -> np.ndarray:
        """Sorted unique int32 ids the rule allows next (possibly empty; read-only).

        ``memo``: where answers are kept and looked up (None: computed afresh).
        """
        ids, complete = self._parts(c, memo)
        if not complete:
            return ids
        base = self._complete_ids
        if not len(ids):
            return base
        # Disjoint sorted sets: a linear merge.
        return readonly(np.insert(base, np.searchsorted(base, ids), ids))

    def _width(self, width: int | None) -> int:
        if width is None:
            return self.size
        if width < self.size:
            raise ValueError(f"width {width} is smaller than the vocabulary ({self.size})")
        return int(width)

    def mask(
        self, c: Constraint, width: int | None = None, *, memo: IdsMemo | None = None
    ) -> np.ndarray:
        """A fresh bool array of ``width`` (default :attr:`size`): True = allowed.

        Ids >= :attr:`size` (padding of the logits row) are False.
        """
        w = self._width(width)
        ids, complete = self._parts(c, memo)
        if complete:
            m = np.empty(w, dtype=bool)
            m[: self.size] = self._complete_mask
            m[self.size :] = False
        else:
            m = np.zeros(w, dtype=bool)
        m[ids] = True
        return m

    def bitmask(
        self, c: Constraint, width: int | None = None, *, memo: IdsMemo | None = None
    ) -> np.ndarray:
        """A fresh int32 array of ``ceil(width / 32)`` words; bit ``i % 32`` of word
        ``i // 32`` is set when id ``i`` is allowed (the vLLM/XGrammar layout)."""
        w = self._width(width)
        out = np.empty((w + 31) // 32, dtype=np.int32)
        ids, complete = self._parts(c, memo)
        m = np.zeros(out.size * 32, dtype=bool)
        if complete:
            m[: self.size] = self._complete_mask
        m[ids] = True
        out[:] = np.packbits(m, bitorder="little").view("<i4")
        return out

    @staticmethod
    def fill_bitmask(ids: np.ndarray, out: np.ndarray) -> None:
        """Write sorted ``ids`` into ``out``, one int32 row of words in the layout of
        :meth:`bitmask` (an engine's preallocated buffer); ids past its width are dropped."""
        bits = np.zeros(out.shape[-1] * 32, dtype=bool)
        if ids.size and int(ids[-1]) >= bits.size:
            ids = ids[ids < bits.size]
        bits[ids] = True
        out[...] = np.packbits(bits, bitorder="little").view("<i4")

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
            return EMPTY_IDS
        starts = self._sorted_starts
        return np.sort(self._sorted_ids[starts[lo] : starts[hi]])

    def ids_containing(self, needles: tuple[bytes, ...], *, memo: IdsMemo | None = None) -> np.ndarray:
        """Sorted int32 ids whose bytes contain one of ``needles`` (a scan, kept in
        ``memo`` per ``needles``: a generation's stop texts)."""
        hit = memo.get_containing(needles) if memo is not None else None
        if hit is not None:
            return hit
        found = [i for i, b in enumerate(self._bytes) if b and any(n in b for n in needles)]
        ids = readonly(np.asarray(found, dtype=np.int32)) if found else EMPTY_IDS
        if memo is not None:
            memo.put_containing(needles, ids)
        return ids

    def ids_prefix_of(self, data: bytes) -> np.ndarray:
        """Sorted int32 ids whose bytes are a non-empty prefix of ``data``."""
        get = self._by_bytes.get
        acc: list[int] = []
        for k in range(1, min(len(data), self.max_token_bytes) + 1):
            t = get(data[:k])
            if t:
                acc += t
        if not acc:
            return EMPTY_IDS
        return np.sort(np.asarray(acc, dtype=np.int32))

    def ids_of_bytes(self, data: bytes) -> tuple[int, ...]:
        """Every id whose bytes are exactly ``data`` (ascending)."""
        return self._by_bytes.get(data, ())

    # ------------------------------------------------------------------ misc

    def __len__(self) -> int:
        return self.size

    def __repr__(self) -> str:
        return (
            f"VocabIndex(size={self.size}, kind={self.kind!r}, "
            f"special={len(self.special_ids)}, eos={sorted(self.eos_ids)})"
        )
