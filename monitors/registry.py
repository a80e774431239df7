"""The monitor registry: monitor names -> monitor instances for one sequence.

One function, :func:`build_monitors`, used by every engine (the Hugging Face
session and the vLLM processors), so a name means the same monitor everywhere.
The registry owns the monitor names (:data:`KNOWN_MONITORS`); ``"all"`` stands for
every monitor that applies to the language. A monitor that does not apply to a
language (``keyword_arguments`` in Java) is skipped, so one list can serve every
language; an unknown name raises :class:`~monitors.errors.ConfigError`.

``definition_sites`` (Python) is the dereference monitor with definition sites on
(:mod:`monitors.definitions`): named with ``dereference`` it replaces it, named alone
it is the dereference monitor with that option.

``expected_types`` (Java, Python) is the dereference monitor that prefers members whose
reported type fits the site's expected type and, in Java, drops those the site cannot
use (:mod:`monitors.java_types`: ``void`` inside an expression, provably safe;
:mod:`monitors.python_types`); ``expected_types_strict`` (Java) adds the opt-in
heuristic (primitive members where a class type is declared). Like
``definition_sites`` they replace ``dereference``; named together they are options of
one dereference monitor.

``syntax`` (Python, Java, Go) is the bracket guard of :mod:`monitors.syntax`: no
server, it reads the prompt, the suffix's first line and the stop texts.

The default set is per language (:func:`default_monitors`): Python also gets the call
monitors, definition sites and the syntax guard, Java the dereference monitor with
expected types, which the ablations showed to remove errors without adding others;
every other language keeps :data:`DEFAULT_MONITORS` (``["dereference"]``). Others are opted into per language (``monitors = [...]`` in
``mgd.toml``) or per request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from monitors.base import Monitor
from monitors.calls import ArgumentCountMonitor, KeywordArgumentMonitor
from monitors.completion_sites import ENUM_CASES, IMPORTS, INSTANTIATION, SiteMonitor, SiteRule
from monitors.dereference import DereferenceMonitor
from monitors.document import Document
from monitors.errors import ConfigError
from monitors.languages import LanguageSpec
from monitors.syntax import LANGUAGES as SYNTAX_LANGUAGES
from monitors.syntax import SyntaxMonitor

__all__ = [
    "DEFAULT_MONITORS",
    "KNOWN_MONITORS",
    "LANGUAGE_DEFAULTS",
    "MONITORS",
    "REPLACES",
    "MonitorEntry",
    "applicable_monitors",
    "build_monitors",
    "check_monitor_names",
    "default_monitors",
]


@dataclass(frozen=True, slots=True)
class MonitorEntry:
    """How to build one monitor and where it applies (None: every language)."""

    name: str
    #: (language, prefix, doc=...) or, with ``suffix``, (language, prefix, suffix, stops, doc=...); ``doc``: the
    #: sequence's document, shared by its monitors
    build: Callable[..., Monitor]
    languages: frozenset[str] | None = None
    #: The monitor reads the text after the generation point and the stop texts too.
    suffix: bool = False

    def applies_to(self, language: str) -> bool:
        return self.languages is None or language in self.languages


def _site(rule: SiteRule) -> MonitorEntry:
    langs = frozenset(rule.keywords) | rule.import_dots
    return MonitorEntry(rule.name, lambda spec, prefix, doc=None: SiteMonitor(rule, spec, prefix, doc), langs)


#: Every monitor, in the order they are built (and reported).
MONITORS: dict[str, MonitorEntry] = {
    e.name: e
    for e in (
        MonitorEntry("dereference", DereferenceMonitor),
        _site(INSTANTIATION),
        _site(ENUM_CASES),
        _site(IMPORTS),
        MonitorEntry("arguments", ArgumentCountMonitor, frozenset({"python", "java", "typescript", "tsx",
                                                                   "javascript", "go"})),
        MonitorEntry("keyword_arguments", KeywordArgumentMonitor, frozenset({"python"})),
        MonitorEntry("definition_sites",
                     lambda spec, prefix, doc=None: DereferenceMonitor(spec, prefix, definition_sites=True, doc=doc),
                     frozenset({"python"})),
        MonitorEntry("expected_types",
                     lambda spec, prefix, doc=None: DereferenceMonitor(spec, prefix, expected_types=True, doc=doc),
                     frozenset({"java", "python"})),
        MonitorEntry("expected_types_strict",
                     lambda spec, prefix, doc=None: DereferenceMonitor(spec, prefix, strict_types=True, doc=doc),
                     frozenset({"java"})),
        MonitorEntry("syntax", SyntaxMonitor, SYNTAX_LANGUAGES, suffix=True),
    )
}
#: Names that replace another monitor when both are chosen (one monitor, one option).
REPLACES: dict[str, str] = {"definition_sites": "dereference", "expected_types": "dereference",
                             "expected_types_strict": "dereference"}
#: Options of the one dereference monitor: chosen together, they make one monitor.
_DEREFERENCE_OPTIONS: dict[str, str] = {"definition_sites": "definition_sites", "expected_types": "expected_types",
                                        "expected_types_strict": "strict_types"}
#: Every name a configuration may use: the monitors, and ``"all"``.
KNOWN_MONITORS: tuple[str, ...] = (*MONITORS, "all")
#: The monitors used when neither a request, a flag nor ``mgd.toml`` names any, for a
#: language without its own entry in :data:`LANGUAGE_DEFAULTS`.
DEFAULT_MONITORS: tuple[str, ...] = ("dereference",)
#: Per-language defaults, chosen by the issue-20 ablations (docs/monitors.md, measured on
#: development splits, confirmed on the report split: benchmarks/results/eval/).
LANGUAGE_DEFAULTS: dict[str, tuple[str, ...]] = {
    "python": ("dereference", "arguments", "keyword_arguments", "definition_sites", "syntax"),
    "java": ("expected_types",),
}


def default_monitors(language: str) -> tuple[str, ...]:
    """The monitors ``language`` gets when nothing names any (see :data:`LANGUAGE_DEFAULTS`)."""
    return LANGUAGE_DEFAULTS.get(language, DEFAULT_MONITORS)


def check_monitor_names(names: Iterable[str], where: str = "monitors") -> tuple[str, ...]:
    """``names`` as a tuple; :class:`ConfigError` naming ``where`` for an unknown one."""
    out = tuple(names)
    unknown = [m for m in out if m not in KNOWN_MONITORS]
    if unknown:
        raise ConfigError(f"{where}: unknown monitor(s) {unknown}; known: {list(KNOWN_MONITORS)}")
    return out


def applicable_monitors(language: str) -> tuple[str, ...]:
    """The names of the monitors that apply to ``language`` (what ``"all"`` means)."""
    return tuple(name for name, e in MONITORS.items() if e.applies_to(language))


def build_monitors(names: Iterable[str], language: LanguageSpec, prefix: str, suffix: str = "",
                   stops: Sequence[str] = ()) -> list[Monitor]:
    """Fresh monitors for one sequence generated after ``prefix`` (before ``suffix``) in ``language``,
    ended by any of ``stops`` (the stop texts; the syntax guard reads them).

    Duplicates collapse; names that do not apply to the language are skipped.
    Raises :class:`ConfigError` for an unknown name. The monitors read one
    :class:`~monitors.document.Document` (the sequence's text and lexer state): fork them
    together with :func:`monitors.base.fork_monitors`, feed them in step (each token to
    every monitor before the next; the guide does).
    """
    wanted: list[str] = []
    for name in names:
        if name == "all":
            wanted.extend(applicable_monitors(language.name))
        elif name not in MONITORS:
            raise ConfigError(f"unknown monitor {name!r}; known: {list(KNOWN_MONITORS)}")
        else:
            wanted.append(name)
    chosen = [n for n in MONITORS if n in wanted and MONITORS[n].applies_to(language.name)]
    replaced = {REPLACES[n] for n in chosen if n in REPLACES}
    chosen = [n for n in chosen if n not in replaced]
    options = [n for n in chosen if n in _DEREFERENCE_OPTIONS]
    out: list[Monitor] = []
    doc = Document(language.lex, prefix)
    for n in chosen:
        if n in options[1:]:
            continue  # folded into the first one's monitor
        if n in options and len(options) > 1:
            flags = {_DEREFERENCE_OPTIONS[o]: True for o in options}
            out.append(DereferenceMonitor(language, prefix, **flags, doc=doc))
        elif MONITORS[n].suffix:
            out.append(MONITORS[n].build(language, prefix, suffix, stops, doc=doc))
        else:
            out.append(MONITORS[n].build(language, prefix, doc=doc))
    return out
