"""Completion-based monitors beyond member access: instantiation, enum cases, imports.

Each is a :class:`SiteMonitor` with a :class:`SiteRule`: *where* it fires (a
keyword such as ``new``/``case``/``import``, or a dot inside an import statement;
see :mod:`monitors.site_detector`) and *which* completion item kinds count there. The
facts are the server's completions (:class:`~monitors.base.CompletionNeed` with
``kinds``), so monitors asking at the same place share one request.

States::

    IDLE --site--> WAITING --facts (usable names)--> ACTIVE --break byte--> IDLE
                      \\--facts not ok / no name of the kinds / incomplete--> IDLE (fails open, counted)

Keyword sites. The model writes ``new`` and then usually a token like `` Circle``
(space and name in one token), so the monitor fires on the keyword itself and
asks the server as if a space followed (the need's ``generated`` ends with
``" "``). Until that space is written the constraint is a
:class:`~monitors.base.SpacedConstraint`: a token that starts with a space and a
word must spell the space and (the start of) an allowed name; every other token
is free, so ``newValue`` (an identifier) and ``case "x":``/``case 1:`` (literals)
stay possible. After the space the constraint is the usual
:class:`~monitors.base.IdentifierConstraint`. A keyword followed by anything but
a space ends the site quietly (``not_site``).

Import dots fire like member access (no space): ``import geometry.|``.

Incomplete lists (``isIncomplete``, JDT LS after ``new``: a few constructors) are
not trusted for an empty name: the names left out would be forbidden, so the
first token is only held to be a name when the rule is strict (``incomplete_open``)
and, once it has started a name, the
monitor asks again at the new end (``rerequests``) and trusts that answer's
names with the typed prefix (an empty answer fails open).

Instantiation is *strict*: after ``new`` and a space only a name may follow
(``new 16`` is forbidden along with names the server does not offer).

Per-language item selection (``SiteRule.select``: an :class:`ItemSelect` strategy per
language, chosen once at construction), from what the servers answer (see docs/monitors.md):

- :data:`CONCRETE` (Java ``new``): constructor items whose insert text is not an
  anonymous class body (JDT LS offers abstract classes and interfaces as
  ``Animal() {...}``, and types without an accessible constructor as ``Class`` items). JDT's list for an empty name is incomplete, so the first
  token must be a space and *one* initial character (``initial_only``); the
  complete list for that initial is asked next and trusted.
- :data:`PROBE_INITIALS_SELECT` (Java ``case``): JDT LS answers ``case `` with nothing but
  ``case L`` with the switch enum's constants starting with ``L``; the monitor asks
  once per initial character (``probes``) and takes the union (enum constants
  only; anything else means the switch is not on an enum: ``not_enum``, no opinion).
- :data:`TYPED_CONSTANTS` (Go ``case``): gopls lists every name in scope with its type in
  ``detail``; the switch subject's type is the detail of the item that spells the
  subject (``l``, ``b.lvl``), and only constants of that type are allowed; for a type
  of another package (``levels.Level``) the package name, then a dot, then its
  constants of that type. No item for the subject: no opinion (``untyped_subject``).
- :data:`QUALIFIED_ENUMS` (TypeScript ``case``): an enum's name, which must be followed by
  a dot and one of its members (asked at ``Level.`` as if the dot were typed).

Counters (``extra``): ``violations``, ``accepted``, ``missed``, ``not_site``,
``incomplete_open``, ``rerequests``, ``stale_facts``, ``probes``, ``not_enum``,
``untyped_subject``, ``qualified``; ``triggers``/``failed_lookups`` as usual.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar, Final

from monitors.base import (
    CandidateMonitor,
    CompletionFacts,
    CompletionNeed,
    Facts,
    IdentifierConstraint,
    PrefixConstraint,
    SpacedConstraint,
)
from monitors.base import ItemKind as K
from monitors.document import Document
from monitors.identifiers import IDENT_BYTES, IDENTIFIER, trailing_ident_length
from monitors.languages import LanguageSpec
from monitors.site_detector import SiteDetector

__all__ = ["ALL_NAMES", "CONCRETE", "ENUM_CASES", "IMPORTS", "INITIALS", "INSTANTIATION", "PROBE_INITIALS",
           "PROBE_INITIALS_SELECT", "QUALIFIED_ENUMS", "TYPED_CONSTANTS", "Choice", "ItemSelect", "SiteMonitor",
           "SiteRule", "switch_subject"]

_IDLE: Final = "idle"
_WAITING: Final = "waiting"
_ACTIVE: Final = "active"
_REASK: Final = "reask"  # an incomplete list came for an empty name: ask again once it has a prefix
_PROBE: Final = "probe"  # asking once per initial character (Java case labels)
_QWAIT: Final = "qwait"  # a qualifier is typed: waiting for its members (asked at "Q.")
_QDOT: Final = "qdot"  # members known: the next token must start with the dot
_SPACE: Final = 0x20
_DOT: Final = 0x2E
_EXTRA_KEYS = ("violations", "accepted", "missed", "not_site", "incomplete_open", "rerequests", "stale_facts",
               "probes", "not_enum", "untyped_subject", "qualified")
#: Characters an identifier may start with, asked one by one (``probe_initials``) or
#: allowed as the only first token after ``new `` (``concrete``; incomplete lists).
INITIALS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_$"
#: The initials asked at a Java ``case`` (``probe_initials``): JDT LS matches a prefix
#: case-insensitively (the ``jdtls`` preset sets ``java.completion.matchCase = "off"``),
#: so ``case L`` also lists ``low``; half the requests of asking every initial.
PROBE_INITIALS: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ_$"
#: After ``new`` (JDT matches initials case-insensitively but answers type names,
#: which start with a capital): upper-case letters.
#: Java's primitive types: legal after ``new`` only as array element types (``new int[n]``).
_JAVA_PRIMITIVES: Final = frozenset({b"boolean", b"byte", b"char", b"double", b"float", b"int", b"long", b"short"})
_TYPE_INITIALS: Final = frozenset(c.encode() for c in INITIALS if c.isupper()) | {p[:1] for p in _JAVA_PRIMITIVES}
#: What may follow a complete type name after ``new``: a call, an array dimension
#: and, for a generic type, type arguments.
_AFTER_CLASS: Final = frozenset({b"(", b"["})
_AFTER_GENERIC: Final = _AFTER_CLASS | {b"<"}
_AFTER_PRIMITIVE: Final = frozenset({b"["})
_SWITCH = re.compile(r"\bswitch\b")


def _kinds(*kinds: K) -> frozenset[int]:
    return frozenset(int(k) for k in kinds)


@dataclass(frozen=True, slots=True)
class Choice:
    """What an answer at a site allows: ``names`` (None: no opinion; ``counter`` names the
    counter that says why), ``qualifiers`` (names that must go on with ``.`` and a member),
    ``after`` (what may follow each complete name; None: anything) and ``detail`` (the
    members' type, asked for after a qualifier)."""

    names: frozenset[bytes] | None
    qualifiers: frozenset[bytes] = frozenset()
    after: dict[bytes, frozenset[bytes]] | None = None
    detail: str | None = None
    counter: str | None = None


class ItemSelect:
    """How the completion items at a site become names, per language (a strategy; this
    one: every name of the rule's kinds). Subclasses override :meth:`choose` and
    :meth:`members` and set the flags."""

    __slots__ = ()
    #: The need asks for :attr:`~monitors.base.CompletionFacts.entries`.
    entries: ClassVar[bool] = True
    #: The server's ``isIncomplete`` means names are missing (gopls marks every list).
    heeds_incomplete: ClassVar[bool] = True
    #: An incomplete list for an empty name: the first token is a space and one initial.
    initial_only: ClassVar[bool] = False
    #: Nothing usable for an empty name: ask once per initial (:data:`PROBE_INITIALS`).
    probes: ClassVar[bool] = False
    #: The switch subject is read at the site (:func:`switch_subject`).
    reads_subject: ClassVar[bool] = False
    #: The kinds asked for after a qualifier's dot.
    member_kinds: ClassVar[frozenset[int] | None] = None

    def choose(self, facts: CompletionFacts, subject: str | None) -> Choice:
        """The names the answer at the site allows (``facts`` has entries)."""
        return Choice(_usable(facts.names))

    def members(self, facts: CompletionFacts, detail: str | None) -> frozenset[bytes]:
        """The members the answer after ``Qualifier.`` allows."""
        return _usable(facts.names)


class _AllNames(ItemSelect):
    __slots__ = ()
    entries = False


class _Concrete(ItemSelect):
    """Java ``new``: constructors that are not anonymous class bodies, and primitives."""

    __slots__ = ()
    initial_only = True

    def choose(self, facts: CompletionFacts, subject: str | None) -> Choice:
        # JDT: a constructor proposal is instantiable unless it is an anonymous class
        # (abstract class, interface); a Class item has no accessible constructor (KEM).
        concrete = [e for e in facts.entries if e.kind == K.Constructor and "{" not in e.text]
        # What may follow the type: "(" or "[", and "<" for generic types (JDT inserts "Name<>");
        # a primitive type only starts an array ("new int[n]").
        after = {e.name.encode(): _AFTER_GENERIC if e.text.startswith(e.name + "<") else _AFTER_CLASS
                 for e in concrete if e.name.isascii()}
        after.update(dict.fromkeys(_JAVA_PRIMITIVES, _AFTER_PRIMITIVE))
        return Choice(_usable(e.name for e in concrete) | _JAVA_PRIMITIVES, after=after)


class _ProbeInitials(ItemSelect):
    """Java ``case``: the enum constants JDT lists per initial (anything else: not an enum)."""

    __slots__ = ()
    probes = True

    def choose(self, facts: CompletionFacts, subject: str | None) -> Choice:
        if any(e.kind != K.EnumMember for e in facts.entries):
            return Choice(None, counter="not_enum")
        return Choice(_usable(e.name for e in facts.entries))


class _QualifiedEnums(ItemSelect):
    """TypeScript ``case``: an enum's name, then ``.`` and one of its members."""

    __slots__ = ()
    member_kinds = _kinds(K.EnumMember)

    def choose(self, facts: CompletionFacts, subject: str | None) -> Choice:
        return Choice(frozenset(), _usable(e.name for e in facts.entries if e.kind == K.Enum))


class _TypedConstants(ItemSelect):
    """Go ``case``: constants of the switch subject's type (gopls ``detail``)."""

    __slots__ = ()
    heeds_incomplete = False  # gopls marks every list incomplete (deep candidates): the names in scope are all there
    reads_subject = True
    member_kinds = _kinds(K.Constant)

    def choose(self, facts: CompletionFacts, subject: str | None) -> Choice:
        entries = facts.entries
        typ = next((e.detail for e in entries if subject and e.text == subject and e.detail), None)
        if typ is None:
            return Choice(None, counter="untyped_subject")
        pkg, dot, _ = typ.rpartition(".")
        if dot and "." not in pkg and IDENTIFIER.fullmatch(pkg):
            if any(e.kind == K.Module and e.name == pkg for e in entries):
                return Choice(frozenset(), _usable([pkg]), detail=typ)
            return Choice(None, counter="untyped_subject")
        return Choice(_usable(e.name for e in entries if e.kind == K.Constant and e.detail == typ and e.text == e.name),
                      detail=typ)

    def members(self, facts: CompletionFacts, detail: str | None) -> frozenset[bytes]:
        if facts.entries:
            return _usable(e.name for e in facts.entries if e.detail == detail)
        return _usable(facts.names)


#: Every name of the rule's kinds (no entries asked).
ALL_NAMES: Final = _AllNames()
#: Java ``new``.
CONCRETE: Final = _Concrete()
#: Java ``case``.
PROBE_INITIALS_SELECT: Final = _ProbeInitials()
#: TypeScript ``case``.
QUALIFIED_ENUMS: Final = _QualifiedEnums()
#: Go ``case``.
TYPED_CONSTANTS: Final = _TypedConstants()


@dataclass(frozen=True, slots=True)
class SiteRule:
    """Where a site monitor fires and which completion kinds count there, per language.

    ``keywords``: language -> keywords that open a site. ``import_dots``: the
    languages where a dot in an import statement opens one. ``kinds``: language ->
    completion item kinds whose names are allowed.
    """

    name: str
    keywords: dict[str, tuple[str, ...]]
    kinds: dict[str, frozenset[int]]
    import_dots: frozenset[str] = frozenset()
    strict: bool = False  # after the keyword only a name may follow the space
    #: language -> how items become names (see the module docstring). Absent: :data:`ALL_NAMES`.
    select: dict[str, ItemSelect] = field(default_factory=dict)

    def applies_to(self, language: str) -> bool:
        return language in self.keywords or language in self.import_dots


_TS_VALUES = _kinds(K.Class, K.Constructor, K.Variable, K.Constant, K.Module, K.Field, K.Property)
#: After ``new``: constructible types. JDT LS answers constructors (and classes);
#: typescript-language-server reports imported and global classes as variables
#: (``declare var AbortController: {new(): ...}``), so TS keeps value-like kinds.
INSTANTIATION = SiteRule(
    "instantiation",
    keywords={lang: ("new",) for lang in ("java", "typescript", "tsx", "javascript")},
    kinds={
        "java": _kinds(K.Constructor, K.Class),
        **{lang: _TS_VALUES for lang in ("typescript", "tsx", "javascript")},
    },
    strict=True,
    select={"java": CONCRETE},
)
#: After ``case``: the switch enum's members (Java: JDT's case-label proposals, one
#: initial at a time; TypeScript: ``EnumName.Member``; Go: constants of the subject's type).
ENUM_CASES = SiteRule(
    "enum_cases",
    keywords={lang: ("case",) for lang in ("java", "typescript", "tsx", "go")},
    kinds={
        "java": _kinds(K.EnumMember, K.Enum, K.Constant, K.Field),
        "typescript": _kinds(K.Enum, K.EnumMember),
        "tsx": _kinds(K.Enum, K.EnumMember),
        # Variables/fields: the item spelling the switch subject carries its type.
        "go": _kinds(K.Constant, K.EnumMember, K.Module, K.Variable, K.Field),
    },
    select={"java": PROBE_INITIALS_SELECT, "typescript": QUALIFIED_ENUMS, "tsx": QUALIFIED_ENUMS,
            "go": TYPED_CONSTANTS},
)
_PY_NAMES = frozenset(int(k) for k in K) - _kinds(K.Keyword, K.Snippet, K.Text)
#: ``from pkg import |``, ``import pkg.|``, ``from pkg.|`` (Python), ``import a.b.|`` (Java).
IMPORTS = SiteRule(
    "imports",
    keywords={"python": ("import",)},
    kinds={
        "python": _PY_NAMES,
        "java": _kinds(K.Module, K.Class, K.Interface, K.Enum, K.Struct, K.Folder),
    },
    import_dots=frozenset({"python", "java"}),
)


@dataclass(slots=True, init=False, eq=False, repr=False)
class SiteMonitor(CandidateMonitor[SiteDetector]):
    """Constrains the name at a site (see the module docstring). Pure: no I/O."""

    rule: SiteRule
    spec: LanguageSpec
    _keywords: tuple[str, ...]
    _dots: bool  # a dot in an import statement opens a site
    _kinds: frozenset[int] | None
    _select: ItemSelect
    _state: str
    _typed: bytes
    _need: CompletionNeed | None
    _need_space: bool
    _serial: int
    _site: int  # end of the keyword (or the dot) of the last site triggered
    _constraint: IdentifierConstraint | SpacedConstraint | PrefixConstraint | None
    _initial_only: bool  # incomplete list, strict: the first token is one initial
    _after: dict[bytes, frozenset[bytes]]  # Java new: what may follow a complete name
    _base: str  # generated text up to the name (with the space), for probes
    _probe_left: str
    _probe_names: frozenset[bytes]
    _qualifiers: frozenset[bytes]  # names that must go on with "." + member
    _members: frozenset[bytes]
    _member_phase: bool  # asking for the members after "Qualifier."
    _member_detail: str | None  # Go: the members' type
    _subject: str | None
    _strict: bool  # Java enum switches: set once the probes found constants

    def __init__(self, rule: SiteRule, spec: LanguageSpec, prefix: str = "", doc: Document | None = None) -> None:
        """``doc``: the sequence's document holding ``prefix`` (shared with the other
        monitors: :func:`monitors.registry.build_monitors`); None: one of its own."""
        self._start(_EXTRA_KEYS)
        self.rule = rule
        self.spec = spec
        self._keywords = rule.keywords.get(spec.name, ())
        self._dots = spec.name in rule.import_dots
        self._kinds = rule.kinds.get(spec.name)
        self._select = rule.select.get(spec.name, ALL_NAMES)
        self._detector = SiteDetector(spec, prefix, doc)
        self._serial = 0
        self._site = -1
        self._base = ""
        self._subject = None
        self._to_idle()
        if prefix:
            self._scan(prefix)

    # ------------------------------------------------------------------ protocol

    @property
    def state(self) -> str:
        return self._state

    def _advance(self, data: bytes, chars: str) -> None:
        if self._state == _IDLE:
            self._scan(chars)
            return
        if self._state in (_QWAIT, _QDOT):
            self._feed_dot(data, chars)
            return
        if self._need_space:
            if data[0] != _SPACE:
                self._end_site("not_site", chars)
                return
            self._need_space = False
            self._constraint = None
            data = data[1:]
            if not data:
                return
        run = len(data) - len(data.lstrip(IDENT_BYTES))
        typed = self._typed + data[:run]
        self._typed = typed
        if self._state == _REASK:
            self._initial_only = False
            if run < len(data) or not typed:
                self._to_idle()
                self._scan(chars)
            else:
                self._stats.extra["rerequests"] += 1
                self._state = _WAITING
                self._serial += 1
                self._need = self._completion_need(self._utf8.chars, self.generated)
            return
        if self._state in (_WAITING, _PROBE):
            if run < len(data):
                self._end_site("missed" if typed else "not_site", chars)
            return
        if run < len(data):
            if typed and typed in self._qualifiers and data[run] == _DOT:
                self._member_site(data[run + 1 :], chars)
                return
            ok = typed in self._live and data[run : run + 1] in self._after.get(typed, (data[run : run + 1],))
            self._end_site(("accepted" if ok else "violations") if typed else "not_site", chars)
            return
        if not self._narrow(typed):
            return
        self._constraint = None
        if self._live == [typed] and typed in self._qualifiers:
            self._ask_members()

    def need(self) -> CompletionNeed | None:
        return self._need

    def provide(self, facts: Facts) -> None:
        need = self._need
        if need is None or facts.serial != need.serial or not isinstance(facts, CompletionFacts):
            self._stats.extra["stale_facts"] += 1
            return
        self._need = None
        if not facts.ok:
            self._fail_open()
            return
        if self._state == _PROBE:
            self._provide_probe(facts)
            return
        if self._state == _QWAIT:
            members = self._member_names(facts)
            if not members:
                self._fail_open()
                return
            self._members = members
            self._state = _QDOT
            self._constraint = None
            return
        if self._member_phase:  # after "Qualifier.": its members (the answer is the whole list)
            usable, qualifiers = self._member_names(facts), frozenset()
            incomplete = False
        else:
            usable, qualifiers = self._choose(facts)
            incomplete = facts.incomplete and self._select.heeds_incomplete
        if usable is None:
            self._to_idle()
            return
        if incomplete and not self._typed:
            # JDT LS after "new ": a few constructors and isIncomplete. Forbidding the
            # rest would be wrong: ask again once the name has a prefix (Java: one initial).
            self._stats.extra["incomplete_open"] += 1
            self._state = _REASK
            self._initial_only = self._select.initial_only
            return
        if not usable and not qualifiers and self._select.probes and not self._typed:
            self._start_probe()
            return
        self._qualifiers = qualifiers
        cands = usable | qualifiers
        live = sorted(c for c in cands if c.startswith(self._typed))
        if not live:
            if cands and not incomplete:
                self._stats.extra["violations"] += 1
            else:
                self._stats.failed_lookups += 1
            self._to_idle()
            return
        self._activate(live)
        if self._typed and live == [self._typed] and self._typed in qualifiers:
            self._ask_members()

    def constraint(self) -> IdentifierConstraint | SpacedConstraint | PrefixConstraint | None:
        if self._state == _REASK and self.rule.strict and not self._typed:
            if self._initial_only:
                # One initial character, then the complete list for it is asked.
                initials = IdentifierConstraint(_TYPE_INITIALS, b"")
                return SpacedConstraint(initials, strict=True) if self._need_space else initials
            # Some name (the list was incomplete), not "new 16".
            return SpacedConstraint(None, strict=True, spaced=self._need_space)
        if self._state == _QDOT:
            c = self._constraint
            if c is None:
                c = self._constraint = PrefixConstraint(b".", IdentifierConstraint(self._members, b""))
            return c
        if self._state != _ACTIVE:
            return None
        c = self._constraint
        if c is None and self._live == [self._typed] and self._typed in self._after:
            # "new Lion" is complete: "(" or "[" (or "<" for a generic type) must follow, not ".x".
            first, *rest = sorted(self._after[self._typed])
            c = self._constraint = PrefixConstraint(first, alternatives=frozenset(rest))
        if c is None:
            if self._need_space:
                c = SpacedConstraint(IdentifierConstraint(frozenset(self._live), b""), self._strict)
            else:
                c = IdentifierConstraint(frozenset(self._live), self._typed)
            self._constraint = c
        return c

    # ------------------------------------------------------------------ selection

    def _completion_need(self, offset: int, generated: str, kinds: frozenset[int] | None = None) -> CompletionNeed:
        kinds = self._kinds if kinds is None else kinds
        return CompletionNeed(offset, generated, self._serial, kinds, entries=self._select.entries)

    def _choose(self, facts: CompletionFacts) -> tuple[frozenset[bytes] | None, frozenset[bytes]]:
        """(allowed names, qualifiers) from an answer at the site; None: no opinion (counted)."""
        if not facts.entries:
            return _usable(facts.names), frozenset()
        choice = self._select.choose(facts, self._subject)
        if choice.counter is not None:
            self._stats.extra[choice.counter] += 1
        if choice.after is not None:
            self._after = choice.after
        if choice.detail is not None:
            self._member_detail = choice.detail
        return choice.names, choice.qualifiers

    def _member_names(self, facts: CompletionFacts) -> frozenset[bytes]:
        return self._select.members(facts, self._member_detail)

    def _start_probe(self) -> None:
        """Java case labels: ask at ``case A``, ``case B``, ... and take the union."""
        self._state = _PROBE
        self._probe_left = PROBE_INITIALS
        self._probe_names = frozenset()
        self._next_probe()

    def _next_probe(self) -> None:
        ch, self._probe_left = self._probe_left[0], self._probe_left[1:]
        self._serial += 1
        self._stats.extra["probes"] += 1
        self._need = self._completion_need(len(self._base) + 1, self._base + ch)

    def _provide_probe(self, facts: CompletionFacts) -> None:
        names, _ = self._choose(facts)
        if names is None:  # not an enum switch
            self._to_idle()
            return
        self._probe_names |= names
        if self._probe_left:
            self._next_probe()
            return
        live = sorted(self._probe_names)
        if not live:
            self._fail_open()
            return
        self._activate(live)
        self._strict = True  # a Java enum case label is a constant's name, never a literal

    def _ask_members(self) -> None:
        """The qualifier is complete: ask for its members as if the dot were typed."""
        self._stats.extra["qualified"] += 1
        self._state = _QWAIT
        self._serial += 1
        self._constraint = None
        gen = self.generated
        self._need = self._completion_need(self._utf8.chars + 1, gen + ".", self._select.member_kinds)

    def _feed_dot(self, data: bytes, chars: str) -> None:
        """After a qualifier: the token must start with the dot, then a member."""
        if data[0] != _DOT:
            self._end_site("violations", chars)
            return
        rest = data[1:]
        if self._state == _QWAIT:  # the members' answer has not come yet: ask at the dot
            self._need = None
            self._member_site(rest, chars)
            return
        run = len(rest) - len(rest.lstrip(IDENT_BYTES))
        typed = rest[:run]
        live = sorted(c for c in self._members if c.startswith(typed))
        if run < len(rest):
            self._end_site("accepted" if typed in self._members else "violations", chars)
            return
        self._typed = typed
        self._qualifiers = frozenset()
        self._constraint = None
        if not live:
            self._stats.extra["violations"] += 1
            self._to_idle()
            return
        self._activate(live)

    def _member_site(self, rest: bytes, chars: str) -> None:
        """A dot after a qualifier was generated: the member is asked for at the dot."""
        run = len(rest) - len(rest.lstrip(IDENT_BYTES))
        if run < len(rest):
            self._end_site("missed", chars)
            return
        self._state = _WAITING
        self._typed = rest
        self._qualifiers = frozenset()
        self._live = []
        self._constraint = None
        self._serial += 1
        self._need = self._completion_need(self._utf8.chars, self.generated, self._select.member_kinds)
        self._members = frozenset()
        self._member_phase = True

    # ------------------------------------------------------------------ internals

    def _scan(self, chars: str) -> None:
        """IDLE: does the text now end at a site (one not triggered before)?"""
        if not chars:
            return
        det = self._detector
        text = det.text
        n = len(text)
        word_start = n - trailing_ident_length(text)
        ws = word_start
        while ws > 0 and text[ws - 1] in " \t":
            ws -= 1
        for kw in self._keywords:
            if word_start == n - len(kw) and text.endswith(kw):
                # "new" at the very end: ask as if the space were there.
                if n != self._site and det.keyword_site(kw):
                    self._site = n
                    self._trigger(b"", need_space=True)
                return
            if ws < word_start and ws != self._site and text.endswith(kw, 0, ws) and det.keyword_site(kw, ws):
                # "new " or "new Ci" (the keyword came with the space or earlier).
                self._site = ws
                self._trigger(text[word_start:].encode("utf-8", "surrogatepass"), need_space=False)
                return
        if self._dots and word_start > 0 and text[word_start - 1] == ".":
            dot = word_start - 1
            if dot != self._site and det.import_dot_site(dot):
                self._site = dot
                self._trigger(text[word_start:].encode("utf-8", "surrogatepass"), need_space=False)

    def _trigger(self, typed: bytes, *, need_space: bool) -> None:
        self._state = _WAITING
        self._typed = typed
        self._need_space = need_space
        self._live = []
        self._constraint = None
        self._qualifiers = frozenset()
        self._members = frozenset()
        self._member_phase = False
        self._member_detail = None
        self._stats.triggers += 1
        if typed:
            self._stats.late_triggers += 1
        self._serial += 1
        gen = self.generated
        if self._select.reads_subject:
            self._subject = switch_subject(self._detector.text)
        if need_space:
            self._base = gen + " "
            self._need = self._completion_need(self._utf8.chars + 1, gen + " ")
        else:
            self._base = gen[: len(gen) - len(typed.decode("utf-8", "replace"))]
            self._need = self._completion_need(self._utf8.chars, gen)

    def _activate(self, live: list[bytes]) -> None:
        """Constrain to the ``live`` names (the constraint is rebuilt on demand)."""
        self._live = live
        self._constraint = None
        self._state = _ACTIVE

    def _end_site(self, outcome: str, chars: str) -> None:
        """The site ended (``outcome``: the counter to count): idle, then look for a new
        site in ``chars``, the characters fed last."""
        self._stats.extra[outcome] += 1
        self._to_idle()
        self._scan(chars)

    def _fail_open(self) -> None:
        """The server gave nothing usable at this site: no opinion (counted)."""
        self._stats.failed_lookups += 1
        self._to_idle()

    def _to_idle(self) -> None:
        self._state = _IDLE
        self._need = None
        self._need_space = False
        self._typed = b""
        self._live = []
        self._constraint = None
        self._initial_only = False
        self._qualifiers = frozenset()
        self._members = frozenset()
        self._member_phase = False
        self._member_detail = None
        self._probe_left = ""
        self._probe_names = frozenset()
        self._strict = self.rule.strict
        self._after = {}


def _usable(names: Iterable[str]) -> frozenset[bytes]:
    """Names as UTF-8 bytes, keeping only those made of identifier bytes."""
    out = set()
    for name in names:
        raw = name.encode("utf-8", "surrogatepass")
        if raw and not raw.lstrip(IDENT_BYTES):
            out.add(raw)
    return frozenset(out)


def switch_subject(text: str) -> str | None:
    """The expression the innermost still-open ``switch`` in ``text`` tests, as written
    (``switch l {`` -> ``l``; Go ``switch x := f(); x.kind {`` -> ``x.kind``; ``switch (s) {`` -> ``s``).

    None when there is none or it is a Go type switch (``.(type)``).
    """
    for m in reversed(list(_SWITCH.finditer(text))):
        brace = text.find("{", m.end())
        if brace < 0:
            continue
        body = text[brace:]
        if body.count("{") <= body.count("}"):
            continue  # that switch is closed
        header = text[m.end() : brace].rsplit(";", 1)[-1].strip()
        if header.startswith("(") and header.endswith(")"):
            header = header[1:-1].strip()
        if not header or ".(type)" in header:
            return None
        return header
    return None
