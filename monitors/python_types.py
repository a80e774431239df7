"""Expected types at a member-access site, Python's rules (:mod:`monitors.java_types` is Java's,
:mod:`monitors.type_rules` the language-neutral part).

The same soft preference as in Java: where the text states the type the member access
must have, the members whose reported type fits it get a logit bonus; nothing is
forbidden (Python has no rule here that is provably safe).

* Sites (:func:`expected_type`): ``return obj.`` in a function annotated ``-> T``;
  ``x: T = obj.``; ``x = obj.`` / ``self.x = obj.`` where the text annotates ``x``
  earlier (``x: T``, ``self.x: T = ...``, a class-level ``x: T``, a parameter ``x: T``).
  At a call argument (:func:`argument_slot`: its index, or its keyword in ``f(k=obj.``)
  the types are the parameter's annotations from ``signatureHelp``
  (:func:`parameter_types`).
* Member types (:func:`member_type`) come from resolved completion items
  (``completionItem/resolve``, :attr:`monitors.base.CompletionNeed.types`): pyright
  ``title: str``, ``label: str (property)``, ``def copy() -> Book``; jedi
  ``def copy() -> "Book"``, ``self.tags: list[str] = []`` (jedi reports no type for an
  unannotated attribute: that member has no known type).
* :func:`fits`: the same type (typing aliases folded: ``List`` is ``list``), the numeric
  tower (``bool`` < ``int`` < ``float`` < ``complex``), a union member fits a union that
  holds it (every alternative must fit: ``str | None`` does not fit ``str``), builtin
  containers fit ``Sequence``/``Iterable``/``Mapping``. ``Any``, ``object`` and type
  variables: no preference.
"""

from __future__ import annotations

import re
from typing import Final

from monitors.base import Signature
from monitors.document import Document
from monitors.type_rules import TypeRules, TypeSite, argument_position, receiver_start

__all__ = ["PYTHON_TYPES", "argument_slot", "expected_type", "fits", "keeps_all", "member_type", "parameter_types",
           "probe_type", "type_site", "universal_member"]

_ALIASES: Final = {"List": "list", "Dict": "dict", "Set": "set", "FrozenSet": "frozenset", "Tuple": "tuple",
                   "Type": "type", "Text": "str", "DefaultDict": "defaultdict", "Deque": "deque"}
_NUMERIC: Final = {"bool": ("int", "float", "complex"), "int": ("float", "complex"), "float": ("complex",)}
_ABSTRACT: Final = {
    "Sequence": frozenset({"list", "tuple", "str", "range", "bytes"}),
    "MutableSequence": frozenset({"list"}),
    "Collection": frozenset({"list", "tuple", "str", "range", "bytes", "set", "frozenset", "dict"}),
    "Iterable": frozenset({"list", "tuple", "str", "range", "bytes", "set", "frozenset", "dict", "Iterator",
                           "Generator"}),
    "Mapping": frozenset({"dict", "defaultdict", "OrderedDict", "Counter"}),
    "MutableMapping": frozenset({"dict", "defaultdict", "OrderedDict", "Counter"}),
    "AbstractSet": frozenset({"set", "frozenset"}),
    "MutableSet": frozenset({"set"}),
}
_PERMISSIVE: Final = frozenset({"Any", "object", "Self", "AnyStr", "Unknown", "LiteralString"})
_TYPE_VARIABLE = re.compile(r"_?[A-Z]\w{0,2}|_\w+")  # T, KT, _T, _TSerialized
_IDENT = r"[A-Za-z_]\w*"


def _split_top(text: str, sep: str) -> list[str]:
    """``text`` split at ``sep`` outside brackets."""
    out: list[str] = []
    depth = 0
    cur = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == sep and depth == 0:
            out.append(text[cur:i])
            cur = i + 1
    out.append(text[cur:])
    return out


def _alternatives(t: str) -> list[str] | None:
    """The base names of a type's union alternatives (``Optional[List[int]]`` ->
    ``["list", "None"]``); None when a part is permissive or a type variable."""
    t = t.strip().strip("\"'").strip()
    if not t:
        return None
    m = re.fullmatch(r"(?:typing\.)?Optional\[(.*)\]", t)
    if m:
        return _alternatives(f"{m.group(1)} | None")
    m = re.fullmatch(r"(?:typing\.)?Union\[(.*)\]", t)
    if m:
        return _alternatives(" | ".join(_split_top(m.group(1), ",")))
    parts = _split_top(t, "|")
    if len(parts) > 1:
        out: list[str] = []
        for p in parts:
            sub = _alternatives(p)
            if sub is None:
                return None
            out += sub
        return out
    m = re.fullmatch(r"(?:typing\.)?Literal\[(.*)\]", t)
    if m:
        kinds = {_literal_type(v.strip()) for v in _split_top(m.group(1), ",")}
        return None if None in kinds else sorted(k for k in kinds if k)
    base = t.split("[", 1)[0].strip()
    base = re.sub(r"^(?:typing|builtins|collections\.abc|collections)\.", "", base)
    base = base.rsplit(".", 1)[-1]
    base = _ALIASES.get(base, base)
    if base in _PERMISSIVE or _TYPE_VARIABLE.fullmatch(base) or not re.fullmatch(_IDENT, base):
        return None
    return [base]


def _literal_type(value: str) -> str | None:
    if value in ("True", "False"):
        return "bool"
    if value == "None":
        return "None"
    if value[:1] in "\"'" or value[:2].lower() in ("b'", 'b"'):
        return "bytes" if value[:1].lower() == "b" else "str"
    if re.fullmatch(r"-?\d+", value):
        return "int"
    return None


def fits(member: str | None, expected: str | None) -> bool:
    """Whether a value of type ``member`` fits where ``expected`` is declared, as far as
    names tell (see the module docstring). Unknown subtypes do not fit."""
    if member is None or expected is None:
        return False
    ms, es = _alternatives(member), _alternatives(expected)
    if not ms or not es:
        return False
    return all(any(m == e or e in _NUMERIC.get(m, ()) or m in _ABSTRACT.get(e, ()) for e in es) for m in ms)


_BUILTINS: Final = frozenset({"str", "int", "float", "complex", "bool", "bytes", "bytearray", "None", "list",
                              "dict", "set", "frozenset", "tuple", "type", "range", "object"})


def probe_type(t: str) -> bool:
    """Whether the members of type ``t`` are worth asking about: one class, not a builtin."""
    alts = _alternatives(t)
    return alts is not None and len(alts) == 1 and alts[0] not in _BUILTINS


def universal_member(name: str) -> bool:
    """Whether every object has member ``name`` (a dunder: ``__str__``, ``__hash__``)."""
    return name.startswith("__") and name.endswith("__")


def member_type(detail: str | None) -> str | None:
    """The type a resolved completion item reports (see the module docstring); for a
    method, its return type (the value once called); None when it reports none."""
    if not detail:
        return None
    d = detail.strip()
    if d.startswith(("def ", "async def ")):
        close = _closing_paren(d, d.find("("))
        if close is None:
            return None
        m = re.match(r"\s*->\s*(.+?)\s*:?\s*$", d[close + 1 :])
        return m.group(1).strip().strip("\"'") if m else None
    m = re.match(r"class\s+(" + _IDENT + r")", d)
    if m:
        return m.group(1)
    m = re.match(r"(?:\(\w+\)\s*)?(?:self\.)?" + _IDENT + r"\s*:\s*(.+)$", d)
    if m is None:
        return None
    t = _split_top(m.group(1), "=")[0].strip()
    t = re.sub(r"\s*\((?:property|variable|constant)\)$", "", t).strip()
    return t or None


def _closing_paren(text: str, opened: int) -> int | None:
    if opened < 0:
        return None
    depth = 0
    for i in range(opened, len(text)):
        ch = text[i]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i
    return None


_DEF = re.compile(r"(?m)^([ \t]*)(?:async[ \t]+)?def[ \t]+" + _IDENT + r"[ \t]*\(")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def return_type(text: str, line_start: int) -> str | None:
    """The return annotation of the function whose body holds the line at
    ``line_start`` (the nearest ``def`` before it indented less), or None."""
    own = _indent(text[line_start : text.find("\n", line_start) if "\n" in text[line_start:] else len(text)])
    found = None
    for m in _DEF.finditer(text, 0, line_start):
        if len(m.group(1)) < own:
            found = m
    if found is None:
        return None
    close = _closing_paren(text, found.end() - 1)
    if close is None or close > line_start:
        return None
    end = text.find("\n", close)
    m = re.match(r"\s*->\s*(.+?)\s*:\s*(?:#.*)?$", text[close + 1 : end if end >= 0 else len(text)])
    return m.group(1) if m else None


def _annotation_of(text: str, end: int, target: str) -> str | None:
    """The nearest annotation of ``target`` (``x`` or ``self.x``) before ``end``."""
    name = target.removeprefix("self.").strip()
    n = re.escape(name)
    pats = [re.compile(r"(?m)^[ \t]*(?:self\.)?" + n + r"[ \t]*:[ \t]*([^=\n#]+?)[ \t]*(?:=|#|$)")]
    if not target.startswith("self."):
        pats.append(re.compile(r"[(,][ \t\n]*" + n + r"[ \t]*:[ \t]*([^=)\n,#]+?)[ \t]*[,)=]"))
    best: tuple[int, str] | None = None
    for p in pats:
        for m in p.finditer(text, 0, end):
            if best is None or m.start() > best[0]:
                best = (m.start(), m.group(1))
    return best[1] if best else None


_ANNOTATED = re.compile(r"^[ \t]*(?:self[ \t]*\.[ \t]*)?" + _IDENT + r"[ \t]*:[ \t]*(?P<type>[^=\n]+?)[ \t]*=[ \t]*$")
_ASSIGNED = re.compile(r"^[ \t]*(?P<target>(?:self[ \t]*\.[ \t]*)?" + _IDENT + r")[ \t]*=[ \t]*$")


def expected_type(text: str, dot: int) -> str | None:
    """The type the member access at ``dot`` must have where the text says it plainly
    (see the module docstring); None: unknown or permissive."""
    start = receiver_start(text, dot)
    line_start = text.rfind("\n", 0, start) + 1
    head = text[line_start:start]
    t: str | None = None
    if head.strip() == "return":
        t = return_type(text, line_start)
    else:
        m = _ANNOTATED.match(head)
        if m:
            t = m.group("type")
        else:
            m = _ASSIGNED.match(head)
            if m:
                t = _annotation_of(text, line_start, re.sub(r"\s+", "", m.group("target")))
    return t.strip() if t and _alternatives(t) else None


def argument_slot(text: str, dot: int, doc: Document | None = None) -> int | str | None:
    """The argument the member access at ``dot`` starts: its 0-based index, or its
    keyword (``f(a, key=obj.`` -> ``"key"``); None when it starts no argument."""
    start = receiver_start(text, dot)
    m = re.search(r"[(,][ \t\n]*(" + _IDENT + r")[ \t]*=[ \t]*$", text[max(0, start - 200) : start])
    if m is None:
        return argument_position(text, dot, doc)
    at = start - len(m.group(0)) + 1  # where the keyword's argument starts
    probe = text[:at] + "x."  # is that a call argument? (the same test as a positional one)
    return m.group(1) if argument_position(probe, len(probe) - 1) is not None else None


def _parameter(label: str) -> tuple[str, str, str | None]:
    """``(stars, name, annotation)`` of a parameter label (``*args: int``, ``key: str = None``)."""
    label = _split_top(label, "=")[0].strip()
    stars = label[: len(label) - len(label.lstrip("*"))]
    name, _, ann = label[len(stars) :].partition(":")
    return stars, name.strip(), ann.strip() or None


def parameter_types(signatures: tuple[Signature, ...], slot: int | str) -> tuple[str, ...]:
    """The annotations an argument at ``slot`` (index or keyword) may have, over every
    overload that takes it. Empty (no preference) when an overload gives that
    parameter no annotation or a permissive one."""
    out: list[str] = []
    for sig in signatures:
        params = [_parameter(p) for p in sig.params]
        params = [p for p in params if p[1] not in ("self", "cls") or p[2]]
        hit: str | None = None
        found = False
        if isinstance(slot, str):
            for stars, name, ann in params:
                if (not stars and name == slot) or stars == "**":
                    hit, found = ann, True
                    if not stars:
                        break
        else:
            positional = [p for p in params if p[0] != "**" and p[1] not in ("/", "")]
            for k, (stars, _name, ann) in enumerate(positional):
                if stars == "*":
                    hit, found = ann, True
                    break
                if k == slot:
                    hit, found = ann, True
                    break
        if not found:
            continue
        if hit is None or _alternatives(hit) is None:
            return ()
        out.append(hit)
    return tuple(dict.fromkeys(out))


def type_site(text: str, dot: int, doc: Document | None = None) -> TypeSite:
    """The :class:`~monitors.type_rules.TypeSite` of the member access at ``dot`` (never a
    value site: nothing is dropped in Python; an argument where the type is unknown)."""
    expected = expected_type(text, dot)
    return TypeSite(False, expected, argument_slot(text, dot, doc) if expected is None else None)


def keeps_all(member: str | None, site: TypeSite) -> bool:
    """Python drops no member (no rule here is provably safe): the preference only."""
    return False


#: Python's (resolved pyright / jedi items: types only for resolved items).
PYTHON_TYPES = TypeRules(member_type, fits, parameter_types, probe_type, universal_member, type_site, keeps_all,
                         resolve=True)
