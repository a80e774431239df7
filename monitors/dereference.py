"""The dereference monitor: after ``obj.`` only members of ``obj`` may follow.

:class:`DereferenceMonitor` implements :class:`~monitors.base.Monitor`. It is fed
the bytes the model generates, notices a member-access dot at the end of the text
(with :class:`~monitors.triggers.TriggerDetector`; in Rust also a ``::`` path
separator, which works the same way), asks for the server's
completions there (:meth:`need`), and once given them (:meth:`provide`) constrains
the identifier after the dot to one of the names (:meth:`constraint`).

States::

    IDLE --dot--> WAITING --provide(ok, usable names)--> ACTIVE --break byte--> IDLE
                     |  \\--provide(not ok / nothing usable)--> IDLE (failed lookup)
                     \\--break byte before the facts came--> IDLE ("missed")

Trigger. After a feed, if the text ends with ``.`` plus identifier characters
and that dot is a real member access (not in a string, comment, number, import;
see :mod:`monitors.triggers`), the monitor goes WAITING with a
:class:`~monitors.base.CompletionNeed` whose ``offset`` is the end of the
generated text (right after the identifier characters already typed, which
become ``typed``). A dot at the end of the prompt triggers before anything is
fed (``offset == 0``). A dot followed by identifier characters in the same token
(``.get``, or a healed ``x.ge``) still triggers: a *late* trigger. Only the last
dot of each fed chunk can trigger: a dot followed by a break character within the
same chunk (``foo.bar(``) is already past.

While WAITING the constraint is None; identifier bytes fed meanwhile extend
``typed`` (the need stays the same), a break byte abandons the need.

ACTIVE. The candidates are the names (UTF-8) that start with ``typed``; they
narrow as identifier bytes arrive. The first break byte ends the identifier:
accepted when ``typed`` is a candidate, else a violation; then IDLE and the rest
of the chunk is checked for a new trigger (``().`` after ``foo``, ``a.b.``). If
``typed`` stops being a prefix of every candidate (the glue let something else
through), the monitor counts a violation and goes IDLE. When the facts were
``incomplete``, each growth of ``typed`` issues a new need at the new end; until
it is answered the constraint keeps the narrowed old candidates, and the answer
replaces them.

Counters: ``triggers``, ``late_triggers``, ``failed_lookups`` (facts not ok, or no
usable identifier name) and, in ``extra``: ``violations``, ``accepted``,
``missed`` (an identifier finished while facts were awaited), ``stale_facts``
(answers to a need that is no longer current) and ``rerequests``. The glue counts
``constrained_steps``, ``fallbacks`` and ``lsp_ms``.

Definition sites (``definition_sites=True``, Python only): after ``self.`` at the start
of a statement a name
the server does not list is allowed too, but only where it is being assigned
(:class:`~monitors.base.DefinitionConstraint`, rule in :mod:`monitors.definitions`):
``self.total = 0`` defines ``total``; ``self.total.append(x)`` with an unlisted
``total`` stays forbidden. When the new name ends with blanks (or ``+``, ``=``,
which may still become ``+=``/``==``) the monitor is PENDING until the assignment
is certain; a new name of :data:`MAX_NEW_NAME` bytes ends there (PENDING: the assignment
must start). The engine's token budget (:meth:`DereferenceMonitor.set_budget`) counts too:
on its last token a new name must end with a certain assignment, or only listed names may
be spelled (a name cut by the budget would be a member that neither exists nor is defined).
Counters: ``definitions`` (new names assigned).

Per language, the monitor takes a :class:`MemberRules` (:data:`MEMBER_RULES`), chosen
once at construction: whether definition sites apply, and the expected-types strategy
(:class:`~monitors.type_rules.TypeRules`) each option selects.

Expected types (``expected_types=True``, Java and Python): the need asks for the items'
types (:attr:`~monitors.base.CompletionNeed.entries`) and, in Java, members the site cannot use
are dropped (:mod:`monitors.java_types`): ``void`` methods where the access is part of a
larger expression; with ``strict_types`` also primitive members where a class type is
expected (``Book b = lib.``). Never every candidate: then the rule fails open. Where the
expected type is known (a declaration, ``return`` in a typed method), the members whose
type fits it are *preferred* (:attr:`~monitors.base.IdentifierConstraint.preferred`,
bonus :data:`PREFER_BONUS` on their logits; nothing forbidden). Where the access starts
an argument of a call (``f(a, obj.``), the monitor asks ``signatureHelp`` there once the
completions have come (a second need, answered in the same step by blocking engines)
and prefers the members whose type fits that parameter in some overload
(:func:`~monitors.java_types.parameter_types`). Counters: ``type_filtered`` (names
dropped), ``type_open`` (sites where the rule would have dropped every candidate),
``type_arguments`` (argument sites where the parameter types gave a preference).
Python (:mod:`monitors.python_types`) has the preference only, nothing is dropped; its
servers report member types only for resolved items, so the need asks for them
(:attr:`~monitors.base.CompletionNeed.types`) only at a site with an expected type or at
a call argument. Each site starts without the last one's member and parameter types.

Costs: a fed chunk without a dot candidate costs a UTF-8 decode, two list appends
and one ``bytes.rstrip`` (about a microsecond); only a dot candidate runs the
detector (an incremental reparse).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from monitors.base import (
    CandidateMonitor,
    CompletionFacts,
    CompletionNeed,
    DefinitionConstraint,
    IdentifierConstraint,
    SignatureFacts,
    SignatureNeed,
)
from monitors.definitions import assignment_state, self_statement
from monitors.document import Document
from monitors.identifiers import IDENT_BYTES, trailing_ident_length
from monitors.java_types import JAVA_STRICT_TYPES, JAVA_TYPES
from monitors.languages import LanguageSpec
from monitors.python_types import PYTHON_TYPES
from monitors.triggers import TriggerDetector
from monitors.type_rules import NO_SITE, TypeRules, TypeSite

__all__ = ["MEMBER_RULES", "DereferenceMonitor", "MemberRules"]

_IDLE: Final = "idle"
_WAITING: Final = "waiting"
_ACTIVE: Final = "active"
_PENDING: Final = "pending"  # definition sites: a new name ended, its assignment is not certain yet
_EXTRA_KEYS = ("violations", "accepted", "missed", "stale_facts", "rerequests", "rerequest_failures", "definitions",
               "type_filtered", "type_open", "type_arguments", "type_reach")

#: Definition sites: a new name this long (bytes) must be followed by its assignment (a
#: model that does not want to assign would otherwise spell an ever longer name).
MAX_NEW_NAME: Final = 40
#: Reach probes per site: class types among the members whose own members are asked about.
MAX_REACH_PROBES: Final = 2
#: Logit bonus for members whose type fits the expected type (expected types; soft).
PREFER_BONUS: Final = 3.0


@dataclass(frozen=True, slots=True)
class MemberRules:
    """What the dereference monitor does differently in one language.

    ``types``: the expected-types strategy of ``expected_types`` (None: the option does
    nothing there); ``strict_types``: that of ``expected_types_strict``;
    ``definition_sites``: ``self.x = ...`` defines ``x`` (a dynamic language)."""

    types: TypeRules | None = None
    strict_types: TypeRules | None = None
    definition_sites: bool = False

    def type_rules(self, *, expected_types: bool, strict_types: bool) -> TypeRules | None:
        """The strategy the options select (None: expected types off)."""
        return self.strict_types if strict_types else self.types if expected_types else None


#: Per language (by :attr:`LanguageSpec.name`); any other language: :class:`MemberRules` ().
MEMBER_RULES: Final = {
    "java": MemberRules(JAVA_TYPES, JAVA_STRICT_TYPES),
    "python": MemberRules(PYTHON_TYPES, PYTHON_TYPES, definition_sites=True),  # the preference only
}
_PLAIN: Final = MemberRules()


def _raw(name: str) -> bytes:
    return name.encode("utf-8", "surrogatepass")


@dataclass(slots=True, init=False, eq=False, repr=False)
class DereferenceMonitor(CandidateMonitor[TriggerDetector]):
    """Constrains the identifier after a member-access dot to the server's names.

    ``DereferenceMonitor(spec, prefix)``: ``prefix`` is the document text before
    the generation point (the prompt). ``definition_sites``, ``expected_types``,
    ``strict_types``: see the module docstring (each applies where the language's
    :class:`MemberRules` has it; ignored elsewhere). Pure: no I/O, no threads, no torch.
    """

    spec: LanguageSpec
    _types: TypeRules | None  # expected types' strategy (None: off)
    _defsites: bool  # definition sites on
    _trigger_bytes: frozenset[int]
    _state: str
    _typed: bytes
    _need: CompletionNeed | SignatureNeed | None
    _serial: int
    _incomplete: bool
    _constraint: IdentifierConstraint | DefinitionConstraint | None
    _defsite: bool  # this site is a definition site
    _after: bytes  # PENDING: the text after the new name
    _site: TypeSite  # expected types: what the text says about this site
    _accepted: tuple[str, ...]  # an argument's parameter types (from signatureHelp)
    _member_types: dict[str, frozenset[str]]
    _callables: frozenset[str]  # members the server reports as methods
    _probes: tuple[tuple[str, frozenset[str]], ...]  # (type, its members) still to ask about
    _probe_serial: int
    _preferred: frozenset[bytes]
    _last: bool  # the engine's token budget ends with the next token

    def __init__(self, spec: LanguageSpec, prefix: str = "", *, definition_sites: bool = False,
                 expected_types: bool = False, strict_types: bool = False, doc: Document | None = None) -> None:
        """``doc``: the sequence's document holding ``prefix`` (shared with the other
        monitors: :func:`monitors.registry.build_monitors`); None: one of its own."""
        self._start(_EXTRA_KEYS)
        self.spec = spec
        rules = MEMBER_RULES.get(spec.name, _PLAIN)
        self._types = rules.type_rules(expected_types=expected_types, strict_types=strict_types)
        self._defsites = definition_sites and rules.definition_sites
        self._last = False
        self._detector = TriggerDetector(spec, prefix, doc)
        self._trigger_bytes = frozenset(ord(c) for c in self._detector.trigger_chars)
        self._serial = 0
        self._callables = frozenset()
        self._probe_serial = -1
        self._defsite = False
        self._to_idle()
        self._new_site(NO_SITE)
        run = trailing_ident_length(prefix)
        dot = len(prefix) - run - 1
        if dot >= 0 and self._detector.is_member_access(dot):
            self._trigger(_raw(prefix[dot + 1 :]), dot)

    # ------------------------------------------------------------------ protocol

    @property
    def state(self) -> str:
        """``"idle"``, ``"waiting"`` (for facts), ``"active"`` (constraining) or ``"pending"``."""
        return self._state

    @property
    def typed(self) -> bytes:
        """The identifier bytes after the dot so far (meaningful when not idle)."""
        return self._typed

    def _advance(self, data: bytes, chars: str) -> None:
        state = self._state
        if state == _IDLE:
            self._scan(data, chars)
            return
        if state == _PENDING:
            self._after += data
            verdict = assignment_state(self._after)
            if verdict == "partial":
                self._constraint = None
                return
            self._stats.extra["definitions" if verdict == "ok" else "violations"] += 1
            self._to_idle()
            self._scan(data, chars)
            return
        run = len(data) - len(data.lstrip(IDENT_BYTES))
        typed = self._typed + data[:run]
        self._typed = typed
        if state == _WAITING:
            if run < len(data):
                self._stats.extra["missed"] += 1
                self._to_idle()
                self._scan(data, chars)
            return
        # ACTIVE
        if run < len(data):
            if typed in self._live:
                self._stats.extra["accepted"] += 1
            elif self._defsite and typed:
                verdict = assignment_state(data[run:])
                if verdict == "partial":
                    self._state = _PENDING
                    self._after = data[run:]
                    self._constraint = None
                    return
                self._stats.extra["definitions" if verdict == "ok" else "violations"] += 1
            else:
                self._stats.extra["violations"] += 1
            self._to_idle()
            self._scan(data, chars)
            return
        if self._defsite and not any(c.startswith(typed) for c in self._live):  # a new name: it must be assigned
            self._live = []
            self._incomplete = False
            self._constraint = None
            if len(typed) >= MAX_NEW_NAME:  # long enough: the assignment must start now
                self._state = _PENDING
                self._after = b""
            return
        if not self._narrow(typed):
            return
        self._constraint = None
        if self._incomplete:
            self._stats.extra["rerequests"] += 1
            self._new_need()

    def need(self) -> CompletionNeed | SignatureNeed | None:
        """The pending need, or None. The same object until provided or abandoned."""
        return self._need

    def provide(self, facts: CompletionFacts | SignatureFacts) -> None:
        """Hand over the answer to the current need; other serials are ignored."""
        need = self._need
        if need is None or facts.serial != need.serial:
            self._stats.extra["stale_facts"] += 1
            return
        self._need = None
        if isinstance(facts, SignatureFacts):
            self._prefer_parameter_types(facts)
            if not self._preferred:
                self._probe_reach()
            return
        if facts.serial == self._probe_serial:
            self._reached(facts)
            return
        rerequest = self._state == _ACTIVE
        if not facts.ok:
            self._stats.failed_lookups += 1
            if rerequest:
                self._keep_candidates()
            else:
                self._to_idle()
            return
        usable: list[bytes] = []
        for name in self._usable_names(facts):
            raw = _raw(name)
            if raw and not raw.lstrip(IDENT_BYTES):
                usable.append(raw)
        typed = self._typed
        live = [c for c in usable if c.startswith(typed)]
        if not live and rerequest:
            # A re-request of an incomplete list came back empty: the names we
            # already have are still known to be legal, so keep narrowing them.
            self._stats.failed_lookups += 1
            self._keep_candidates()
            return
        if not live and usable and self._defsite:  # a late trigger that already spells a new name
            self._live = []
            self._incomplete = False
            self._constraint = None
            self._state = _ACTIVE
            return
        if not live:
            if usable and not facts.incomplete:
                self._stats.extra["violations"] += 1  # typed is already off the list
            else:
                self._stats.failed_lookups += 1
            self._to_idle()
            return
        live.sort()
        self._live = live
        self._incomplete = facts.incomplete
        self._constraint = None
        self._state = _ACTIVE
        if self._site.argument is not None and not rerequest and self._member_types:
            self._serial += 1  # the parameter types at this argument: a second need
            self._need = SignatureNeed(offset=self._utf8.chars, generated=self.generated, serial=self._serial)
        elif self._site.expected is not None and not rerequest and not self._preferred:
            self._probe_reach()

    def constraint(self) -> IdentifierConstraint | DefinitionConstraint | None:
        """ACTIVE: the names still possible and ``typed`` (a definition site: or a new
        name being assigned); PENDING: an assignment must follow; otherwise None."""
        state = self._state
        if state == _IDLE or state == _WAITING:
            return None
        c = self._constraint
        if c is None:
            if state == _PENDING:
                c = DefinitionConstraint(frozenset(), b"", self._after, self._last)
            elif self._defsite:
                c = DefinitionConstraint(frozenset(self._live), self._typed, last=self._last)
            elif self._preferred:
                live = frozenset(self._live)
                preferred = self._preferred & live
                c = IdentifierConstraint(live, self._typed, preferred,
                                         PREFER_BONUS if preferred and preferred != live else 0.0)
            else:
                c = IdentifierConstraint(frozenset(self._live), self._typed)
            self._constraint = c
        return c

    def set_budget(self, left: int | None) -> None:
        """The engine may sample at most ``left`` more tokens, this step's included (the
        guide says so before each step; None: no budget). Definition sites only: on the
        last one a new name must end with its assignment (a name the budget cuts would
        stand unassigned and unlisted)."""
        last = left is not None and left <= 1
        if last != self._last:
            self._last = last
            if self._defsite or self._state == _PENDING:
                self._constraint = None

    # ------------------------------------------------------------------ expected types

    def _targets(self) -> tuple[str, ...]:
        expected = self._site.expected
        return (expected,) if expected is not None else self._accepted

    def _probe_reach(self) -> None:
        """No live member fits the expected type: ask the server what the members of up to
        :data:`MAX_REACH_PROBES` class types among them hold (a completion after
        ``member().``, a need per type, one after another); members of a type that holds
        a fitting member are then preferred (:meth:`_reached`)."""
        rules = self._types
        if rules is None or self._state != _ACTIVE or not self._targets() or not self._member_types:
            return
        live = set(self._live)
        by_type: dict[str, set[str]] = {}
        for name, types in self._member_types.items():
            if _raw(name) in live and not rules.universal_member(name):
                for t in types:
                    if rules.probe_type(t) and not any(rules.fits(t, x) for x in self._targets()):
                        by_type.setdefault(t, set()).add(name)
        order = sorted(by_type, key=lambda t: (-len(by_type[t]), t))[:MAX_REACH_PROBES]
        self._probes = tuple((t, frozenset(by_type[t])) for t in order)
        self._next_probe()

    def _next_probe(self) -> None:
        if not self._probes or self._state != _ACTIVE or self._types is None:
            self._probes = ()
            return
        _t, names = self._probes[0]
        member = min(names)
        typed = self._typed.decode("utf-8", "replace")
        gen = self.generated
        base = gen[: len(gen) - len(typed)] if typed and gen.endswith(typed) else gen
        text = base + member + ("()" if member in self._callables else "") + "."
        self._serial += 1
        self._probe_serial = self._serial
        self._need = CompletionNeed(offset=len(text), generated=text, serial=self._serial, entries=True,
                                    types=self._types.resolve)

    def _reached(self, facts: CompletionFacts) -> None:
        """A probe's answer: its type's members are preferred if it holds a fitting member
        (not one every object has: ``hashCode``, ``toString``, dunders)."""
        (_t, names), self._probes = self._probes[0], self._probes[1:]
        rules = self._types
        assert rules is not None  # probes are asked only with expected types
        if facts.ok and any(rules.fits(rules.member_type(e.detail), x) for e in facts.entries
                            if not rules.universal_member(e.name) for x in self._targets()):
            self._preferred |= frozenset(_raw(n) for n in names)
            self._constraint = None
            self._stats.extra["type_reach"] += 1
        self._next_probe()

    def _prefer_parameter_types(self, facts: SignatureFacts) -> None:
        """Prefer the members whose type fits the argument's parameter (some overload)."""
        rules = self._types
        argument = self._site.argument
        if rules is None or not facts.ok or self._state != _ACTIVE or argument is None:
            return
        self._accepted = rules.parameter_types(facts.signatures, argument)
        fit = {n for n, types in self._member_types.items()
               if any(rules.fits(t, a) for t in types for a in self._accepted)}
        if fit:  # (the constraint gives no bonus when every live name fits)
            self._preferred = frozenset(_raw(n) for n in fit)
            self._constraint = None
            self._stats.extra["type_arguments"] += 1

    def _usable_names(self, facts: CompletionFacts) -> frozenset[str]:
        """The facts' names, less the members the site cannot use (expected types)."""
        names = facts.names
        rules = self._types
        if rules is None or not facts.entries:
            return names  # (a re-request without details keeps the preference it had)
        self._preferred = frozenset()
        keep: set[str] = set()
        drop: set[str] = set()
        fit: set[str] = set()
        types: dict[str, set[str]] = {}
        self._callables = frozenset(e.name for e in facts.entries if e.kind in (2, 3, 4))  # method, function, ctor
        targets = self._targets()
        site = self._site
        type_of, fit_of, drops = rules.member_type, rules.fits, rules.drops
        for e in facts.entries:
            t = type_of(e.detail)
            if t is not None and e.name in names:
                types.setdefault(e.name, set()).add(t)
            (drop if drops(t, site) else keep).add(e.name)
            if any(fit_of(t, x) for x in targets):
                fit.add(e.name)
        if fit & names and fit & names != names:
            self._preferred = frozenset(_raw(n) for n in fit & names)
        dropped = (drop - keep) & names
        self._member_types = {n: frozenset(ts) for n, ts in types.items() if n not in dropped}
        if not dropped:
            return names
        left = names - dropped
        if not any(_raw(n).startswith(self._typed) for n in left):
            self._stats.extra["type_open"] += 1
            return names
        self._stats.extra["type_filtered"] += len(dropped)
        return left

    def _keep_candidates(self) -> None:
        """Stay ACTIVE on the current candidates and stop re-requesting."""
        self._incomplete = False
        self._stats.extra["rerequest_failures"] += 1

    # ------------------------------------------------------------------ internals

    def _scan(self, data: bytes, chars: str) -> None:
        """IDLE: does this chunk end with a member-access dot (plus identifier bytes)?"""
        head = data.rstrip(IDENT_BYTES)
        if not head or head[-1] not in self._trigger_bytes:
            return
        # The dot (or ``:``) is ASCII, so it is in ``chars``; nothing after it is
        # another trigger character.
        detector = self._detector
        dot = len(detector) - len(chars) + max(map(chars.rfind, detector.trigger_chars))
        if detector.is_member_access(dot):
            self._trigger(data[len(head) :], dot)

    def _trigger(self, typed: bytes, dot: int) -> None:
        self._typed = typed
        self._defsite = self._defsites and self_statement(self._detector.text, dot)
        if self._types is not None:
            self._new_site(self._types.site(self._detector.text, dot, self._detector.document))
        self._state = _WAITING
        self._live = []
        self._incomplete = False
        self._constraint = None
        stats = self._stats
        stats.triggers += 1
        if typed:
            stats.late_triggers += 1
        self._new_need()

    def _new_site(self, site: TypeSite) -> None:
        """Expected types: forget the last site's member and parameter types."""
        self._site = site
        self._member_types = {}
        self._accepted = ()
        self._preferred = frozenset()
        self._probes = ()

    def _new_need(self) -> None:
        self._serial += 1
        rules = self._types
        site = self._site
        resolve = rules is not None and rules.resolve and (site.expected is not None or site.argument is not None)
        self._need = CompletionNeed(offset=self._utf8.chars, generated=self.generated, serial=self._serial,
                                    entries=rules is not None, types=resolve)

    def _to_idle(self) -> None:
        self._state = _IDLE
        self._preferred = frozenset()
        self._probes = ()
        self._after = b""
        self._need = None
        self._typed = b""
        self._live = []
        self._incomplete = False
        self._constraint = None
