"""Expected types at a member-access site (Java): which members cannot be the value there.

After ``obj.`` the dereference monitor knows every legal member; with expected types on
it also drops members whose *type* cannot be used at that site, from what the server
reports per completion item (JDT LS: ``detail`` ``Book.getYear() : int``).

Two rules, each a pure function of the text before the dot and the member's type:

* **void at a value site** (``expected_types``, provably safe): a ``void`` method cannot
  be part of a larger expression. The site is a value site when the member access
  (its whole receiver chain, see :func:`receiver_start`) follows ``=`` (any assignment or
  comparison operator), ``return``, a unary/binary operator, ``[``, or ``(``/``,`` of a
  call, condition or parenthesised expression (not a ``for``/``try``/``catch`` header,
  where an expression statement may stand). A statement start (``;``, ``{``, ``}``,
  ``)``), a lambda arrow ``->`` and ``:`` (labels, ``case``) are not value sites.
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
:func:`argument_position`) the expected types are the parameter types the server's
``signatureHelp`` reports there (:func:`parameter_types`: every overload that takes that
many arguments; none when one of them takes ``Object`` or a type variable).

A member name is dropped only if *every* item of that name is dropped (overloads), and
the monitor never drops every candidate (the rule then fails open for that site).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Final

from monitors.base import Signature
from monitors.document import Document
from monitors.identifiers import is_ident_char

__all__ = [
    "JAVA_STRICT_TYPES",
    "JAVA_TYPES",
    "NO_SITE",
    "TypeRules",
    "TypeSite",
    "argument_position",
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
    "receiver_start",
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
_NOT_TYPE_WORDS: Final = frozenset({
    "return", "throw", "new", "else", "case", "assert", "yield", "instanceof", "package", "import",
})
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


def receiver_start(text: str, dot: int) -> int:
    """Where the receiver expression of the member-access dot at ``dot`` starts.

    Walks back over identifiers, dots, balanced ``(...)``/``[...]``/``<...>`` groups,
    string literals and ``new``: ``foo(a, b).bar[0].`` -> the offset of ``foo``.
    """
    i = dot
    while i > 0:
        j = _blank_back(text, i - 1)
        if j < 0:
            return 0
        ch = text[j]
        if ch in ")]":
            k = _open_of(text, j)
            if k is None:
                return i
            i = k
            continue
        if ch == ">" and i < len(text) and text[i] == "(":  # ``new Foo<>(`` / ``List.<T>of(``
            k = _generic_open(text, j)
            if k is None:
                return i
            i = k
            continue
        if ch == '"':
            k = text.rfind('"', 0, j)
            while k > 0 and text[k - 1] == "\\":
                k = text.rfind('"', 0, k - 1)
            if k < 0:
                return i
            i = k
            continue
        word = _word_before(text, j + 1)
        if word and not word[0].isdigit():
            if word in _NOT_TYPE_WORDS:
                return i
            i = j + 1 - len(word)
            # ``new Foo(`` keeps going over ``new``; ``a.b`` over the dot before ``b``.
            k = _blank_back(text, i - 1)
            if k >= 0 and text[k] == ">":  # explicit type arguments: ``List.<String>of(``
                g = _generic_open(text, k)
                if g is not None:
                    k = _blank_back(text, g - 1)
            if k >= 0 and text[k] == ".":
                i = k
                continue
            if k >= 2 and text[k - 2 : k + 1] == "new" and (k < 3 or not is_ident_char(text[k - 3])):
                i = k - 2
            return i
        return i
    return 0


def _generic_open(text: str, close: int) -> int | None:
    """The ``<`` that the ``>`` at ``close`` closes, when what lies between reads as type arguments."""
    depth = 0
    i = close
    while i >= 0:
        ch = text[i]
        if ch == ">":
            depth += 1
        elif ch == "<":
            depth -= 1
            if depth == 0:
                return i
        elif not (is_ident_char(ch) or ch in " \t\r\n,.?[]&"):
            return None
        i -= 1
    return None


def _blank_back(text: str, i: int) -> int:
    """The offset of the last non-blank character at or before ``i`` (-1: none)."""
    while i >= 0 and text[i] in " \t\r\n":
        i -= 1
    return i


def _open_of(text: str, close: int, *, statement: bool = True) -> int | None:
    """The offset of the bracket that ``text[close]`` closes (strings skipped roughly);
    with ``statement``, None once the scan leaves the statement (``;``, ``{``, ``}``)."""
    pairs = {")": "(", "]": "["}
    stack = [text[close]]
    i = close - 1
    while i >= 0:
        ch = text[i]
        if ch == '"':
            k = text.rfind('"', 0, i)
            if k < 0:
                return None
            i = k - 1
            continue
        if ch in ")]":
            stack.append(ch)
        elif ch in "([":
            if pairs[stack[-1]] != ch:
                return None
            stack.pop()
            if not stack:
                return i
        elif statement and ch in ";{}":
            return None
        i -= 1
    return None


def _word_before(text: str, end: int) -> str:
    """The identifier ending right before ``end`` (after blanks), or ``""``."""
    j = _blank_back(text, end - 1)
    k = j
    while k >= 0 and is_ident_char(text[k]):
        k -= 1
    return text[k + 1 : j + 1]


def _innermost_open(text: str, end: int, doc: Document | None = None, dot: int = -1) -> int | None:
    """The offset of the innermost bracket open at ``end`` within the statement, or None.

    With ``doc`` (the caller's document, lexed to the member-access dot at ``dot`` after
    ``end``, the receiver chain between them balanced): its lexer's open brackets, None
    when that is a ``{`` or a ``;`` stands at its level before ``end`` (``for (a; b``).
    Without: a backward scan (string and char literals skipped roughly)."""
    if doc is not None:
        return _innermost_in(doc, text, end, dot)
    depth = 0
    i = end - 1
    while i >= 0:
        ch = text[i]
        if ch in "\"'":
            k = text.rfind(ch, 0, i)
            if k < 0:
                return None
            i = k - 1
            continue
        if ch in ")]":
            depth += 1
        elif ch in "([":
            if depth == 0:
                return i
            depth -= 1
        elif ch in ";{}" and depth == 0:
            return None
        i -= 1
    return None


def _code_frame(doc: Document, text: str, dot: int) -> tuple[str, tuple[int, ...]]:
    """The open brackets (kinds, offsets) of the code around the dot at ``dot``."""
    lexer = doc.advance(dot + 1)
    if lexer.pos != dot + 1:  # the document is lexed past the dot: lex the text up to it
        lexer = Document(doc.lex, text[: dot + 1]).lexer
    frame = next(f for f in reversed(lexer.stack) if f[0] == "code")
    return str(frame[3]), frame[4]  # type: ignore[return-value]


def _level_chars(doc: Document, segment: str, ch: str) -> int:
    """How many ``ch`` stand in ``segment``'s code outside its own brackets."""
    seg = Document(doc.lex, segment)
    count = 0
    at = segment.find(ch)
    while at >= 0:
        lexer = seg.lexer_at(at + 1)
        count += len(lexer.stack) == 1 and not lexer.stack[0][3] and lexer.pos == at + 1
        at = segment.find(ch, at + 1)
    return count


def _innermost_in(doc: Document, text: str, end: int, dot: int) -> int | None:
    kinds, offsets = _code_frame(doc, text, dot)
    k = len(offsets)
    while k and offsets[k - 1] >= end:
        k -= 1
    if not k or kinds[k - 1] == "{":
        return None
    opened = offsets[k - 1]
    return None if _level_chars(doc, text[opened + 1 : end], ";") else opened


def is_value_site(text: str, dot: int, doc: Document | None = None) -> bool:
    """Whether the member access at ``dot`` is part of a larger expression (see module doc;
    ``doc``: the caller's document, see :func:`_innermost_open`)."""
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
_CONTROL: Final = frozenset({"if", "for", "while", "else", "do", "try", "catch", "finally", "switch",
                             "synchronized", "static"})


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


def argument_position(text: str, dot: int, doc: Document | None = None) -> int | None:
    """The 0-based argument index when the member access at ``dot`` (its whole receiver
    chain) starts an argument of a method or constructor call (``f(a, obj.`` -> 1);
    None elsewhere (a condition, a parenthesised expression, after an operator).
    ``doc``: the caller's document (see :func:`_innermost_open`): its lexer then also
    says which commas separate arguments."""
    start = receiver_start(text, dot)
    j = _blank_back(text, start - 1)
    if j < 0 or text[j] not in "(,":
        return None
    opened = j if text[j] == "(" else _innermost_open(text, j, doc, dot)
    if opened is None or text[opened] != "(":
        return None
    name = _word_before(text, opened)
    if not name or name[0].isdigit() or name in _CONTROL or name in _NOT_TYPE_WORDS:
        return None
    if doc is not None:
        return _level_chars(doc, text[opened + 1 : start], ",")
    commas = depth = 0
    i = opened + 1
    while i < start:
        ch = text[i]
        if ch in "\"'":  # a literal: skip to its closing quote
            k = i + 1
            while k < start and text[k] != ch:
                k += 2 if text[k] == "\\" else 1
            i = k + 1
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            commas += 1
        i += 1
    return commas


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


@dataclass(frozen=True, slots=True)
class TypeSite:
    """What the text before a member-access dot says about the value there.

    ``value_site``: the access is part of a larger expression (a ``void`` member cannot
    be); ``expected``: the type it must have (None: unknown); ``argument``: the call
    argument it starts (index, or Python keyword), asked only where ``expected`` is
    unknown."""

    value_site: bool = False
    expected: str | None = None
    argument: int | str | None = None


#: A site the text says nothing about.
NO_SITE: Final = TypeSite()


@dataclass(frozen=True, slots=True)
class TypeRules:
    """How one language reads member types, the dereference monitor's expected-types
    strategy (one object per language and option, chosen at construction).

    ``member_type(detail)``, ``fits(member, expected)``, ``parameter_types(signatures,
    slot)``; for reach probes ``probe_type(type)`` and ``universal_member(name)`` (members
    every object has); ``site(text, dot, doc)``: the :class:`TypeSite` there (``doc``: the monitor's document); ``drops(type,
    site)``: a member of that type cannot be used at the site (removed from the
    candidates); ``resolve``: the servers report member types only for resolved items
    (:attr:`monitors.base.CompletionNeed.types`, asked at a site with an expected type
    or an argument)."""

    member_type: Callable[[str | None], str | None]
    fits: Callable[[str | None, str | None], bool]
    parameter_types: Callable[[tuple[Signature, ...], Any], tuple[str, ...]]
    probe_type: Callable[[str], bool]
    universal_member: Callable[[str], bool]
    site: Callable[[str, int, Document | None], TypeSite]
    drops: Callable[[str | None, TypeSite], bool]
    resolve: bool = False


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
