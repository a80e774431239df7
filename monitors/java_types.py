"""Expected types at a member-access site (Java): which members cannot be the value there.

After ``obj.`` the dereference monitor knows every legal member; with expected types on
it also drops members whose *type* cannot be used at that site, from what the server
reports per completion item (JDT LS: ``detail`` ``Book.getYear() : int``).

Two rules, each a pure function of the text before the dot and the member's type:

* **void at a value site** (``expected_types``, provably safe): a ``void`` method cannot
  be part of a larger expression. The site is a value site when the member access
  (its whole receiver chain, see :func:`~monitors.type_rules.receiver_start`) follows
  ``=`` (any assignment or comparison operator), ``return``, a unary/binary operator,
  ``[``, or ``(``/``,`` of a call, condition or parenthesised expression (not a
  ``for``/``try``/``catch`` header, where an expression statement may stand). A
  statement start (``;``, ``{``, ``}``, ``)``), a lambda arrow ``->`` and ``:``
  (labels, ``case``) are not value sites.
* **primitive where a reference is declared** (``expected_types_strict``, a heuristic,
  opt-in): in ``T name = obj.`` with ``T`` a class type (not ``Object``, a boxed type,
  ``Number``, ``Comparable``, ``Serializable``, ``CharSequence``, ``var`` or a type
  variable), a member of a primitive type cannot reach ``T`` through a further member
  access; only an operator could (``obj.size() > 0 ? a : b``), so this is not provably
  safe and stays off by default.

And one soft preference (``expected_types``): where the site has a known expected type
(:func:`expected_type`: a declaration ``T name = obj.``, or ``return obj.`` in a method
declared to return ``T``), the members whose type fits ``T`` (:func:`fits`: the same
type, a primitive widening, boxing) are *preferred*: the engines add a bonus to their
tokens' logits. Nothing is forbidden by it. At an argument position (``f(a, obj.``,
:func:`~monitors.type_rules.argument_position`) the expected types are the parameter
types the server's ``signatureHelp`` reports there (:func:`parameter_types`: every
overload that takes that many arguments; none when one of them takes ``Object`` or a
type variable).

A member name is dropped only if *every* item of that name is dropped (overloads), and
the monitor never drops every candidate (the rule then fails open for that site).
The language-neutral part (:class:`~monitors.type_rules.TypeSite`,
:class:`~monitors.type_rules.TypeRules`, the receiver and argument scans) is
:mod:`monitors.type_rules`; Python's rules are :mod:`monitors.python_types`.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Final

from monitors.base import Signature
from monitors.document import Document
from monitors.identifiers import is_ident_char
from monitors.type_rules import (
    _CONTROL,
    _NOT_TYPE_WORDS,
    TypeRules,
    TypeSite,
    _blank_back,
    _innermost_open,
    _open_of,
    _word_before,
    argument_position,
    receiver_start,
)

__all__ = [
    "JAVA_STRICT_TYPES",
    "JAVA_TYPES",
    "assigned_type",
    "declared_type",
    "drops_strict",
    "drops_void",
    "expected_type",
    "fits",
    "is_value_site",
    "member_type",
    "parameter_types",
    "reach_probe_type",
    "return_type",
    "type_site",
    "universal_member",
    "unusable",
]

_PRIMITIVES: Final = frozenset({"int", "long", "short", "byte", "char", "boolean", "float", "double"})
#: Declared types a primitive may reach by boxing or conversion (or that anything fits).
_PERMISSIVE: Final = frozenset({
    "Object", "Integer", "Long", "Short", "Byte", "Character", "Boolean", "Float", "Double", "Number",
    "Comparable", "Serializable", "CharSequence", "Constable", "ConstantDesc", "var",
    "java.lang.Object", "java.io.Serializable",
})
_KEYWORDS_BEFORE_PAREN_NOT_VALUE: Final = frozenset({"for", "try", "catch"})
_VALUE_WORDS: Final = frozenset({"return", "throw", "assert", "yield"})
_DECLARATION = re.compile(
    r"(?:^|[;{}(\s])(?:final\s+)?"
    r"(?P<type>[A-Za-z_$][\w$]*(?:\s*\.\s*[A-Za-z_$][\w$]*)*(?:\s*<[^;=(){}]*>)?(?:\s*\[\s*\])*)"
    r"\s+[A-Za-z_$][\w$]*\s*=\s*$"
)
_TYPE_VARIABLE = re.compile(r"[A-Z][A-Z0-9]?")


def member_type(detail: str | None) -> str | None:
    """The type a completion item's ``detail`` reports (JDT LS ``Book.getYear() : int``)."""
    if not detail:
        return None
    cut = detail.rfind(" : ")
    if cut < 0:
        return None
    out = detail[cut + 3 :].strip()
    return out or None


def is_value_site(text: str, dot: int, doc: Document | None = None) -> bool:
    """Whether the member access at ``dot`` is part of a larger expression (see module doc;
    ``doc``: the caller's document, see :func:`~monitors.type_rules._innermost_open`)."""
    start = receiver_start(text, dot)
    j = _blank_back(text, start - 1)
    if j < 0:
        return False
    ch = text[j]
    if ch == "=":
        return True
    if ch == ">":
        return j == 0 or text[j - 1] != "-"  # ``->``: a lambda body may be a statement
    if ch in "+-*/%&|^!~?<[":
        return True
    if ch == "(":
        return _word_before(text, j) not in _KEYWORDS_BEFORE_PAREN_NOT_VALUE
    if ch == ",":
        k = _innermost_open(text, j, doc, dot)
        if k is None:
            return False
        return text[k] == "[" or _word_before(text, k) not in _KEYWORDS_BEFORE_PAREN_NOT_VALUE
    if is_ident_char(ch):
        return _word_before(text, j + 1) in _VALUE_WORDS
    return False


def declared_type(text: str, dot: int) -> str | None:
    """``T`` when the member access at ``dot`` initialises a declaration ``T name = ...``."""
    start = receiver_start(text, dot)
    line_start = max(text.rfind("\n", 0, start), text.rfind(";", 0, start), text.rfind("{", 0, start))
    m = _DECLARATION.search(text, line_start + 1 if line_start >= 0 else 0, start)
    if m is None:
        return None
    t = re.sub(r"\s+", "", m.group("type"))
    head = t.split("<", 1)[0]
    if head in _NOT_TYPE_WORDS:
        return None
    return t


def _reaches_only_primitive(expected: str) -> bool:
    """Whether a primitive value can never be (converted to) ``expected`` by assignment."""
    base = expected.split("<", 1)[0]
    if expected.endswith("]"):
        return True  # an array type
    return not (base in _PRIMITIVES or base in _PERMISSIVE or _TYPE_VARIABLE.fullmatch(base))


def unusable(member: str | None, *, value_site: bool, expected: str | None, strict: bool) -> bool:
    """Whether a member of type ``member`` cannot be used at the site."""
    if member is None:
        return False
    if member == "void":
        return value_site
    if strict and expected is not None and member in _PRIMITIVES:
        return _reaches_only_primitive(expected)
    return False


_WIDENS: Final = {
    "byte": {"short", "int", "long", "float", "double"},
    "short": {"int", "long", "float", "double"},
    "char": {"int", "long", "float", "double"},
    "int": {"long", "float", "double"},
    "long": {"float", "double"},
    "float": {"double"},
}
_BOXES: Final = {"int": "Integer", "long": "Long", "short": "Short", "byte": "Byte", "char": "Character",
                 "boolean": "Boolean", "float": "Float", "double": "Double"}


def _simple(t: str) -> str:
    """``java.util.List<String>[]`` -> ``List[]``: the raw simple name with its array part."""
    t = re.sub(r"\s+", "", t)
    dims = t.count("[]")
    raw = re.sub(r"<.*>", "", t).replace("[]", "")
    return raw.rsplit(".", 1)[-1] + "[]" * dims


def fits(member: str | None, expected: str | None) -> bool:
    """Whether a value of type ``member`` can be assigned where ``expected`` is declared,
    as far as names tell (the same type, a primitive widening, boxing or unboxing).
    Subtypes are unknown here, so they do not fit."""
    if member is None or expected is None:
        return False
    m, e = _simple(member), _simple(expected)
    if m == e:
        return True
    if e in _WIDENS.get(m, ()):
        return True
    return _BOXES.get(m) == e or _BOXES.get(e) == m


#: Members every object has (they reach ``int``, ``boolean`` and ``String`` from any type),
#: and the class literal every type has (``T.class``: a ``Class``, whose ``isArray()`` & co.
#: reach ``boolean``).
_OBJECT_MEMBERS: Final = frozenset({"hashCode", "equals", "toString", "getClass", "wait", "notify", "notifyAll",
                                    "clone", "finalize", "class"})


def universal_member(name: str) -> bool:
    """Whether every object (or type) has member ``name`` (``java.lang.Object``'s, ``class``)."""
    return name in _OBJECT_MEMBERS


def reach_probe_type(t: str) -> bool:
    """Whether the members of type ``t`` are worth asking about (a class type other than
    ``String``, ``Class``, a box or ``Object``; not a primitive, an array or a type variable)."""
    base = _simple(t)
    return not (base in _PRIMITIVES or base in _PERMISSIVE or base in ("String", "void", "Class")
                or base.endswith("[]")
                or _TYPE_VARIABLE.fullmatch(base) or not base[:1].isalpha())


def return_type(text: str, at: int) -> str | None:
    """The declared return type of the method whose body encloses offset ``at`` (None:
    not in a method body, in a lambda, or ``void``)."""
    i = at - 1
    depth = 0
    while i >= 0:
        ch = text[i]
        if ch == "}":
            depth += 1
        elif ch == "{":
            if depth > 0:
                depth -= 1
            else:
                kind, t = _block_header(text, i)
                if kind == "method":
                    return None if t == "void" else t
                if kind != "control":
                    return None  # a lambda, a class, an initializer: no declared return type
        i -= 1
    return None


def _block_header(text: str, brace: int) -> tuple[str, str | None]:
    """What opens the block at ``brace``: ("method", return type), ("control", None) for
    ``if (...)``/``for``/``else``/..., or ("other", None)."""
    head = _THROWS.sub("", text[max(0, brace - 600) : brace]).rstrip()
    if head.endswith("->"):
        return "other", None
    if not head.endswith(")"):  # ``else {``, ``try {``, ``static {``, a class body, ``= {``
        return ("control", None) if _word_before(head, len(head)) in _CONTROL else ("other", None)
    k = _open_of(head, len(head) - 1, statement=False)  # ``for (a; b; c) {``
    if k is None:
        return "other", None
    name = _word_before(head, k)
    if not name or name in _CONTROL:
        return ("control", None) if name in _CONTROL else ("other", None)
    before = head[: len(head[:k].rstrip()) - len(name)]
    cut = max(before.rfind(";"), before.rfind("{"), before.rfind("}"), before.rfind("*/"))
    decl = re.sub(r"@[\w$.]+(?:\([^()]*\))?", " ", before[cut + 1 :])
    words = [w for w in _top_level_words(decl) if w not in _MODIFIERS]
    if not words or words[-1] in _NOT_TYPE_WORDS or words[-1] == "=" or words[-1].endswith(("=", ",", "(")):
        return "other", None
    t = re.sub(r"\s+", "", words[-1])
    if t.startswith("<"):  # a generic method's type parameters came last: ``<T> T of(``
        return "other", None
    return "method", t


_THROWS = re.compile(r"\s*throws\s+[\w$.,\s<>]+$")
_MODIFIERS: Final = frozenset({
    "public", "protected", "private", "static", "final", "abstract", "synchronized", "native", "strictfp",
    "default",
})


def _top_level_words(text: str) -> list[str]:
    """Blank-separated words outside ``<...>``, blanks inside removed:
    ``static <T> Map<String, List<? extends T>>`` -> ``static``, ``<T>``, ``Map<String,List<?extendsT>>``."""
    words: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(depth - 1, 0)
        if ch.isspace():
            if depth == 0 and cur:
                words.append("".join(cur))
                cur = []
            continue
        cur.append(ch)
    if cur:
        words.append("".join(cur))
    return words


def expected_type(text: str, dot: int) -> str | None:
    """The type the member access at ``dot`` must have, when the text says it plainly:
    a declaration's type (:func:`declared_type`), the enclosing method's return type
    after ``return``, the declared type of a variable or field assigned with ``=``
    (:func:`assigned_type`), ``boolean`` after ``!``, ``&&`` or ``||``. None: unknown (an
    argument, another operand, ``var``, ``Object``)."""
    t = declared_type(text, dot)
    if t is None:
        start = receiver_start(text, dot)
        if _word_before(text, start) == "return":
            t = return_type(text, start)
        else:
            t = assigned_type(text, start) or _boolean_operand(text, start)
    if t is None or _simple(t) in ("Object", "var"):
        return None
    return t


_ASSIGN_TARGET = re.compile(r"(?:(?<![\w$.])this\s*\.\s*|(?<![\w$.]))(?P<name>[A-Za-z_$][\w$]*)\s*=\s*$")
_FIELD_MODIFIERS = r"(?:(?:public|protected|private|static|final|transient|volatile)\s+)*"


def assigned_type(text: str, start: int) -> str | None:
    """The declared type of ``name`` in ``name = <expression at start>`` (or ``this.name
    = ...``): the nearest declaration of that name before it (a local, a parameter, a
    field: ``T name`` followed by ``=``, ``;``, ``,`` or ``)``). None: not a plain
    assignment, or no declaration in the text."""
    line = max(text.rfind("\n", 0, start), text.rfind(";", 0, start), text.rfind("{", 0, start))
    m = _ASSIGN_TARGET.search(text, line + 1 if line >= 0 else 0, start)
    if m is None:
        return None
    name = re.escape(m.group("name"))
    decl = re.compile(r"(?:^|[;{}(,])\s*" + _FIELD_MODIFIERS
                      + r"(?P<type>[A-Za-z_$][\w$]*(?:\s*\.\s*[A-Za-z_$][\w$]*)*(?:\s*<[^;=(){}]*>)?(?:\s*\[\s*\])*)"
                      + r"\s+" + name + r"\s*[=;,)]")
    found = None
    for d in decl.finditer(text, 0, m.start()):
        t = re.sub(r"\s+", "", d.group("type"))
        if t.split("<", 1)[0] not in _NOT_TYPE_WORDS:  # not ``return x;``, ``else x = ...``
            found = t
    return found


def _boolean_operand(text: str, start: int) -> str | None:
    """``boolean`` where the access is the operand of ``!``, ``&&`` or ``||``."""
    j = _blank_back(text, start - 1)
    if j >= 0 and text[j] == "!":
        return "boolean"
    if j >= 1 and text[j - 1 : j + 1] in ("&&", "||"):
        return "boolean"
    return None


def _parameter_type(label: str) -> tuple[str, bool]:
    """``(type, varargs)`` of a parameter label (JDT LS ``int n``, ``String... parts``)."""
    label = re.sub(r"@[\w$.]+(?:\([^()]*\))?\s*", "", label).strip()
    words = _top_level_words(label)
    words = [w for w in words if w != "final"]
    t = words[0] if len(words) == 1 else "".join(words[:-1])
    if t.endswith("..."):
        return t[:-3], True
    return t, False


def parameter_types(signatures: tuple[Signature, ...], index: int) -> tuple[str, ...]:
    """The types an argument at ``index`` may have, over every overload that takes that
    many arguments (a varargs parameter: its element and array type). Empty when no
    overload does, or when one takes ``Object``, a wildcard or a type variable there
    (anything fits: no preference)."""
    out: list[str] = []
    for sig in signatures:
        params = sig.params
        if index < len(params):
            t, varargs = _parameter_type(params[index])
        elif params and _parameter_type(params[-1])[1]:
            t, varargs = _parameter_type(params[-1])
        else:
            continue
        base = _simple(t).removesuffix("[]") if not varargs else _simple(t)
        if not t or base in ("Object", "var") or "?" in t or _TYPE_VARIABLE.fullmatch(base):
            return ()
        out += [t, t + "[]"] if varargs else [t]
    return tuple(dict.fromkeys(out))


def type_site(text: str, dot: int, doc: Document | None = None) -> TypeSite:
    """Java: the :class:`TypeSite` of the member access at ``dot`` (an argument only at a
    value site whose expected type is unknown); ``doc``: the monitor's document (its lexer
    says which brackets and commas are code)."""
    value_site = is_value_site(text, dot, doc)
    expected = expected_type(text, dot)
    argument = argument_position(text, dot, doc) if expected is None and value_site else None
    return TypeSite(value_site, expected, argument)


def drops_void(member: str | None, site: TypeSite) -> bool:
    """``expected_types``: only the provably safe rule (``void`` at a value site)."""
    return unusable(member, value_site=site.value_site, expected=site.expected, strict=False)


def drops_strict(member: str | None, site: TypeSite) -> bool:
    """``expected_types_strict``: also primitives where a class type is declared."""
    return unusable(member, value_site=site.value_site, expected=site.expected, strict=True)


#: Java's (JDT LS details).
JAVA_TYPES = TypeRules(member_type, fits, parameter_types, reach_probe_type, universal_member, type_site, drops_void)
#: Java's with the opt-in heuristic (``expected_types_strict``).
JAVA_STRICT_TYPES = replace(JAVA_TYPES, drops=drops_strict)
