"""The monitor protocol: pure, synchronous state machines (no I/O, no torch).

A monitor is fed the bytes the model generates. When it needs facts from the
language server it says so with a :class:`Need`; the engine glue fetches them
(asynchronously, through ``lsp_bridge``) and hands them back with
:meth:`Monitor.provide`. At any time :meth:`Monitor.constraint` says what the next
token may be: ``None`` (no opinion) or an :class:`IdentifierConstraint`.

Monitors can be copied (:meth:`Monitor.fork`) so speculative trees and token
healing can explore and roll back.

The shape every monitor here has (:class:`MonitorBase`): its state is the fields of
a dataclass, copied by one generic :meth:`MonitorState.fork` (immutable values and
per-document shared things are shared, containers copied, anything with a ``fork``
forked); the fed bytes are decoded by one :class:`Utf8Stream`; counters are a
:class:`MonitorStats`. A monitor that follows the document with a detector
(:class:`DocumentMonitor`) reads the sequence's one
:class:`~monitors.document.Document` (shared by the monitors built together; the first
reader of a token appends its text); :func:`fork_monitors` forks a sequence's monitors
with one fork of it. What differs per language
is a strategy object chosen once at construction (:class:`monitors.type_rules.TypeRules`,
:class:`monitors.dereference.MemberRules`), never a mode string tested in the monitor.
"""

from __future__ import annotations

import codecs
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING, Generic, Protocol, Self, TypeVar, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover
    from monitors.document import Document

__all__ = [
    "BudgetJudge",
    "CandidateMonitor",
    "CompletionEntry",
    "CompletionFacts",
    "CompletionNeed",
    "Constraint",
    "DefinitionConstraint",
    "DocumentMonitor",
    "ExcludeConstraint",
    "Facts",
    "IdentifierConstraint",
    "ItemKind",
    "KeywordConstraint",
    "Monitor",
    "MonitorBase",
    "MonitorState",
    "MonitorStats",
    "Need",
    "PrefixConstraint",
    "Signature",
    "SignatureFacts",
    "SignatureNeed",
    "SpacedConstraint",
    "SyntaxConstraint",
    "Utf8Stream",
    "documents_of",
    "failed_facts",
    "fork_monitors",
    "forked",
]


class ItemKind(IntEnum):
    """LSP ``CompletionItemKind`` values (LSP 3.17 §textDocument/completion), so that
    monitors can name item kinds without importing an LSP library."""

    Text = 1
    Method = 2
    Function = 3
    Constructor = 4
    Field = 5
    Variable = 6
    Class = 7
    Interface = 8
    Module = 9
    Property = 10
    Unit = 11
    Value = 12
    Enum = 13
    Keyword = 14
    Snippet = 15
    Color = 16
    File = 17
    Reference = 18
    Folder = 19
    EnumMember = 20
    Constant = 21
    Struct = 22
    Event = 23
    Operator = 24
    TypeParameter = 25


@dataclass(frozen=True, slots=True)
class CompletionNeed:
    """The monitor wants the server's completions at ``offset``.

    ``offset`` counts characters (Python ``str`` indices) into the *generated*
    text so far (not the prompt); the glue maps it into the document
    ``prefix + generated + suffix``. ``generated`` is the generated text up to
    the point the document must hold when the request is made (complete UTF-8
    characters only). ``serial`` is unique per need of one monitor instance so
    stale answers can be recognised.
    """

    offset: int
    generated: str
    serial: int
    #: LSP ``CompletionItemKind`` values that count (None: the server spec's
    #: identifier kinds). Monitors asking at the same place share one request.
    kinds: frozenset[int] | None = None
    #: Also hand back :attr:`CompletionFacts.entries` (kind, detail and full insert
    #: text of each identifier item of ``kinds``), for monitors that filter by type.
    entries: bool = False
    #: Also ask the server to resolve items that come without a ``detail``
    #: (``completionItem/resolve``: jedi, pyright report types only there), so the
    #: entries carry member types. Costs one request per item: ask only where needed.
    types: bool = False


@dataclass(frozen=True, slots=True)
class CompletionEntry:
    """One completion item, reduced: the identifier ``name`` it inserts, its LSP
    ``kind``, its ``detail`` (often a type: gopls ``Level``) and its whole insert
    ``text`` (JDT LS: ``Animal() {...}`` for an abstract type's anonymous class)."""

    name: str
    kind: int | None
    detail: str | None
    text: str


@dataclass(frozen=True, slots=True)
class CompletionFacts:
    """The answer to a :class:`CompletionNeed`.

    ``names`` are the identifier texts the server says are legal there (already
    reduced to insert texts of identifier-like items, deduplicated). ``ok`` is
    False when the server gave nothing usable (timeout, error, dead server): the
    monitor then fails open. ``incomplete`` mirrors LSP ``isIncomplete``.
    """

    serial: int
    names: frozenset[str]
    incomplete: bool = False
    ok: bool = True
    #: Filled only when the need asked for ``entries``.
    entries: tuple[CompletionEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class SignatureNeed:
    """The monitor wants ``textDocument/signatureHelp`` at ``offset`` (inside a call).

    Offsets and ``generated`` as in :class:`CompletionNeed`.
    """

    offset: int
    generated: str
    serial: int


@dataclass(frozen=True, slots=True)
class Signature:
    """One overload, from the server's ``SignatureInformation.parameters``.

    ``params`` are the parameter labels as the server gives them (``alpha``,
    ``beta=2``, ``*rest``, ``int count``). ``required``: how many arguments a call
    must give at least; ``maximum``: how many it may give at most (None: any
    number: varargs). Both are computed by :func:`monitors.calls.signature_of`
    from the per-parameter labels (a default ``=``, ``*``/``...`` varargs markers).
    """

    label: str
    params: tuple[str, ...]
    required: int
    maximum: int | None


@dataclass(frozen=True, slots=True)
class SignatureFacts:
    """The answer to a :class:`SignatureNeed`: every overload the server offers.

    ``ok`` False (or no signatures): nothing usable, the monitor fails open.
    """

    serial: int
    signatures: tuple[Signature, ...] = ()
    active: int = 0
    ok: bool = True


Need = CompletionNeed | SignatureNeed
Facts = CompletionFacts | SignatureFacts


def failed_facts(need: Need) -> Facts:
    """The fail-open answer to ``need`` (timeout, error, cancelled lookup)."""
    if isinstance(need, SignatureNeed):
        return SignatureFacts(need.serial, ok=False)
    return CompletionFacts(need.serial, frozenset(), ok=False)


@dataclass(frozen=True, slots=True)
class IdentifierConstraint:
    """The next tokens must spell (the rest of) one of ``candidates``.

    ``typed`` is what was already generated of the identifier (UTF-8 bytes).
    The masking rule (one implementation, in :mod:`monitors.vocab`): a token is
    allowed if ``typed + token`` is a prefix of a candidate, or if the token's
    leading identifier bytes complete a candidate exactly and are followed by a
    non-identifier byte. When ``typed`` is itself a candidate, tokens that start
    with a non-identifier byte (and end-of-sequence) are allowed too.
    """

    candidates: frozenset[bytes]
    typed: bytes = b""
    #: A soft preference among the candidates (expected types): the engines add ``bonus``
    #: to the logits of the allowed tokens that spell (the start of) one of these. Empty
    #: (or ``bonus`` 0): none. Nothing is forbidden by it.
    preferred: frozenset[bytes] = frozenset()
    bonus: float = 0.0


@dataclass(frozen=True, slots=True)
class PrefixConstraint:
    """Token healing: the next tokens must spell ``required`` (bytes) first.

    A token is allowed if its bytes start with ``required`` or are a non-empty
    prefix of it (so ``required`` may take several tokens); special ids and EOS
    never are. ``then`` (optional) also constrains what a token spells *past*
    ``required``: its tail must be allowed by that identifier rule, or by the
    definition-site rule of a :class:`DefinitionConstraint` (an empty tail always
    is). Built by :class:`monitors.healing.HealingMonitor`.
    """

    required: bytes
    then: IdentifierConstraint | DefinitionConstraint | None = None
    #: Other spellings allowed instead of ``required`` (same rule, same ``then``),
    #: e.g. ``(`` or ``[`` after ``new Name``.
    alternatives: frozenset[bytes] = frozenset()

    def __post_init__(self) -> None:
        if not self.required or b"" in self.alternatives:
            raise ValueError("PrefixConstraint.required (and each alternative) must be non-empty")


@dataclass(frozen=True, slots=True)
class SpacedConstraint:
    """After a keyword (``new``, ``case``, ``import``): a token that starts with a
    space must spell that space and then what ``then`` allows; every other token
    is free (``newValue`` stays a legal identifier).

    A word starts with a letter, ``_``, ``$`` or a non-ASCII byte: ``case 1:`` stays
    free. With ``strict`` (after ``new``), every token that starts with a space
    and then anything but spaces must spell a name (``new 16`` is forbidden).

    ``then=None``: any name (a word) may follow the space (strict only makes sense
    then: the server's list was incomplete, but ``new 16`` is still wrong).

    Implemented in :mod:`monitors.vocab` as: (all ids minus the ids starting with
    a space and a word (or, strict, any non-space)) plus ``PrefixConstraint(b" ", then)``
    (``then=None``: plus every id starting with a space and a word).
    """

    then: IdentifierConstraint | None
    strict: bool = False
    #: False: the space is already written; only with ``then=None``: the next token
    #: must start with a word (a letter, ``_``, ``$``, a non-ASCII byte).
    spaced: bool = True


@dataclass(frozen=True, slots=True)
class ExcludeConstraint:
    """Everything is allowed except the tokens these rules forbid (EOS is allowed).

    ``stops``: bytes a token may not have as its first *top-level structural*
    byte: the first of ``) ] } , ; " ' ` #`` at the nesting level the token starts
    in, skipping brackets the token opens and closes itself (``(),`` has ``,``;
    ``()`` has none), e.g. ``)`` while a call still lacks required arguments, or
    ``,`` once no overload accepts more. The verdict is exact for that byte;
    what comes after it in the same token is not judged.

    ``names`` (not None): the keyword-argument rule. A token that spells
    ``[ws] ident [ws] =`` (an ``=`` not followed by ``=``) after the argument
    text so far is forbidden unless that identifier is in ``names``. ``typed``
    is the identifier typed so far at the start of the argument, ``spaced``
    whether whitespace followed it already (then only ``[ws] =`` tokens are
    judged, against ``typed``).
    """

    stops: frozenset[int] = frozenset()
    names: frozenset[bytes] | None = None
    typed: bytes = b""
    spaced: bool = False


@dataclass(frozen=True, slots=True)
class KeywordConstraint:
    """Python call syntax: the current argument may not be positional.

    Used where a positional argument would be a syntax or call error: after a
    keyword argument (``f(radius=2.0, ``), or once every parameter that can be given
    positionally is filled and only keyword-only ones are left
    (``make_order(items, `` with ``def make_order(items, *, express=False)``).
    The argument must become ``name=`` for one of ``names`` (None: any name,
    ``**kwargs``), an unpacking (``*``/``**``), or the call must close (``)``).

    A token is allowed when the argument text so far (``typed``: the identifier
    typed at its start, ``spaced``: whitespace followed it) plus the token is still
    a prefix of ``[ws] name [ws] =`` (``=`` not followed by ``=`` in the token;
    after the ``=`` the token is free), or when it starts (after whitespace) with
    ``*`` or ``)``. Everything else is forbidden: a bare expression (``1``,
    ``x.y``, ``"a"``), an unknown name, a ``,`` (an empty argument), and a ``#``
    comment (legal, but the small model writes the positional argument it may not
    write into one: ``f(radius=2.0,  # 1.0)``). EOS stays allowed (an editor's
    suffix may close the call). ``equals``: the argument is already ``name =`` (a
    keyword the call accepts); only a token starting with ``=`` (``==``, a
    comparison: a positional argument) is forbidden. ``padded``: nothing typed yet but
    blanks that do not end a line (``f(a=1, ``): no further whitespace-only token, so a
    model denied its positional argument cannot pad the call with blanks forever (a new
    line and its indentation stay allowed). ``unpack``: the argument is ``*`` or ``**`` so
    far (Python unpacking, with or without a signature): the unpacked expression must start
    now, so no token starting with ``*``, ``)``, ``,``, ``=``, ``#`` or whitespace.
    ``no_assign``: the argument is ``*name`` (or ``**obj.attr``) so far: anything but
    ``[blanks] =`` not followed by ``=`` (``f(*xs=1)`` is a syntax error). Implemented in :func:`monitors.vocab.rules.keyword_ids`.
    """

    names: frozenset[bytes] | None
    typed: bytes = b""
    spaced: bool = False
    equals: bool = False
    padded: bool = False
    unpack: bool = False
    no_assign: bool = False


@dataclass(frozen=True, slots=True)
class DefinitionConstraint:
    """A member name after ``self.`` (Python definition sites): a listed one, or a new
    one that is being assigned.

    ``after`` None (the name is being typed, ``typed`` so far): the identifier rule of
    :class:`IdentifierConstraint` for ``candidates``, plus tokens that continue any
    name (a new name starts with a word byte), plus tokens that end a new name and
    go on with what :func:`monitors.definitions.assignment_state` accepts
    (``total =``, ``total+=``, ``total:``). ``after`` bytes: a new name ended and
    ``after`` followed it so far (blanks, ``+``); the token must keep
    ``after + token`` an assignment start. ``last``: the engine samples no token after
    this one (its token budget runs out), so a new name must end with its assignment
    (``assignment_state`` ``"ok"``) in this token or not be spelled at all: a name cut
    there would stand unassigned and unlisted. Implemented in
    :func:`monitors.vocab.rules.definition_ids`.
    """

    candidates: frozenset[bytes]
    typed: bytes = b""
    after: bytes | None = None
    last: bool = False


class StopJudge(Protocol):
    """The stop-text part of a :class:`SyntaxConstraint` (hashable): the tokens that
    start with one of ``prefixes`` or contain one of ``contains`` are the candidates,
    :meth:`forbids` judges each."""

    @property
    def prefixes(self) -> tuple[bytes, ...]: ...

    @property
    def contains(self) -> tuple[bytes, ...]: ...

    def forbids(self, token: bytes) -> bool: ...


class BudgetJudge(Protocol):
    """The token-budget part of a :class:`SyntaxConstraint` (hashable). With
    ``progress`` only the tokens made of closers (and blanks) that :meth:`forbids` does
    not forbid are allowed; otherwise the tokens holding at least ``min_open`` opening
    characters are judged and the forbidden ones removed (fewer cannot open too much)."""

    @property
    def progress(self) -> bool: ...

    @property
    def min_open(self) -> int: ...

    def forbids(self, token: bytes) -> bool: ...


@dataclass(frozen=True, slots=True)
class SyntaxConstraint:
    """The syntax guard (:mod:`monitors.syntax`): brackets and EOS.

    ``stack`` (None: not judged, the text is in a string or comment): the open
    brackets, innermost last (at most the innermost 8; ``deep``: more are open). A
    token whose bytes, up to their first quote or comment start (``#`` with
    ``python``, else ``//``, ``/*``), close a bracket that neither the token itself nor
    ``stack`` opened (or close the wrong kind) is forbidden. ``eos`` False: EOS is
    forbidden too. ``stop`` (:class:`monitors.syntax.StopGuard`): tokens that would
    make a stop text fire where the completion may not end are forbidden too.
    ``budget`` (:class:`monitors.syntax.BudgetGuard`): near the token budget's end, the
    tokens that would leave more to close than tokens remain are forbidden too.
    Implemented in :func:`monitors.vocab.rules.syntax_ids`.
    """

    stack: str | None
    deep: bool = False
    eos: bool = True
    python: bool = True
    stop: StopJudge | None = None
    budget: BudgetJudge | None = None


Constraint = (IdentifierConstraint | PrefixConstraint | SpacedConstraint | ExcludeConstraint | KeywordConstraint
              | DefinitionConstraint | SyntaxConstraint)


@dataclass(slots=True)
class MonitorStats:
    """Counters a monitor (and the glue around it) keeps for reporting."""

    triggers: int = 0
    constrained_steps: int = 0
    fallbacks: int = 0
    failed_lookups: int = 0
    late_triggers: int = 0
    lsp_ms: float = 0.0
    extra: dict[str, int] = field(default_factory=dict)

    @classmethod
    def counting(cls, keys: tuple[str, ...]) -> MonitorStats:
        """Fresh counters with the ``extra`` counters ``keys`` at 0."""
        return cls(extra=dict.fromkeys(keys, 0))

    def copy(self) -> MonitorStats:
        """An independent copy (``extra`` copied)."""
        return MonitorStats(self.triggers, self.constrained_steps, self.fallbacks, self.failed_lookups,
                            self.late_triggers, self.lsp_ms, dict(self.extra))

    def as_dict(self) -> dict[str, float | int]:
        out: dict[str, float | int] = {
            "triggers": self.triggers,
            "constrained_steps": self.constrained_steps,
            "fallbacks": self.fallbacks,
            "failed_lookups": self.failed_lookups,
            "late_triggers": self.late_triggers,
            "lsp_ms": round(self.lsp_ms, 3),
        }
        out.update(self.extra)
        return out


@runtime_checkable
class Monitor(Protocol):
    """A synchronous state machine over generated text, the interface the guide uses.

    What it sees: the document (built with the prompt, then fed the generated bytes)
    and the facts it asked for (:meth:`need`, :meth:`provide`). What it says:
    :meth:`constraint`, a constraint on the next token or None. :meth:`fork` copies it
    (speculative branches, rollback). Optionally ``set_budget(left)``: the tokens the
    engine may still sample. The monitors here implement it with :class:`MonitorBase`.
    """

    def feed(self, data: bytes) -> None:
        """Append generated bytes (one token's worth or more)."""

    def need(self) -> Need | None:
        """Facts the monitor waits for, or None. Stays the same until provided."""

    def provide(self, facts: Facts) -> None:
        """Hand over the answer to the current need (stale serials are ignored)."""

    def constraint(self) -> Constraint | None:
        """What the next token may be; None means no opinion (free)."""

    def fork(self) -> Monitor:
        """An independent copy (for speculative branches and rollback)."""
        ...

    @property
    def stats(self) -> MonitorStats:
        """Counters."""
        ...


# ---------------------------------------------------------------------- the shared shape

#: Immutable values: a fork shares them.
_SHARED: frozenset[type] = frozenset({str, bytes, int, float, bool, type(None), frozenset, tuple})
#: Mutable containers: a fork gets a (shallow) copy.
_COPIED: frozenset[type] = frozenset({list, dict, set, bytearray})


def forked(value: object) -> object:
    """``value`` as a fork of its holder gets it: immutable values (and containers of
    them: ``tuple``, ``frozenset``) shared; ``list``/``dict``/``set`` copied (shallow:
    their items are immutable or never changed in place); anything with ``fork()``
    forked, else with ``copy()`` copied (``MonitorStats``, a lexer); anything else
    shared (frozen dataclasses, the language spec, strategy objects)."""
    method = _fork_method(type(value))
    return value if method is None else getattr(value, method)()


@functools.cache
def _fork_method(kind: type) -> str | None:
    """What :func:`forked` calls on a value of type ``kind`` (None: share it); a pure
    function of the type, remembered."""
    if kind in _SHARED:
        return None
    if kind in _COPIED:
        return "copy"
    if callable(getattr(kind, "fork", None)):
        return "fork"
    return "copy" if callable(getattr(kind, "copy", None)) else None


@dataclass(slots=True, init=False, eq=False, repr=False)
class MonitorState:
    """A monitor's state held in dataclass fields, with one generic :meth:`fork` (each
    field as :func:`forked` gives it) and :meth:`snapshot`/:meth:`restore` on top."""

    def fork(self) -> Self:
        """An independent copy: feeding or providing to one never changes the other."""
        cls = type(self)
        new = cls.__new__(cls)
        for name in cls.__dataclass_fields__:  # type: ignore[attr-defined]
            value = getattr(self, name)
            kind = type(value)
            if kind not in _SHARED:  # (forked(value), inlined: most fields are immutable)
                method = _fork_method(kind)
                if method is not None:
                    value = getattr(value, method)()
            setattr(new, name, value)
        return new

    def snapshot(self) -> Self:
        """A copy to :meth:`restore` later (the same as :meth:`fork`)."""
        return self.fork()

    def restore(self, snapshot: Self) -> None:
        """Become a copy of ``snapshot`` (which stays usable for another restore)."""
        if type(snapshot) is not type(self):
            raise TypeError(f"expected a {type(self).__name__} snapshot, got {type(snapshot).__name__}")
        copy = snapshot.fork()
        for name in type(self).__dataclass_fields__:  # type: ignore[attr-defined]
            setattr(self, name, getattr(copy, name))


_M = TypeVar("_M", bound=Monitor)


def documents_of(monitors: Sequence[Monitor]) -> list[Document]:
    """The documents ``monitors`` read (a monitor's ``document``, if it has one), each once."""
    docs: list[Document] = []
    for m in monitors:
        doc = getattr(m, "document", None)
        if doc is not None and all(doc is not d for d in docs):
            docs.append(doc)
    return docs


def fork_monitors(monitors: Sequence[_M]) -> list[_M]:
    """Forks of ``monitors`` (one sequence's) in which the monitors that read one document
    read one fork of it: the document is forked once (a monitor forked alone, with
    :meth:`Monitor.fork`, gets a document of its own)."""
    docs = documents_of(monitors)
    for doc in docs:
        doc.share_forks(doc.fork())
    try:
        return [m.fork() for m in monitors]  # type: ignore[misc]
    finally:
        for doc in docs:
            doc.share_forks(None)


_Utf8Decoder = codecs.getincrementaldecoder("utf-8")


class Utf8Stream:
    """Fed bytes to complete characters (incremental UTF-8, a bad byte becomes U+FFFD;
    a character split across two feeds comes out whole with the second); ``chars``
    counts the characters given out (the generated text's length)."""

    __slots__ = ("_decoder", "chars")

    def __init__(self) -> None:
        self._decoder = _Utf8Decoder("replace")
        self.chars = 0

    def decode(self, data: bytes) -> str:
        text = self._decoder.decode(data)
        self.chars += len(text)
        return text

    def fork(self) -> Utf8Stream:
        new = Utf8Stream()
        new._decoder.setstate(self._decoder.getstate())
        new.chars = self.chars
        return new


@dataclass(slots=True, init=False, eq=False, repr=False)
class MonitorBase(MonitorState):
    """The plumbing every monitor shares: the UTF-8 stream of fed bytes and the counters
    (``extra`` keys given by the subclass). The defaults are those of a monitor that
    never needs facts; subclasses implement :meth:`feed` and :meth:`constraint`."""

    _utf8: Utf8Stream
    _stats: MonitorStats

    def _start(self, counters: tuple[str, ...]) -> None:
        """Set the shared fields (call first in ``__init__``)."""
        self._utf8 = Utf8Stream()
        self._stats = MonitorStats.counting(counters)

    @property
    def stats(self) -> MonitorStats:
        """Counters (see the monitor's docstring)."""
        return self._stats

    def need(self) -> Need | None:
        return None

    def provide(self, facts: Facts) -> None:
        return None


class _Detector(Protocol):
    """The document a :class:`DocumentMonitor` follows (``TriggerDetector``, ``SiteDetector``)."""

    def append(self, text: str) -> None: ...

    def __len__(self) -> int: ...

    @property
    def text(self) -> str: ...

    def fork(self) -> Self: ...

    @property
    def document(self) -> Document: ...


_D = TypeVar("_D", bound=_Detector)


@dataclass(slots=True, init=False, eq=False, repr=False)
class DocumentMonitor(MonitorBase, Generic[_D]):
    """A monitor that follows the document (prompt, then every generated character)
    with a detector (tree-sitter checks of its end): :meth:`feed` decodes the bytes,
    appends the complete characters to it (nothing when another monitor reading the same
    document did already) and hands both to :meth:`_advance`."""

    _detector: _D

    @property
    def document(self) -> Document:
        """The sequence's document this monitor reads (shared with the other monitors
        of the sequence when built together: :func:`monitors.registry.build_monitors`)."""
        return self._detector.document

    @property
    def generated(self) -> str:
        """The generated text so far (complete characters only)."""
        det = self._detector
        return det.text[len(det) - self._utf8.chars :]

    def feed(self, data: bytes) -> None:
        """Append generated bytes (one token's worth or more; may split a character)."""
        if not data:
            return
        chars = self._utf8.decode(data)
        if chars:
            self._detector.append(chars)
        self._advance(data, chars)

    def _advance(self, data: bytes, chars: str) -> None:
        """The monitor's step over fed ``data`` (non-empty), whose complete characters
        ``chars`` (maybe none: a split character) the document already holds."""
        raise NotImplementedError


@dataclass(slots=True, init=False, eq=False, repr=False)
class CandidateMonitor(DocumentMonitor[_D]):
    """A :class:`DocumentMonitor` that constrains a name to live candidates, narrowed
    as the name is typed; :meth:`_to_idle` resets its state (``_live`` included)."""

    _live: list[bytes]

    def _narrow(self, typed: bytes) -> bool:
        """Keep the live candidates that start with ``typed``; none left is a violation
        (counted) and the monitor goes idle (False)."""
        live = [c for c in self._live if c.startswith(typed)]
        if not live:
            self._stats.extra["violations"] += 1
            self._to_idle()
            return False
        self._live = live
        return True

    def _to_idle(self) -> None:
        raise NotImplementedError
