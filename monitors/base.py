"""The monitor protocol: pure, synchronous state machines (no I/O, no torch).

A monitor is fed the bytes the model generates. When it needs facts from the
language server it says so with a :class:`Need`; the engine glue fetches them
(asynchronously, through ``lsp_bridge``) and hands them back with
:meth:`Monitor.provide`. At any time :meth:`Monitor.constraint` says what the next
token may be: ``None`` (no opinion) or an :class:`IdentifierConstraint`.

Monitors can be copied (:meth:`Monitor.fork`) so speculative trees and token
healing can explore and roll back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Protocol, runtime_checkable

__all__ = [
    "BudgetJudge",
    "CompletionEntry",
    "CompletionFacts",
    "CompletionNeed",
    "Constraint",
    "DefinitionConstraint",
    "ExcludeConstraint",
    "Facts",
    "IdentifierConstraint",
    "ItemKind",
    "KeywordConstraint",
    "Monitor",
    "MonitorStats",
    "Need",
    "PrefixConstraint",
    "Signature",
    "SignatureFacts",
    "SignatureNeed",
    "SpacedConstraint",
    "SyntaxConstraint",
    "failed_facts",
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
    """A synchronous state machine over generated text."""

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

    @property
    def stats(self) -> MonitorStats:
        """Counters."""
