"""The constraint rules: which token ids each :data:`~monitors.base.Constraint` allows.

One function per constraint type, over the tables of a
:class:`~monitors.vocab.index.VocabIndex` (see its docstring for the identifier
rule). Pure numpy; nothing loops over the vocabulary per call except the
one-time :class:`RuleTables` build for the "everything except" rules.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from monitors.base import (
    Constraint,
    DefinitionConstraint,
    ExcludeConstraint,
    IdentifierConstraint,
    KeywordConstraint,
    PrefixConstraint,
    SpacedConstraint,
    SyntaxConstraint,
)
from monitors.definitions import assignment_state
from monitors.identifiers import IDENT_BYTE_CLASS, IDENT_BYTES, IDENT_START_BYTE_CLASS
from monitors.languages import PYTHON_LEX, LexSpec
from monitors.lexer import closers_of
from monitors.vocab.memo import IdsMemo

__all__ = ["EMPTY_IDS", "TRIE_IDS", "RuleTables", "Vocab", "constraint_ids", "readonly"]


class Vocab(Protocol):
    """What the rules read of a vocabulary (:class:`monitors.vocab.index.VocabIndex`;
    declared here so that the rules do not import the index that imports them)."""

    size: int
    _trie: dict[int, Any]
    _lead: dict[bytes, tuple[int, ...]]

    def token_bytes(self, token_id: int) -> bytes: ...
    def rule_tables(self) -> RuleTables: ...
    def allowed_ids(self, c: Constraint, *, memo: IdsMemo | None = None) -> np.ndarray: ...
    def ids_containing(self, needles: tuple[bytes, ...], *, memo: IdsMemo | None = None) -> np.ndarray: ...
    def ids_with_prefix(self, data: bytes) -> np.ndarray: ...
    def ids_prefix_of(self, data: bytes) -> np.ndarray: ...

EMPTY_IDS = np.zeros(0, dtype=np.int32)
EMPTY_IDS.flags.writeable = False
#: Key of a trie node's token ids (children are keyed by byte 0..255).
TRIE_IDS = -1

# ExcludeConstraint: the first top-level structural byte of a token, and ``[ws] ident [ws] =`` (not ``==``).
_STRUCTURAL = re.compile(rb"[()\[\]{},;\"'`#]")
_ASSIGN = re.compile(rb"([ \t]*)(" + IDENT_BYTE_CLASS + rb"*)([ \t]*)=(?!=)")
# SpacedConstraint: a space followed by a byte that can start an identifier (not a digit).
_SPACE_WORD = re.compile(rb" " + IDENT_START_BYTE_CLASS)
_WORD_START = re.compile(IDENT_START_BYTE_CLASS)
# KeywordConstraint: a token's shape relative to ``[ws] name [ws] =``.
_KW_SHAPE = re.compile(rb"([ \t\r\n]*)(" + IDENT_BYTE_CLASS + rb"*)([ \t]*)(=(?!=)|)")
_KW_FREE = re.compile(rb"[ \t\r\n]*(?:\*{1,2}(?!\*)|\)|$)")


def readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def constraint_ids(index: Vocab, c: IdentifierConstraint | PrefixConstraint | SpacedConstraint
                   | ExcludeConstraint | KeywordConstraint | DefinitionConstraint
                   | SyntaxConstraint, memo: IdsMemo | None = None) -> tuple[np.ndarray, bool]:
    """``(sorted ids, typed-is-complete)`` for ``c``; the second part is True only for an
    :class:`IdentifierConstraint` whose ``typed`` is a whole candidate (then the break-
    starting tokens and EOS are allowed too, added by the index)."""
    if isinstance(c, PrefixConstraint):
        return prefix_ids(index, c), False
    if isinstance(c, SpacedConstraint):
        return spaced_ids(index, c), False
    if isinstance(c, ExcludeConstraint):
        return exclude_ids(index, c), False
    if isinstance(c, KeywordConstraint):
        return keyword_ids(index, c), False
    if isinstance(c, DefinitionConstraint):
        return definition_ids(index, c)
    if isinstance(c, SyntaxConstraint):
        return syntax_ids(index, c, memo), False
    return identifier_ids(index, c)


def identifier_ids(index: Vocab, c: IdentifierConstraint) -> tuple[np.ndarray, bool]:
    """Rules (a) and (b) of the identifier rule for every live candidate."""
    typed = c.typed
    n = len(typed)
    root = index._trie
    lead_get = index._lead.get
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
            t = node.get(TRIE_IDS)
            if t:
                acc += t
    if not acc:
        return EMPTY_IDS, complete
    ids = np.asarray(acc, dtype=np.int32)
    if len(ids) > 1:
        ids.sort()
        ids = ids[np.concatenate(([True], ids[1:] != ids[:-1]))]
    return readonly(ids), complete


def prefix_ids(index: Vocab, c: PrefixConstraint) -> np.ndarray:
    """Token healing: ids spelling ``required`` first (see :class:`PrefixConstraint`).

    Tokens extending ``required`` are one sorted range (binary search); with
    ``then`` their tails are checked against the identifier rule (a set
    look-up each). Tokens that are prefixes of it: at most ``len(required)``
    dictionary look-ups.
    """
    ids = EMPTY_IDS
    for req in sorted({c.required, *c.alternatives}):
        longer = index.ids_with_prefix(req)
        if c.then is not None and len(longer):
            ok = _tail_rule(c.then)
            n = len(req)
            tb = index.token_bytes
            longer = longer[np.fromiter((ok(tb(i)[n:]) for i in longer.tolist()), bool, len(longer))]
        ids = np.union1d(ids, np.union1d(longer, index.ids_prefix_of(req)))
    return readonly(ids.astype(np.int32, copy=False))


def spaced_ids(index: Vocab, c: SpacedConstraint) -> np.ndarray:
    """Tokens not starting with space+word, plus those spelling `` `` then ``c.then``."""
    rules = index.rule_tables()
    if c.then is None and not c.spaced:
        return rules.word_start
    if c.then is None:
        spelled = rules.space_word
    else:
        spelled = prefix_ids(index, PrefixConstraint(b" ", c.then))
    banned = rules.space_other if c.strict else rules.space_word
    free = np.setdiff1d(rules.all_ids, banned, assume_unique=True)
    return readonly(np.union1d(free, spelled).astype(np.int32, copy=False))


def exclude_ids(index: Vocab, c: ExcludeConstraint) -> np.ndarray:
    """Every id (EOS included) except the ones ``c`` forbids (see :class:`ExcludeConstraint`)."""
    rules = index.rule_tables()
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
    return readonly(out.astype(np.int32, copy=False))


def keyword_ids(index: Vocab, c: KeywordConstraint) -> np.ndarray:
    """Ids that keep the argument a keyword argument (see :class:`KeywordConstraint`).

    Set look-ups in :attr:`RuleTables.keyword`: ``(lead, run, tail)`` → ids, where
    ``lead`` says whether the token starts with whitespace, ``run`` is its
    identifier run and ``tail`` is ``""`` (the token ends there), ``" "`` (then
    blanks) or ``"="`` (then ``[ \t]* =``, not ``==``; anything may follow).
    """
    rules = index.rule_tables()
    if c.unpack:  # "*" / "**" so far: the unpacked expression starts here
        banned = [index.ids_with_prefix(p) for p in (b"*", b")", b",", b"=", b"#", b" ", b"\t", b"\r", b"\n")]
        return readonly(np.setdiff1d(rules.all_ids, np.concatenate(banned)).astype(np.int32, copy=False))
    if c.no_assign:  # "*name" so far: not "[ws] =" (an unpacked argument takes no keyword)
        assign = [v for (_lead, _run, tail), v in rules.keyword.items() if tail == "="]  # "[ws] name [ws] ="
        if not assign:
            return rules.all_ids
        return readonly(np.setdiff1d(rules.all_ids, np.concatenate(assign)).astype(np.int32, copy=False))
    if c.equals:  # "name =" so far: anything but "=" (that would make "==")
        return readonly(np.setdiff1d(rules.all_ids, index.ids_with_prefix(b"=")).astype(np.int32, copy=False))
    kw = rules.keyword
    names, typed = c.names, c.typed
    parts: list[np.ndarray] = []

    def add(lead: bool, run: bytes, tail: str) -> None:
        got = kw.get((lead, run, tail))
        if got is not None:
            parts.append(got)

    if c.spaced:  # "name " so far: blanks, or "=" (after blanks)
        if names is None or typed in names:
            parts.append(rules.blank)
            add(False, b"", "=")
            add(True, b"", "=")
    elif typed:  # "nam" so far: no lead; the run continues the name
        if names is None:
            parts += [v for (lead, _tail, _word), v in rules.keyword_any.items() if not lead]
            add(False, b"", "=")
            add(True, b"", "=")
            parts.append(rules.blank)
        else:
            for name in names:
                if not name.startswith(typed):
                    continue
                rest = name[len(typed) :]
                for k in range(1, len(rest) + 1):
                    add(False, rest[:k], "")
                add(False, rest, " ")
                add(False, rest, "=")
                if not rest:
                    parts.append(rules.blank)
                    add(True, b"", "=")
    else:
        free = rules.keyword_free
        parts.append(np.setdiff1d(free, rules.blank, assume_unique=True) if c.padded else free)
        if names is None:
            parts += [v for (_lead, _tail, word), v in rules.keyword_any.items() if word]
        else:
            for name in names:
                for lead in (False, True):
                    for k in range(1, len(name) + 1):
                        add(lead, name[:k], "")
                    add(lead, name, " ")
                    add(lead, name, "=")
    parts.append(rules.eos)
    return readonly(np.unique(np.concatenate(parts)).astype(np.int32, copy=False))


def definition_ids(index: Vocab, c: DefinitionConstraint) -> tuple[np.ndarray, bool]:
    """A listed member or a new name being assigned (see :class:`DefinitionConstraint`)."""
    rules = index.rule_tables()
    table = rules.definition
    ok = "_ok" if c.last else ""  # the last token: the assignment must be certain in it
    if c.after is not None:
        if not c.after.strip(b" \t"):
            return table["lead" + ok], False
        after = c.after
        bad = ("bad", "partial") if c.last else ("bad",)
        fit = [i for i, b in enumerate(index.token_bytes(i) for i in range(index.size))
               if b and assignment_state(after + b) not in bad]
        return readonly(np.asarray(fit, dtype=np.int32)), False
    ids, complete = identifier_ids(index, IdentifierConstraint(c.candidates, c.typed))
    if c.typed:
        extra = [table["tail" + ok]] if c.last else [table["ident"], table["tail"]]
        if not complete:  # a complete listed name already allows every break token
            extra.append(table["lead" + ok])
    else:
        extra = [table["tail_word" + ok]] if c.last else [table["ident_word"], table["tail_word"]]
    out = np.unique(np.concatenate([ids, *extra])).astype(np.int32, copy=False)
    return readonly(out), complete


_SYNTAX_OPENER = {ord(")"): "(", ord("]"): "[", ord("}"): "{"}
_C_LEX = LexSpec(raw_quotes="`")  # the syntax guard's C family: Java and Go share one closer table
#: The budget guard's closing tokens: only these bytes (and at least one closer or quote).
_BUDGET_CLOSERS = b")]}\"'`*/ \t"
_BUDGET_CLOSE_BYTES = b")]}\"'`"


def token_closers(token: bytes, python: bool) -> str | None:
    """The closers of ``token`` its own openers do not match, in order (``"))"`` for
    ``x))``), judged up to its first quote or comment start (the one lexer,
    :func:`monitors.lexer.closers_of`: Python's rules, or the C family's with Go's
    backtick); None when the token closes a bracket of the wrong kind it opened itself
    (``(]``: never legal)."""
    return closers_of(PYTHON_LEX if python else _C_LEX, token.decode("utf-8", "replace"))


def syntax_ids(index: Vocab, c: SyntaxConstraint, memo: IdsMemo | None = None) -> np.ndarray:
    """Every id except tokens closing what is not open, EOS unless ``c.eos``, the
    tokens ``c.stop`` forbids (a stop text firing in a string or an open bracket), and
    those ``c.budget`` forbids (more left to close than tokens remain; in its progress
    mode only the closing candidates it allows stay, unless none does: then it fails open)."""
    budget = c.budget
    if budget is not None:
        base = index.allowed_ids(dataclasses.replace(c, budget=None), memo=memo)
        token = index.token_bytes
        rules = index.rule_tables()
        cand = rules.closers_only() if budget.progress else rules.opening_at_least(budget.min_open)
        ok = np.asarray([i for i in cand.tolist() if not budget.forbids(token(i))], dtype=np.int32)
        if budget.progress:
            keep = np.intersect1d(base, ok, assume_unique=True)
            return readonly(keep.astype(np.int32, copy=False)) if keep.size else base
        forbidden = np.setdiff1d(cand, ok, assume_unique=True)
        return readonly(np.setdiff1d(base, forbidden, assume_unique=True).astype(np.int32, copy=False)) \
            if forbidden.size else base
    judge = c.stop
    if judge is not None:
        base = index.allowed_ids(dataclasses.replace(c, stop=None), memo=memo)
        parts = [index.ids_with_prefix(p) for p in judge.prefixes]
        if judge.contains:
            parts.append(index.ids_containing(judge.contains, memo=memo))
        if not parts or not len(base):
            return base
        token = index.token_bytes
        forbidden = np.asarray([i for i in np.unique(np.concatenate(parts)).tolist() if judge.forbids(token(i))],
                               dtype=np.int32)
        pos = np.searchsorted(base, forbidden)  # few ids out of a sorted base: delete them in one copy
        pos = pos[(pos < len(base)) & (base[np.minimum(pos, len(base) - 1)] == forbidden)]
        return readonly(np.delete(base, pos)) if len(pos) else base
    rules = index.rule_tables()
    by_needs, bad = rules.syntax_table(c.python)
    banned: list[np.ndarray] = []
    if c.stack is not None:
        banned.append(bad)
        stack = c.stack
        for needs, ids in by_needs.items():
            if len(needs) > len(stack):
                if c.deep and all(stack[-1 - k] == _SYNTAX_OPENER[ord(x)] for k, x in enumerate(needs[: len(stack)])):
                    continue  # beyond what the constraint holds: fail open
                banned.append(ids)
            elif any(stack[-1 - k] != _SYNTAX_OPENER[ord(x)] for k, x in enumerate(needs)):
                banned.append(ids)
    if not c.eos:
        banned.append(rules.eos)
    if not banned:
        return rules.all_ids
    return readonly(np.setdiff1d(rules.all_ids, np.concatenate(banned)).astype(np.int32, copy=False))


class RuleTables:
    """Per-vocabulary tables of the "everything except" rules (built once, read-only).

    ``all_ids``: every non-special id plus EOS. ``space_word``: ids whose bytes
    start with a space and an identifier-start byte; ``space_other``: with a space and
    then any non-space byte; ``word_start``: ids starting with a word byte. ``first_structural``: for each
    structural byte, the ids whose first top-level structural byte it is. ``assign``: ids
    spelling ``[ws] ident [ws] =`` (not ``==``) as ``(id, lead ws, ident, mid ws)``.
    ``keyword``: ``(lead?, ident run, tail)`` → ids of the tokens that keep an argument a
    keyword argument (:func:`keyword_ids`); ``keyword_any``: ``(lead?, tail, starts a word?)``
    → the same for every name (``**kwargs``); ``keyword_free``: blanks, or blanks then ``*`` or ``)``;
    ``blank``: ids that are only spaces, tabs and newlines; ``eos``: the end-of-sequence ids.
    ``definition`` (:func:`definition_ids`): ``ident``/``ident_word``: ids that are only identifier
    bytes (starting with a word byte); ``tail``/``tail_word``: an identifier run (non-empty;
    starting with a word byte) then text :func:`assignment_state` does not reject; ``lead``: no
    identifier run, text it does not reject (`` =``, ``+=``, `` ``); each with ``_ok``: those whose
    text makes the assignment certain (:class:`~monitors.base.DefinitionConstraint` ``last``).
    """

    __slots__ = ("_budget", "_syntax", "_table", "all_ids", "assign", "blank", "definition", "eos", "first_structural", "keyword", "keyword_any", "keyword_free",
                 "space_other", "space_word", "word_start")

    def __init__(
        self,
        all_ids: np.ndarray,
        space_word: np.ndarray,
        space_other: np.ndarray,
        word_start: np.ndarray,
        first_structural: dict[int, np.ndarray],
        assign: tuple[tuple[int, bytes, bytes, bytes], ...],
        keyword: dict[tuple[bool, bytes, str], np.ndarray] | None = None,
        keyword_any: dict[tuple[bool, str, bool], np.ndarray] | None = None,
        keyword_free: np.ndarray = EMPTY_IDS,
        blank: np.ndarray = EMPTY_IDS,
        eos: np.ndarray = EMPTY_IDS,
        definition: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.all_ids = all_ids
        self.space_word = space_word
        self.space_other = space_other
        self.word_start = word_start
        self.first_structural = first_structural
        self.assign = assign
        self.keyword = keyword or {}
        self.keyword_any = keyword_any or {}
        self.keyword_free = keyword_free
        self.blank = blank
        self.eos = eos
        self.definition = definition or {}
        self._table: Sequence[bytes] = ()
        self._syntax: dict[bool, tuple[dict[str, np.ndarray], np.ndarray]] = {}
        self._budget: tuple[np.ndarray, np.ndarray] | None = None

    def _budget_tables(self) -> tuple[np.ndarray, np.ndarray]:
        got = self._budget
        if got is None:
            counts = np.zeros(len(self._table), dtype=np.int16)
            closers: list[int] = []
            for i, b in enumerate(self._table):
                if not b:
                    continue
                counts[i] = sum(b.count(x) for x in b"([{\"'`") + b.count(b"/*")
                if not b.strip(_BUDGET_CLOSERS) and (any(x in b for x in _BUDGET_CLOSE_BYTES) or b"*/" in b):
                    closers.append(i)
            got = self._budget = (counts, readonly(np.asarray(closers, dtype=np.int32)))
        return got

    def opening_at_least(self, n: int) -> np.ndarray:
        """Sorted ids of the tokens holding at least ``n`` opening characters (``([{``,
        quotes, backtick, ``/*``): the only ones that can open ``n`` things."""
        counts = self._budget_tables()[0]
        return readonly(np.flatnonzero(counts >= max(n, 1)).astype(np.int32))

    def closers_only(self) -> np.ndarray:
        """Sorted ids of the tokens made only of closers and blanks (``)``, ``))``, ``")``)."""
        return self._budget_tables()[1]

    def syntax_table(self, python: bool) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """``(closers -> ids, ids never legal in code)`` of :func:`token_closers`
        (built on first use per lexer family; tokens without closers are left out)."""
        got = self._syntax.get(python)
        if got is None:
            by: dict[str, list[int]] = {}
            bad: list[int] = []
            for i, b in enumerate(self._table):
                if not b or not any(x in b for x in b")]}"):
                    continue
                needs = token_closers(b, python)
                if needs is None:
                    bad.append(i)
                elif needs:
                    by.setdefault(needs, []).append(i)
            got = ({k: readonly(np.asarray(v, dtype=np.int32)) for k, v in by.items()},
                   readonly(np.asarray(bad, dtype=np.int32)))
            self._syntax[python] = got
        return got

    @classmethod
    def build(cls, table: Sequence[bytes], eos: frozenset[int]) -> RuleTables:
        ordinary: list[int] = []
        space_word: list[int] = []
        space_other: list[int] = []
        word_start: list[int] = []
        first: dict[int, list[int]] = {}
        assign: list[tuple[int, bytes, bytes, bytes]] = []
        keyword: dict[tuple[bool, bytes, str], list[int]] = {}
        keyword_any: dict[tuple[bool, str, bool], list[int]] = {}
        keyword_free: list[int] = []
        blank: list[int] = []
        definition: dict[str, list[int]] = {k: [] for k in ("ident", "ident_word", "tail", "tail_word", "lead",
                                                            "tail_ok", "tail_word_ok", "lead_ok")}
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
            run = len(b) - len(b.lstrip(IDENT_BYTES))
            word = bool(_WORD_START.match(b))
            if run == len(b):
                definition["ident"].append(i)
                if word:
                    definition["ident_word"].append(i)
            elif (state := assignment_state(b[run:])) != "bad":
                kinds = ("tail", "tail_word") if run and word else ("tail",) if run else ("lead",)
                for kind in kinds:
                    definition[kind].append(i)
                    if state == "ok":
                        definition[kind + "_ok"].append(i)
            if _KW_FREE.match(b):
                keyword_free.append(i)
                if not b.strip(b" \t\r\n"):
                    blank.append(i)
            k = _KW_SHAPE.match(b)
            if k is not None:
                lead, run, mid, eq = k.groups()
                rest = len(b) - k.end()
                tail = "=" if eq else (" " if mid else "")
                if (tail == "" and (rest or not run)) or (tail == " " and rest):
                    continue  # something else follows the name: not a keyword's start
                keyword.setdefault((bool(lead), run, tail), []).append(i)
                if run:
                    keyword_any.setdefault((bool(lead), tail, bool(_WORD_START.match(run))), []).append(i)
        all_ids = np.asarray(sorted(set(ordinary) | set(eos)), dtype=np.int32)
        out = cls(
            readonly(all_ids),
            readonly(np.asarray(space_word, dtype=np.int32)),
            readonly(np.asarray(space_other, dtype=np.int32)),
            readonly(np.asarray(word_start, dtype=np.int32)),
            {k: readonly(np.asarray(v, dtype=np.int32)) for k, v in first.items()},
            tuple(assign),
            {k: readonly(np.asarray(v, dtype=np.int32)) for k, v in keyword.items()},
            {k: readonly(np.asarray(v, dtype=np.int32)) for k, v in keyword_any.items()},
            readonly(np.asarray(keyword_free, dtype=np.int32)),
            readonly(np.asarray(blank, dtype=np.int32)),
            readonly(np.asarray(sorted(eos), dtype=np.int32)),
            {k: readonly(np.asarray(v, dtype=np.int32)) for k, v in definition.items()},
        )
        out._table = tuple(b or b"" for b in table)
        return out


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


def _definition_tail_rule(c: DefinitionConstraint) -> Callable[[bytes], bool]:
    """The rule of :func:`definition_ids` for a token's tail bytes (healing's ``then``)."""
    refused = ("bad", "partial") if c.last else ("bad",)
    if c.after is not None:
        after = c.after
        return lambda tail: not tail or assignment_state(after + tail) not in refused
    listed = _tail_rule(IdentifierConstraint(c.candidates, c.typed))

    def ok(tail: bytes) -> bool:
        if listed(tail):
            return True
        run = len(tail) - len(tail.lstrip(IDENT_BYTES))
        if not _WORD_START.match(c.typed + tail[:run]):
            return False  # a new name starts with a word byte
        if run == len(tail):
            return not c.last  # the new name goes on: its assignment needs another token
        return assignment_state(tail[run:]) not in refused

    return ok


def _tail_rule(c: IdentifierConstraint | DefinitionConstraint) -> Callable[[bytes], bool]:
    """The identifier rule of :class:`IdentifierConstraint` for a token's tail bytes.

    Used by :class:`PrefixConstraint` with ``then``: the part of a token past the
    healed text must be allowed as a token would be; an empty tail always is.
    """
    if isinstance(c, DefinitionConstraint):
        return _definition_tail_rule(c)
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
