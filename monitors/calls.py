"""Call monitors: argument count and (Python) keyword argument names.

Both follow the calls the model writes. A ``(`` that opens an argument list
(:meth:`monitors.site_detector.SiteDetector.call_open_site`) pushes a *frame* and asks
the server for ``textDocument/signatureHelp`` right after the parenthesis
(:class:`~monitors.base.SignatureNeed`). Inside the frame a small lexer follows
the arguments: nesting of ``()[]{}``, commas at the frame's own level, and whether
the current argument is still empty or just ``[ws] identifier [ws]``; what is a
string, char literal or comment is the document's lexer's word
(:mod:`monitors.document`, the detector's document): a literal counts as one
argument character, a comment as none. A nested call pushes its own frame (the outer
one keeps its facts; if they had not come yet it stays without opinion); the
frame's ``)`` pops it.

Rules, only at the frame's own level and outside strings (``given`` = commas +
1 if the current argument is non-empty):

* :class:`ArgumentCountMonitor`: ``)`` is forbidden unless some overload accepts
  ``given`` arguments (``required <= given <= maximum``); ``,`` after a non-empty
  argument is forbidden unless some overload accepts more than ``given``. The
  constraint is an :class:`~monitors.base.ExcludeConstraint` on the token's first
  structural byte. A Python argument starting with ``*`` (unpacking) ends the
  frame's opinion.
* :class:`KeywordArgumentMonitor` (Python): while the current argument is
  ``[ws] name [ws]``, a token that would make it ``name =`` (``=`` not followed by
  ``=``) is forbidden unless ``name`` is a parameter the call accepts by keyword.
  Positional arguments stay free: the rule only bites at the ``=``. Parameters
  before a ``/`` and ``*args`` are not keyword names; ``**kwargs`` accepts any
  name (no opinion).

Parameters come from the server's ``SignatureInformation.parameters`` (one label
per parameter; never a regex over the whole signature label). Each parameter's
own label is read for ``=`` (a default), a leading ``*``/``**`` or ``...``
(varargs) and ``?`` before ``:`` (TypeScript optional): see :func:`signature_of`.

Fails open: no frame facts (late, error, empty signature help) means no opinion;
counted as ``failed_lookups``. Counters (``extra``): ``violations``,
``accepted``, ``unchecked`` (calls closed before their facts came).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Final, Self

from monitors.base import (
    DocumentMonitor,
    ExcludeConstraint,
    Facts,
    KeywordConstraint,
    MonitorState,
    Signature,
    SignatureFacts,
    SignatureNeed,
)
from monitors.document import Document
from monitors.identifiers import is_ident_char
from monitors.languages import LanguageSpec
from monitors.site_detector import SiteDetector

__all__ = ["ArgumentCountMonitor", "CallShape", "KeywordArgumentMonitor", "call_shape", "keyword_names",
           "signature_of"]

_OPEN: Final = "([{"
_CLOSE: Final = ")]}"
_EXTRA_KEYS = ("violations", "accepted", "unchecked", "stale_facts", "keyword_required", "unknown_shape")


def _outside_brackets(text: str) -> str:
    """``text`` without what stands inside ``()``, ``[]``, ``<>`` (type arguments)."""
    out: list[str] = []
    depth = 0
    for ch in text:
        if ch in "([<":
            depth += 1
        elif ch in ")]>" and depth:
            depth -= 1
        elif not depth:
            out.append(ch)
    return "".join(out)


def _param_kind(label: str) -> str:
    """``"required"``, ``"optional"``, ``"varargs"``, ``"kwargs"`` or ``"marker"`` (``/``, ``*``)."""
    text = label.strip()
    if text in ("/", "*"):
        return "marker"
    if text.startswith("**"):
        return "kwargs"
    if text.startswith("*") or "..." in _outside_brackets(text.split("=", 1)[0]):
        return "varargs"  # "...rest", "String... args"; not a default "x=..." nor "Callable[..., T]"
    name = text.split(":", 1)[0]
    if "=" in text or name.rstrip().endswith("?"):
        return "optional"
    return "required"


def _param_name(label: str) -> str:
    """The parameter's name: the identifier at the start of a Python/TS label
    (``beta=2``, ``x?: number``), the last identifier before ``=`` otherwise (``int count``)."""
    text = label.strip().lstrip("*").split("=", 1)[0].split(":", 1)[0].strip().rstrip("?")
    words = [w for w in text.replace("...", " ").split() if w]
    return words[-1] if words else ""


def signature_of(label: str, params: tuple[str, ...]) -> Signature:
    """A :class:`Signature` from the overload's label and its parameters' labels."""
    required = 0
    maximum: int | None = 0
    for p in params:
        kind = _param_kind(p)
        if kind == "marker":
            continue
        if kind in ("varargs", "kwargs"):
            maximum = None
            continue
        if kind == "required":
            required += 1
        if maximum is not None:
            maximum += 1
    return Signature(label=label, params=params, required=required, maximum=maximum)


def keyword_names(sig: Signature) -> frozenset[str] | None:
    """Names ``sig`` accepts as keyword arguments (None: any name, ``**kwargs``)."""
    names: list[str] = []
    for p in sig.params:
        kind = _param_kind(p)
        if kind == "kwargs":
            return None
        if p.strip() == "/":
            names.clear()  # everything before it is positional-only
            continue
        if kind in ("marker", "varargs"):
            continue
        name = _param_name(p)
        if name:
            names.append(name)
    return frozenset(names)


@dataclass(frozen=True, slots=True)
class CallShape:
    """How a Python overload takes its arguments (:func:`call_shape`).

    ``positional``: the names that can be given positionally, in order (positional-only
    first); ``positional_only``: how many of them cannot be given by keyword;
    ``keyword_only``: names after ``*`` / ``*args``; ``varargs`` / ``kwargs``: the
    overload has ``*args`` / ``**kwargs``.
    """

    positional: tuple[str, ...]
    positional_only: int
    keyword_only: tuple[str, ...]
    varargs: bool
    kwargs: bool

    def keyword_names(self, filled: int) -> frozenset[str]:
        """Names still accepted by keyword once ``filled`` positional arguments were given."""
        start = max(self.positional_only, filled)
        return frozenset(self.positional[start:]) | frozenset(self.keyword_only)


@functools.lru_cache(maxsize=1024)
def call_shape(sig: Signature) -> CallShape | None:
    """The overload's Python call shape, or None when it cannot be read for sure.

    Servers differ in where the bare ``*`` and ``/`` markers are: pyright lists
    them as parameters, jedi-language-server leaves them out of ``parameters`` and
    only its signature label has them (``def make_order(items, *, express=False)``
    has the parameters ``items`` and ``express=False``). So each parameter label is
    found in the signature label, in order, and the text between two parameters
    must be a separator (``,`` and blanks) with at most one marker (``*`` or
    ``/``); before the first parameter there may also be the ``(``. Anything else
    (a label that does not hold the parameters in order, unknown text between them,
    a parameter without a name) makes the shape unknown: no call-syntax opinion.
    """
    label = sig.label
    open_at = label.find("(")
    if open_at < 0:
        return None
    items: list[str] = []
    pos = open_at + 1
    for p in sig.params:
        text = p.strip()
        at = label.find(text, pos) if text else -1
        if at < 0:
            return None
        markers = label[pos:at].replace(",", " ").split()
        if len(markers) > 1 or (markers and markers[0] not in ("*", "/")):
            return None
        items.extend(markers)
        items.append(text)
        pos = at + len(text)
    positional: list[str] = []
    keyword_only: list[str] = []
    positional_only = 0
    varargs = kwargs = False
    star = False
    for item in items:
        if item == "/":
            if star or positional_only:
                return None
            positional_only = len(positional)
            continue
        if item == "*":
            if star:
                return None
            star = True
            continue
        kind = _param_kind(item)
        if kind == "kwargs":
            kwargs = True
            continue
        if kind == "varargs":
            if star:
                return None
            star = varargs = True
            continue
        name = _param_name(item)
        if not name or not name.isidentifier():
            return None
        (keyword_only if star else positional).append(name)
    return CallShape(tuple(positional), positional_only, tuple(keyword_only), varargs, kwargs)


@dataclass(slots=True)
class _Frame(MonitorState):
    """One open call: its facts and the lexer state of its arguments."""

    serial: int
    facts: SignatureFacts | None = None
    depth: int = 0
    commas: int = 0
    arg_chars: int = 0  # non-whitespace characters in the current argument
    ident: str = ""  # the argument so far when it is "[ws] ident [ws]"
    plain: bool = True  # the current argument is still "[ws] ident [ws]"
    spaced: bool = False  # whitespace after ident
    lead_end: str = ""  # the last whitespace character before the argument's first character
    stars: int = 0  # leading "*" of the current argument (Python unpacking)
    star_text: str = ""  # what follows those stars, while it is plain characters (a name, a dotted name)
    eq_pending: bool = False  # "ident =" seen, waiting to know whether it is "=="
    starred: bool = False  # Python unpacking: counts unknown
    keyword: str = ""  # the current argument is "keyword=" (Python)
    positional: int = 0  # finished positional arguments (Python)
    used: tuple[str, ...] = ()  # finished keyword arguments' names (Python)
    reported: dict[str, bool] = field(default_factory=dict)

    def given(self) -> int:
        return self.commas + (1 if self.arg_chars else 0)


@dataclass(slots=True, init=False, eq=False, repr=False)
class _CallMonitor(DocumentMonitor[SiteDetector]):
    """Shared call tracking; subclasses say what the innermost frame forbids."""

    spec: LanguageSpec
    _frames: list[_Frame]  # the open calls followed, innermost last (each forked with the monitor)
    _serial: int
    _constraint: ExcludeConstraint | KeywordConstraint | None
    _next: int  # the first character not yet stepped while a call is open
    #: Python unpacking syntax (``*``/``**`` then an expression, never ``*name=``): the
    #: keyword-argument monitor's rule; the argument-count monitor has no opinion there.
    _UNPACKING_RULES = False

    def __init__(self, spec: LanguageSpec, prefix: str = "", doc: Document | None = None) -> None:
        """``doc``: the sequence's document holding ``prefix`` (shared with the other
        monitors: :func:`monitors.registry.build_monitors`); None: one of its own."""
        self._start(_EXTRA_KEYS)
        self.spec = spec
        self._detector = SiteDetector(spec, prefix, doc)
        self._next = 0  # the first character not yet stepped while a call is open
        self._frames = []
        self._serial = 0
        self._constraint = None
        # A call open at the end of the prompt: "make_point(" or "f(a, ".
        if prefix:
            self._open_prompt_call(prefix)

    @property
    def depth(self) -> int:
        """Number of open calls being followed."""
        return len(self._frames)

    def _advance(self, data: bytes, chars: str) -> None:
        if not chars:
            return
        start = len(self._detector) - len(chars)
        self._constraint = None
        if not self._frames and "(" not in chars:
            return
        self._walk(start, len(self._detector))

    def need(self) -> SignatureNeed | None:
        if not self._frames:
            return None
        top = self._frames[-1]
        if top.facts is not None or top.serial < 0:
            return None
        return self._need_for(top)

    def provide(self, facts: Facts) -> None:
        top = self._frames[-1] if self._frames else None
        if top is None or top.facts is not None or facts.serial != top.serial or not isinstance(facts, SignatureFacts):
            self._stats.extra["stale_facts"] += 1
            return
        if not facts.ok or not facts.signatures:
            self._stats.failed_lookups += 1
            top.serial = -1  # no opinion for this call
            return
        top.facts = facts
        self._constraint = None

    def constraint(self) -> ExcludeConstraint | KeywordConstraint | None:
        if not self._frames:
            return None
        c = self._constraint
        if c is None:
            top = self._frames[-1]
            if top.depth or not self._detector.document.top_level:
                return None
            c = self._unpack_rule(top) if self._UNPACKING_RULES else None
            if c is None:
                if top.facts is None or top.starred:
                    return None
                c = self._eq_rule(top) if top.eq_pending else self._rule(top)
            self._constraint = c
        return c

    @staticmethod
    def _unpack_rule(top: _Frame) -> KeywordConstraint | None:
        """Python unpacking: after ``*``/``**`` the unpacked expression must start (not
        ``***``, not ``)``); ``*name`` / ``**obj.attr`` never becomes ``name=`` (a syntax error)."""
        if not top.stars or top.arg_chars != top.stars + len(top.star_text):
            return None
        if not top.star_text:
            return KeywordConstraint(names=None, unpack=True)
        if all(is_ident_char(c) or c == "." for c in top.star_text):
            return KeywordConstraint(names=None, no_assign=True)
        return None

    def fork(self) -> Self:
        """The generic fork, and each open frame forked too (frames change in place)."""
        new = super(_CallMonitor, self).fork()  # (no bare super(): the class is rebuilt with slots)
        new._frames = [f.fork() for f in self._frames]
        return new

    # ------------------------------------------------------------------ subclass hooks

    def _rule(self, frame: _Frame) -> ExcludeConstraint | KeywordConstraint | None:
        raise NotImplementedError

    def _eq_rule(self, frame: _Frame) -> KeywordConstraint | None:
        """The argument is ``name =`` and the next byte decides ``=`` or ``==``."""
        return None

    def _on_close(self, frame: _Frame) -> None:
        """The frame's ``)`` arrived (before it is popped)."""

    def _on_comma(self, frame: _Frame) -> None:
        """A comma at the frame's level arrived (before it is counted)."""

    def _on_assign(self, frame: _Frame) -> None:
        """``ident =`` (not ``==``) arrived at the start of an argument."""

    # ------------------------------------------------------------------ internals

    def _need_for(self, frame: _Frame) -> SignatureNeed:
        return SignatureNeed(offset=self._utf8.chars, generated=self.generated, serial=frame.serial)

    def _push(self) -> None:
        self._serial += 1
        self._frames.append(_Frame(serial=self._serial))
        self._stats.triggers += 1

    def _open_prompt_call(self, prefix: str) -> None:
        """Follow a call left open at the end of the prompt (last line only)."""
        det = self._detector
        i = len(prefix)
        line_start = prefix.rfind("\n", 0, i) + 1
        doc = det.document
        opens = [at for kind, at in zip(doc.brackets, doc.bracket_offsets, strict=True)
                 if kind == "(" and at >= line_start]
        if opens and det.call_open_site(opens[-1]):
            self._push()
            self._next = opens[-1] + 1
            self._walk(opens[-1] + 1, i, prompt=True)

    def _walk(self, start: int, end: int, *, prompt: bool = False) -> None:
        """Step the characters up to ``end``. While no call is open only a ``(`` matters
        (:meth:`SiteDetector.call_open_site` judges it; none in the prompt); inside one,
        the document's lexer says which characters are code, literals or comments, and a
        character whose meaning the next one decides waits for it (``_next``)."""
        det = self._detector
        text = det.text
        doc = det.document
        k = min(self._next, start) if self._frames else start
        while k < end:
            if not self._frames:
                k = text.find("(", k, end)
                if k < 0 or prompt:
                    k = end
                    break
                if det.call_open_site(k) and len(doc.advance(k + 1).stack) == 1:
                    self._push()  # (a call inside an interpolation, f"{g(", is not followed)
                k += 1
                continue
            lexer = doc.advance(k)
            if lexer.pos > k:  # inside a unit the lexer took at once ("", 'a', an opening """ or //)
                k += 1
                continue
            before = len(lexer.stack)
            lexer = doc.advance(k + 1)
            if lexer.pos <= k:
                break  # the next character decides
            after = len(lexer.stack)
            if before > 1:
                kind = "skip"
            elif after > 1:
                kind = "comment" if lexer.stack[1][0] in ("lc", "bc") else "literal"
            elif lexer.pos > k + 1 or text[k] in "\"'`":
                kind = "literal"  # a whole literal at once ("", 'a'), or a Rust lifetime's quote
            else:
                kind = "code"
            self._step(text[k], k, kind)
            k += 1
        self._next = k

    def _step(self, ch: str, pos: int, kind: str) -> None:
        """One character of an open call (``kind``: ``code``, ``literal`` (a string or char
        literal starts), ``comment`` (a comment starts) or ``skip`` (inside either))."""
        f = self._frames[-1]
        if kind == "skip":
            return
        if f.eq_pending:
            f.eq_pending = False
            if ch == "=":  # "==": a comparison, not a keyword argument
                f.plain = False
                f.arg_chars += 1
                return
            self._on_assign(f)
            f.keyword = f.ident
            f.plain = False
        if kind == "comment":
            return
        if kind == "literal":
            f.arg_chars += 1
            f.plain = False
            return
        frames = self._frames
        if f.depth:
            if ch in _OPEN:
                f.depth += 1
            elif ch in _CLOSE:
                f.depth -= 1
            return
        if ch == ")":
            if f.facts is None:
                self._stats.extra["unchecked"] += 1
            elif not f.starred:
                self._on_close(f)
            frames.pop()
            return
        if ch == "(":
            if f.arg_chars == 0 or not self._detector.call_open_site(pos):
                f.depth += 1
                f.arg_chars += 1
                f.plain = False
                return
            f.arg_chars += 1
            f.plain = False
            self._push()  # the nested call's ")" pops it; this frame continues at its level
            return
        if ch in "[{":
            f.depth += 1
            f.arg_chars += 1
            f.plain = False
            return
        if ch in "]}":
            return  # unbalanced: ignore
        if ch == ",":
            if f.facts is not None and not f.starred:
                self._on_comma(f)
            if f.keyword:
                f.used = (*f.used, f.keyword)
            elif f.arg_chars:
                f.positional += 1
            f.keyword = ""
            f.commas += 1
            f.arg_chars = 0
            f.ident = ""
            f.plain = True
            f.spaced = False
            f.lead_end = ""
            f.stars = 0
            f.star_text = ""
            return
        if ch in " \t\r\n":
            if f.ident:
                f.spaced = True
            elif f.arg_chars == 0:
                f.lead_end = ch
            return
        if ch == "*" and f.arg_chars == f.stars and self.spec.name == "python":
            f.starred = True
            f.stars += 1
        elif f.stars and f.arg_chars == f.stars + len(f.star_text) and len(f.star_text) < 256:
            f.star_text += ch
        f.arg_chars += 1
        if f.plain:
            if ch == "=":
                if f.ident:
                    f.eq_pending = True
                else:
                    f.plain = False
            elif is_ident_char(ch) and not f.spaced:
                f.ident += ch
            else:
                f.plain = False


class ArgumentCountMonitor(_CallMonitor):
    """Inside a call: no ``)`` before the required arguments, no ``,`` past the maximum."""

    __slots__ = ()

    def _accepts(self, facts: SignatureFacts, given: int) -> bool:
        return any(s.required <= given and (s.maximum is None or given <= s.maximum) for s in facts.signatures)

    def _room(self, facts: SignatureFacts, given: int) -> bool:
        return any(s.maximum is None or s.maximum > given for s in facts.signatures)

    def _rule(self, frame: _Frame) -> ExcludeConstraint | None:
        assert frame.facts is not None
        given = frame.given()
        stops: set[int] = set()
        if not self._accepts(frame.facts, given):
            stops.add(ord(")"))
        if frame.arg_chars and not self._room(frame.facts, given):
            stops.add(ord(","))
        return ExcludeConstraint(stops=frozenset(stops)) if stops else None

    def _on_close(self, frame: _Frame) -> None:
        assert frame.facts is not None
        ok = self._accepts(frame.facts, frame.given())
        self._stats.extra["accepted" if ok else "violations"] += 1

    def _on_comma(self, frame: _Frame) -> None:
        assert frame.facts is not None
        if frame.arg_chars and not self._room(frame.facts, frame.given()) and not frame.reported.get("comma"):
            frame.reported["comma"] = True
            self._stats.extra["violations"] += 1


class KeywordArgumentMonitor(_CallMonitor):
    """Inside a Python call: ``name=`` only for parameter names the call still accepts,
    and no positional argument where Python's call syntax forbids one.

    From each overload's :func:`call_shape` and the arguments so far (positional
    ones counted, keyword names remembered) the overloads that still fit are kept;
    then:

    * ``name=`` is allowed only for a name one of them still accepts by keyword: not
      positional-only, not filled positionally already, not given before (a repeated
      keyword is a ``SyntaxError``); ``**kwargs`` accepts any name;
    * a positional argument is allowed only while no keyword argument was given and
      one of them has a positional parameter left (or ``*args``). Otherwise the
      argument must be ``name=``, ``*``/``**`` unpacking, or the call closes
      (:class:`~monitors.base.KeywordConstraint`): ``f(radius=2.0, 1.0)`` and
      ``make_order(items, 1)`` (``def make_order(items, *, express=False)``) cannot
      be written.

    Fails open: an overload whose shape cannot be read (:func:`call_shape` None,
    counted ``unknown_shape``) leaves only the old rule (keyword names of
    :func:`keyword_names`); no overload fitting the call, an unpacked argument
    (``*xs``/``**kw``), or an argument that already broke the rule: no opinion.
    """

    __slots__ = ()
    _UNPACKING_RULES = True

    def _names(self, facts: SignatureFacts) -> frozenset[str] | None:
        out: set[str] = set()
        for s in facts.signatures:
            names = keyword_names(s)
            if names is None:
                return None
            out |= names
        return frozenset(out)

    def _syntax(self, frame: _Frame) -> tuple[bool, frozenset[str] | None] | None:
        """``(positional allowed next, names allowed by keyword (None: any))`` from the
        overloads that fit the arguments so far; None when unknown."""
        assert frame.facts is not None
        shapes = []
        for s in frame.facts.signatures:
            shape = call_shape(s)
            if shape is None:
                if not frame.reported.get("shape"):
                    frame.reported["shape"] = True
                    self._stats.extra["unknown_shape"] += 1
                return None
            shapes.append(shape)
        given, used = frame.positional, frame.used
        positional_ok = any_name = fits = False
        names: set[str] = set()
        for sh in shapes:
            if not sh.varargs and given > len(sh.positional):
                continue
            accepted = sh.keyword_names(given)
            if not sh.kwargs and any(u not in accepted for u in used):
                continue
            fits = True
            if not used and (sh.varargs or given < len(sh.positional)):
                positional_ok = True
            if sh.kwargs:
                any_name = True
            else:
                names |= accepted
        if not fits:
            return None
        return positional_ok, None if any_name else frozenset(names) - frozenset(used)

    def _rule(self, frame: _Frame) -> ExcludeConstraint | KeywordConstraint | None:
        assert frame.facts is not None
        if not frame.plain:
            return None
        syntax = self._syntax(frame)
        if syntax is None:
            names = self._names(frame.facts)
            positional_ok = True
        else:
            positional_ok, names = syntax
        raw = None if names is None else frozenset(n.encode("utf-8", "surrogatepass") for n in names)
        typed = frame.ident.encode("utf-8", "surrogatepass")
        if positional_ok:
            return None if raw is None else ExcludeConstraint(names=raw, typed=typed, spaced=frame.spaced)
        if typed and raw is not None and not (typed in raw if frame.spaced else any(n.startswith(typed) for n in raw)):
            return None  # the argument already left the rule (the engine did not mask): no opinion
        key = f"keyword_required{frame.commas}"
        if not frame.reported.get(key):
            frame.reported[key] = True
            self._stats.extra["keyword_required"] += 1
        padded = not typed and frame.lead_end not in ("", "\n", "\r")
        return KeywordConstraint(names=raw, typed=typed, spaced=frame.spaced, padded=padded)

    def _eq_rule(self, frame: _Frame) -> KeywordConstraint | None:
        """Where the argument must be a keyword, ``name =`` may not become ``name ==``."""
        syntax = self._syntax(frame)
        if syntax is None or syntax[0]:
            return None
        names = syntax[1]
        if names is not None and frame.ident not in names:
            return None  # already off the rule
        return KeywordConstraint(names=None, typed=frame.ident.encode("utf-8", "surrogatepass"), equals=True)

    def _on_assign(self, frame: _Frame) -> None:
        if frame.facts is None or frame.starred:
            return
        syntax = self._syntax(frame)
        names = self._names(frame.facts) if syntax is None else syntax[1]
        if names is None:
            return
        self._stats.extra["accepted" if frame.ident in names else "violations"] += 1

    def _finish_positional(self, frame: _Frame) -> None:
        """A positional argument ends (``,`` or ``)``): count it if the syntax forbade it."""
        if frame.keyword or not frame.arg_chars or frame.facts is None:
            return
        syntax = self._syntax(frame)
        if syntax is not None and not syntax[0]:
            self._stats.extra["violations"] += 1

    _on_comma = _finish_positional
    _on_close = _finish_positional
