"""Completion-based monitors beyond member access: instantiation, enum cases, imports.

Each is a :class:`SiteMonitor` with a :class:`SiteRule`: *where* it fires (a
keyword such as ``new``/``case``/``import``, or a dot inside an import statement;
see :mod:`monitors.sites`) and *which* completion item kinds count there. The
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

Counters (``extra``): ``violations``, ``accepted``, ``missed``, ``not_site``,
``incomplete_open``, ``rerequests``, ``stale_facts``; ``triggers``/``failed_lookups`` as usual.
"""

from __future__ import annotations

import codecs
import dataclasses
from dataclasses import dataclass
from typing import Final

from lsprotocol.types import CompletionItemKind as K

from monitors.base import (
    CompletionFacts,
    CompletionNeed,
    Facts,
    IdentifierConstraint,
    MonitorStats,
    SpacedConstraint,
)
from monitors.languages import LanguageSpec
from monitors.sites import SiteDetector
from monitors.triggers import IDENT_BYTES, trailing_ident_length

__all__ = ["ENUM_CASES", "IMPORTS", "INSTANTIATION", "SiteMonitor", "SiteRule"]

_IDLE: Final = "idle"
_WAITING: Final = "waiting"
_ACTIVE: Final = "active"
_REASK: Final = "reask"  # an incomplete list came for an empty name: ask again once it has a prefix
_SPACE: Final = 0x20
_EXTRA_KEYS = ("violations", "accepted", "missed", "not_site", "incomplete_open", "rerequests", "stale_facts")

_Utf8Decoder = codecs.getincrementaldecoder("utf-8")


def _kinds(*kinds: K) -> frozenset[int]:
    return frozenset(int(k) for k in kinds)


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
)
#: After ``case``: enum members (Java answers the switch's enum constants only;
#: TypeScript the enums in scope (``case Color.Red``: the member follows a dot);
#: gopls the constants).
ENUM_CASES = SiteRule(
    "enum_cases",
    keywords={lang: ("case",) for lang in ("java", "typescript", "tsx", "go")},
    kinds={
        "java": _kinds(K.EnumMember, K.Enum, K.Constant, K.Field),
        "typescript": _kinds(K.Enum, K.EnumMember),
        "tsx": _kinds(K.Enum, K.EnumMember),
        "go": _kinds(K.Constant, K.EnumMember),
    },
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


class SiteMonitor:
    """Constrains the name at a site (see the module docstring). Pure: no I/O."""

    __slots__ = (
        "_constraint",
        "_decoder",
        "_detector",
        "_gen_len",
        "_kinds",
        "_keywords",
        "_live",
        "_need",
        "_need_space",
        "_serial",
        "_site",
        "_state",
        "_stats",
        "_typed",
        "_dots",
        "rule",
        "spec",
    )

    def __init__(self, rule: SiteRule, spec: LanguageSpec, prefix: str = "") -> None:
        self.rule = rule
        self.spec = spec
        self._keywords = rule.keywords.get(spec.name, ())
        self._dots = spec.name in rule.import_dots
        self._kinds = rule.kinds.get(spec.name)
        self._detector = SiteDetector(spec, prefix)
        self._decoder = _Utf8Decoder("replace")
        self._gen_len = 0
        self._state: str = _IDLE
        self._typed = b""
        self._need: CompletionNeed | None = None
        self._need_space = False
        self._serial = 0
        self._site = -1  # end of the keyword (or the dot) of the last site triggered
        self._live: list[bytes] = []
        self._constraint: IdentifierConstraint | SpacedConstraint | None = None
        self._stats = MonitorStats(extra=dict.fromkeys(_EXTRA_KEYS, 0))
        if prefix:
            self._scan(prefix)

    # ------------------------------------------------------------------ protocol

    @property
    def stats(self) -> MonitorStats:
        return self._stats

    @property
    def state(self) -> str:
        return self._state

    @property
    def generated(self) -> str:
        return self._detector.text[len(self._detector) - self._gen_len :]

    def feed(self, data: bytes) -> None:
        if not data:
            return
        chars = self._decoder.decode(data)
        if chars:
            self._detector.append(chars)
            self._gen_len += len(chars)
        if self._state == _IDLE:
            self._scan(chars)
            return
        if self._need_space:
            if data[0] != _SPACE:
                self._stats.extra["not_site"] += 1
                self._to_idle()
                self._scan(chars)
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
            if run < len(data) or not typed:
                self._to_idle()
                self._scan(chars)
            else:
                self._stats.extra["rerequests"] += 1
                self._state = _WAITING
                self._serial += 1
                self._need = CompletionNeed(self._gen_len, self.generated, self._serial, self._kinds)
            return
        if self._state == _WAITING:
            if run < len(data):
                self._stats.extra["missed" if typed else "not_site"] += 1
                self._to_idle()
                self._scan(chars)
            return
        if run < len(data):
            if not typed:
                self._stats.extra["not_site"] += 1
            else:
                self._stats.extra["accepted" if typed in self._live else "violations"] += 1
            self._to_idle()
            self._scan(chars)
            return
        live = [c for c in self._live if c.startswith(typed)]
        if not live:
            self._stats.extra["violations"] += 1
            self._to_idle()
            return
        self._live = live
        self._constraint = None

    def need(self) -> CompletionNeed | None:
        return self._need

    def provide(self, facts: Facts) -> None:
        need = self._need
        if need is None or facts.serial != need.serial or not isinstance(facts, CompletionFacts):
            self._stats.extra["stale_facts"] += 1
            return
        self._need = None
        if not facts.ok:
            self._stats.failed_lookups += 1
            self._to_idle()
            return
        if facts.incomplete and not self._typed:
            # JDT LS after "new ": a few constructors and isIncomplete. Forbidding the
            # rest would be wrong: stay free, ask again once the name has a prefix.
            self._stats.extra["incomplete_open"] += 1
            self._state = _REASK
            return
        usable = {
            raw
            for name in facts.names
            if (raw := name.encode("utf-8", "surrogatepass")) and not raw.lstrip(IDENT_BYTES)
        }
        live = sorted(c for c in usable if c.startswith(self._typed))
        if not live:
            if usable and not facts.incomplete:
                self._stats.extra["violations"] += 1
            else:
                self._stats.failed_lookups += 1
            self._to_idle()
            return
        self._live = live
        self._constraint = None
        self._state = _ACTIVE

    def constraint(self) -> IdentifierConstraint | SpacedConstraint | None:
        if self._state == _REASK and self.rule.strict and not self._typed:
            # Some name (the list was incomplete), not "new 16".
            return SpacedConstraint(None, strict=True, spaced=self._need_space)
        if self._state != _ACTIVE:
            return None
        c = self._constraint
        if c is None:
            if self._need_space:
                c = SpacedConstraint(IdentifierConstraint(frozenset(self._live), b""), self.rule.strict)
            else:
                c = IdentifierConstraint(frozenset(self._live), self._typed)
            self._constraint = c
        return c

    def fork(self) -> SiteMonitor:
        new = SiteMonitor.__new__(SiteMonitor)
        for name in SiteMonitor.__slots__:
            setattr(new, name, getattr(self, name))
        new._detector = self._detector.fork()
        new._decoder = _Utf8Decoder("replace")
        new._decoder.setstate(self._decoder.getstate())
        new._stats = dataclasses.replace(self._stats, extra=dict(self._stats.extra))
        return new

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
        self._stats.triggers += 1
        if typed:
            self._stats.late_triggers += 1
        self._serial += 1
        gen = self.generated
        if need_space:
            self._need = CompletionNeed(self._gen_len + 1, gen + " ", self._serial, self._kinds)
        else:
            self._need = CompletionNeed(self._gen_len, gen, self._serial, self._kinds)

    def _to_idle(self) -> None:
        self._state = _IDLE
        self._need = None
        self._need_space = False
        self._typed = b""
        self._live = []
        self._constraint = None
