"""Is this dot a member access? Incremental tree-sitter parsing plus a tiny lexer.

:class:`TriggerDetector` holds the text of one document (prompt prefix plus what
was generated so far), a tree-sitter parser and tree, and a small lexer. Appending
text is cheap (a list append: nothing is parsed). :meth:`TriggerDetector.is_member_access`
answers for one character offset whether that character is a member-access dot.

What is parsed. The check parses the text **up to and including the dot**, not the
whole text: what comes after the dot (the identifier being typed, ``.is`` or
``.in`` that read as keywords, the start of the next line) must not change the
verdict, and the verdict for a dot is then the same whether the identifier after
it arrived in the same token or later. The tree always covers a prefix of the
text; moving its end is a ``tree.edit`` (an insertion at the old end, or a
deletion when a query goes back) followed by ``parser.parse(new, old_tree)``, so
the usual call (the next dot, a little further on) reparses only the new part.

The verdict. The character must end a member-access token (``.``; the second
colon of Rust's ``::`` path separator, where rust-analyzer completes the items of
a module, type or enum) and

1. the lexer says the dot is in code: not inside a string, comment or regex
   literal, *including unfinished ones* (``"a.``, ``\"\"\"Return the area.``), which
   tree-sitter parses as ERROR nodes without any string node; and the statement
   does not start with a word the language rejects (Python ``import``/``from``:
   a future imports monitor's job);
2. the tree-sitter leaf covering it is a member-access token of the language
   (``.``, TS ``?.``, Rust ``::``) ending right after it, and not ``is_missing`` (a float
   ``1.`` or an ellipsis ``...`` are other leaves);
3. no ancestor is a string, comment, number literal or rejected node type, up to
   the first interpolation node (``f"{x.y}"`` is code inside a string);
4. the leaf before it (skipping whitespace and comments) can end an object: any
   named leaf (identifier, string end, number, ``self``/``this``) or a closing
   token such as ``)`` ``]`` (this rejects ``x = .`` and the second dot of ``..``).

ERROR nodes are never relied on: a dot is judged only by the leaves around it.

Costs. ``append`` is O(len(text)). A check lexes only the characters since the
previous check and reparses incrementally (0.1-0.4 ms on a large file); the
first check on a long prompt pays one full parse. Queries are expected in
increasing offset order (the monitor's order); an earlier offset re-lexes from the
start (correct, just slower).

Identifier characters (shared with :mod:`monitors.vocab`): ASCII letters, digits,
``_``, ``$`` and every non-ASCII character (every byte >= 0x80).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from monitors.identifiers import IDENT_CLASS, IDENTIFIER, is_ident_char
from monitors.languages import LanguageSpec, LexSpec

if TYPE_CHECKING:  # pragma: no cover
    import tree_sitter

__all__ = [
    "TriggerDetector",
    "trigger_chars",
]


# --------------------------------------------------------------------------- lexer

_PY_PREFIXES = frozenset({"", "r", "u", "b", "f", "t", "br", "rb", "fr", "rf", "tr", "rt"})
_PY_CODE_TOP = re.compile(r"[#'\"\\\n;()\[\]{}]")
_PY_CODE_INTERP = re.compile(r"[#'\"\\\n;()\[\]{}:]")
_PY_FMT = re.compile(r"[{}'\"\n]")
_HSPACE = re.compile(r"[ \t\f\r]*")
_SPACE = re.compile(r"[ \t\f\r\n]*")
_BLOCK_END = re.compile(r"\*/")
_BLOCK_NESTED = re.compile(r"\*/|/\*")
_REGEX_BODY = re.compile(r"[\\\[\]/\n]")
_RUST_CHAR = re.compile(r"'(?:[^\\'\n]|\\(?:u\{[0-9A-Fa-f_]{1,8}\}|x[0-9A-Fa-f]{2}|[^\n]))'")
_RUST_CHAR_PARTIAL = re.compile(r"'(?:[^\\'\n]|\\(?:u(?:\{[0-9A-Fa-f_]{0,8})?|x[0-9A-Fa-f]{0,2})?)?")
_JS_REGEX_AFTER_WORDS = frozenset(
    {
        "return",
        "typeof",
        "instanceof",
        "in",
        "of",
        "new",
        "delete",
        "void",
        "throw",
        "case",
        "do",
        "else",
        "yield",
        "await",
    }
)

_string_regex_cache: dict[tuple[str, bool, bool, str], re.Pattern[str]] = {}


def _escape_end(text: str, i: int) -> int | None:
    """Position after the backslash escape at ``i``; None if the text ends inside it."""
    n = len(text)
    if i + 1 >= n:
        return None
    if text[i + 1] == "\r":
        if i + 2 >= n:
            return None
        return i + 3 if text[i + 2] == "\n" else i + 2
    return i + 2


def _closer_at(text: str, i: int, closer: str) -> tuple[bool, int] | None:
    """At the first character of a string's ``closer``: (closed?, next position).

    None when the text ends inside what may still become the closer.
    """
    if len(closer) == 1:
        return True, i + 1
    end = text[i : i + len(closer)]
    if end == closer:
        return True, i + len(closer)
    if len(end) < len(closer) and closer.startswith(end):
        return None
    return False, i + 1


def _string_regex(first: str, escapes: bool, multiline: bool, interp: str) -> re.Pattern[str]:
    key = (first, escapes, multiline, interp)
    pat = _string_regex_cache.get(key)
    if pat is None:
        chars = re.escape(first)
        if escapes:
            chars += r"\\"
        if not multiline:
            chars += r"\n"
        if interp == "py":
            chars += r"{}"
        elif interp == "js":
            chars += r"\$"
        pat = re.compile(f"[{chars}]")
        _string_regex_cache[key] = pat
    return pat


def _c_code_regex(lex: LexSpec) -> re.Pattern[str]:
    quotes = "".join(sorted(set(lex.quotes + lex.multiline_quotes + lex.raw_quotes + lex.template_quote)))
    chars = "/" + re.escape(quotes) + r"()\[\]{};"
    if lex.asi_newlines:
        chars += r"\n"
    alt = rf"(?<!{IDENT_CLASS})b?r#*\"|" if lex.rust_raw_strings else ""
    return re.compile(f"{alt}[{chars}]")


_c_code_cache: dict[LexSpec, re.Pattern[str]] = {}

# Frames of the lexer stack (small lists, copied on fork):
#   ["code", depth, interp]      interp: "" (top level), "py" (f-string {...}), "js" (${...})
#   ["str", closer, escapes, multiline, interp]   interp: "", "py", "js"
#   ["fmt"]                       Python format spec after ":" in an f-string field
#   ["lc"]                        line comment
#   ["bc", depth]                 block comment
#   ["re", in_class]              JS regex literal


class _Lexer:
    """Incremental string/comment lexer: where does each character sit?

    ``run(text, limit)`` advances over ``text[pos:limit]``. A token that needs
    characters beyond ``len(text)`` to be told apart (``""`` vs ``\"\"\"``, ``\\``
    at the very end) is left for the next call, so the state never depends on text
    that does not exist yet.
    """

    __slots__ = ("lex", "pos", "stack", "stmt_pending", "stmt_word")

    def __init__(self, lex: LexSpec) -> None:
        self.lex = lex
        self.pos = 0
        self.stack: list[list[object]] = [["code", 0, ""]]
        self.stmt_word = ""
        self.stmt_pending = True

    def copy(self) -> _Lexer:
        new = _Lexer.__new__(_Lexer)
        new.lex = self.lex
        new.pos = self.pos
        new.stack = [frame[:] for frame in self.stack]
        new.stmt_word = self.stmt_word
        new.stmt_pending = self.stmt_pending
        return new

    def in_code(self) -> bool:
        return self.stack[-1][0] == "code"

    def rejected_statement(self) -> bool:
        return len(self.stack) == 1 and self.stmt_word in self.lex.reject_statement_words

    def run(self, text: str, limit: int) -> None:
        if self.lex.family == "python":
            self._run_python(text, limit)
        else:
            self._run_c(text, limit)

    # ------------------------------------------------------------------ helpers

    def _statement_word(self, text: str, pos: int, limit: int, newline_is_space: bool) -> tuple[int, bool]:
        """At a statement start: record its first word. Returns (pos, stop)."""
        n = len(text)
        space = (_SPACE if newline_is_space else _HSPACE).match(text, pos)
        j = space.end() if space is not None else pos
        if j >= limit:
            return j, True
        ch = text[j]
        if ch == "\n" or ch == ("#" if self.lex.family == "python" else "/"):
            return j, False  # a newline or comment: the main loop handles it; still pending
        m = IDENTIFIER.match(text, j)
        if m is None:
            self.stmt_word = ""
            self.stmt_pending = False
            return j, False
        if m.end() >= n:
            return j, True  # the word may go on: wait for more text
        self.stmt_word = m.group()
        self.stmt_pending = False
        return m.end(), False

    def _end_statement(self) -> None:
        self.stmt_pending = True
        self.stmt_word = ""

    # ------------------------------------------------------------------ python

    def _run_python(self, text: str, limit: int) -> None:
        n = len(text)
        pos = self.pos
        stack = self.stack
        while pos < limit:
            top = stack[-1]
            kind = top[0]
            if kind == "code":
                top_level = len(stack) == 1
                if top_level and self.stmt_pending:
                    pos, stop = self._statement_word(text, pos, limit, False)
                    if stop:
                        break
                    if pos >= limit:
                        break
                m = (_PY_CODE_TOP if top_level else _PY_CODE_INTERP).search(text, pos)
                if m is None or m.start() >= limit:
                    pos = limit
                    break
                i = m.start()
                ch = text[i]
                if ch == "#":
                    stack.append(["lc"])
                    pos = i + 1
                elif ch == '"' or ch == "'":
                    new = self._py_open_string(text, i, ch)
                    if new < 0:
                        pos = i
                        break
                    pos = new
                elif ch == "\\":
                    if i + 1 >= n:
                        pos = i
                        break
                    nxt = text[i + 1]
                    if nxt == "\r":
                        if i + 2 >= n:
                            pos = i
                            break
                        pos = i + 3 if text[i + 2] == "\n" else i + 2
                    elif nxt == "\n":
                        pos = i + 2
                    else:
                        pos = i + 1
                elif ch == "\n" or ch == ";":
                    if top_level and top[1] == 0:
                        self._end_statement()
                    pos = i + 1
                elif ch in "([{":
                    top[1] += 1  # type: ignore[operator]
                    pos = i + 1
                elif ch == "}" and top[2] == "py" and top[1] == 0:
                    stack.pop()  # end of an f-string field: back in the string
                    pos = i + 1
                elif ch in ")]}":
                    if top[1]:
                        top[1] -= 1  # type: ignore[operator]
                    pos = i + 1
                else:  # ":" in an f-string field
                    if top[1] == 0 and top[2] == "py":
                        stack.append(["fmt"])
                    pos = i + 1
            elif kind == "str":
                closer = top[1]
                assert isinstance(closer, str)
                triple = len(closer) == 3
                interp = top[4]
                assert isinstance(interp, str)
                pat = _string_regex(closer[0], True, triple, interp)
                m = pat.search(text, pos)
                if m is None or m.start() >= limit:
                    pos = limit
                    break
                i = m.start()
                ch = text[i]
                if ch == "\\":
                    after = _escape_end(text, i)
                    if after is None:
                        pos = i
                        break
                    pos = after
                elif ch == "\n":
                    stack.pop()  # unterminated one-line string: ends at the newline
                    pos = i
                elif ch == "{":
                    if i + 1 >= n:
                        pos = i
                        break
                    if text[i + 1] == "{":
                        pos = i + 2
                    else:
                        stack.append(["code", 0, "py"])
                        pos = i + 1
                elif ch == "}":
                    pos = i + 2 if i + 1 < n and text[i + 1] == "}" else i + 1
                else:  # the quote character
                    closing = _closer_at(text, i, closer)
                    if closing is None:
                        pos = i
                        break
                    closed, pos = closing
                    if closed:
                        stack.pop()
            elif kind == "fmt":
                m = _PY_FMT.search(text, pos)
                if m is None or m.start() >= limit:
                    pos = limit
                    break
                i = m.start()
                ch = text[i]
                if ch == "{":
                    stack.append(["code", 0, "py"])
                    pos = i + 1
                elif ch == "}":
                    stack.pop()  # the format spec
                    if len(stack) > 1:
                        stack.pop()  # the field: back in the string
                    pos = i + 1
                else:  # a quote or newline inside a format spec: the string is over
                    del stack[max(1, len(stack) - 3) :]
                    pos = i + 1 if ch != "\n" else i
            else:  # "lc"
                i = text.find("\n", pos)
                if i < 0 or i >= limit:
                    pos = limit
                    break
                stack.pop()
                pos = i
        self.pos = max(pos, self.pos)

    def _py_open_string(self, text: str, i: int, q: str) -> int:
        """Push the string opened by the quote at ``i``; -1 if more text is needed."""
        n = len(text)
        j = i
        while j > 0 and j > i - 3 and text[j - 1].isascii() and text[j - 1].isalpha():
            j -= 1
        prefix = text[j:i].lower()
        if j > 0 and is_ident_char(text[j - 1]):
            prefix = "?"  # part of a longer name: not a string prefix
        if prefix not in _PY_PREFIXES:
            prefix = ""
        interp = "py" if ("f" in prefix or "t" in prefix) else ""
        if i + 1 >= n:
            return -1
        if text[i + 1] != q:
            self.stack.append(["str", q, True, False, interp])
            return i + 1
        if i + 2 >= n:
            return -1
        if text[i + 2] == q:
            self.stack.append(["str", q * 3, True, True, interp])
            return i + 3
        return i + 2  # an empty string

    # ------------------------------------------------------------------ c family

    def _run_c(self, text: str, limit: int) -> None:
        lex = self.lex
        n = len(text)
        pos = self.pos
        stack = self.stack
        code_re = _c_code_cache.get(lex)
        if code_re is None:
            code_re = _c_code_cache[lex] = _c_code_regex(lex)
        while pos < limit:
            top = stack[-1]
            kind = top[0]
            if kind == "code":
                top_level = len(stack) == 1
                if top_level and self.stmt_pending:
                    pos, stop = self._statement_word(text, pos, limit, not lex.asi_newlines)
                    if stop or pos >= limit:
                        break
                m = code_re.search(text, pos)
                if m is None or m.start() >= limit:
                    pos = limit
                    break
                i = m.start()
                ch = text[i]
                if m.end() - i > 1:
                    # Rust raw string r#"..."#: closer is '"' plus as many '#'.
                    hashes = m.group().count("#")
                    stack.append(["str", '"' + "#" * hashes, False, True, ""])
                    pos = m.end()
                elif ch == "/":
                    if i + 1 >= n:
                        pos = i
                        break
                    nxt = text[i + 1]
                    if nxt == "/":
                        stack.append(["lc"])
                        pos = i + 2
                    elif nxt == "*":
                        stack.append(["bc", 1])
                        pos = i + 2
                    elif lex.regex_literals and _slash_starts_regex(text, i):
                        stack.append(["re", False])
                        pos = i + 1
                    else:
                        pos = i + 1
                elif ch == "'" and lex.rust_lifetimes:
                    cm = _RUST_CHAR.match(text, i)
                    if cm is not None:
                        pos = cm.end()
                    else:
                        pm = _RUST_CHAR_PARTIAL.match(text, i)
                        if pm is not None and pm.end() >= n:
                            pos = i  # could still become a char literal
                            break
                        pos = i + 1  # a lifetime or label
                elif ch in lex.quotes or ch in lex.multiline_quotes:
                    if ch == '"' and lex.text_blocks:
                        start = text[i : i + 3]
                        if start == '"""':
                            stack.append(["str", '"""', True, True, ""])
                            pos = i + 3
                            continue
                        if len(start) < 3 and '"""'.startswith(start):
                            pos = i
                            break
                    stack.append(["str", ch, True, ch in lex.multiline_quotes, ""])
                    pos = i + 1
                elif ch in lex.raw_quotes:
                    stack.append(["str", ch, False, True, ""])
                    pos = i + 1
                elif ch in lex.template_quote:
                    stack.append(["str", ch, True, True, "js"])
                    pos = i + 1
                elif ch == "\n":
                    if top_level and top[1] == 0:
                        self._end_statement()
                    pos = i + 1
                elif ch == ";":
                    if top_level:
                        self._end_statement()
                    pos = i + 1
                elif ch == "{":
                    if top_level:
                        self._end_statement()
                    else:
                        top[1] += 1  # type: ignore[operator]
                    pos = i + 1
                elif ch == "}":
                    if top_level:
                        self._end_statement()
                    elif top[1] == 0:
                        stack.pop()  # end of ${...}: back in the template
                    else:
                        top[1] -= 1  # type: ignore[operator]
                    pos = i + 1
                elif ch in "([":
                    top[1] += 1  # type: ignore[operator]
                    pos = i + 1
                else:  # ")" or "]"
                    if top[1]:
                        top[1] -= 1  # type: ignore[operator]
                    pos = i + 1
            elif kind == "str":
                closer = top[1]
                escapes = top[2]
                multiline = top[3]
                interp = top[4]
                assert isinstance(closer, str) and isinstance(interp, str)
                pat = _string_regex(closer[0], bool(escapes), bool(multiline), interp)
                m = pat.search(text, pos)
                if m is None or m.start() >= limit:
                    pos = limit
                    break
                i = m.start()
                ch = text[i]
                if ch == "\\":
                    after = _escape_end(text, i)
                    if after is None:
                        pos = i
                        break
                    pos = after
                elif ch == "\n":
                    stack.pop()
                    pos = i
                elif ch == "$":
                    if i + 1 >= n:
                        pos = i
                        break
                    if text[i + 1] == "{":
                        stack.append(["code", 0, "js"])
                        pos = i + 2
                    else:
                        pos = i + 1
                else:  # first character of the closer
                    closing = _closer_at(text, i, closer)
                    if closing is None:
                        pos = i
                        break
                    closed, pos = closing
                    if closed:
                        stack.pop()
            elif kind == "lc":
                i = text.find("\n", pos)
                if i < 0 or i >= limit:
                    pos = limit
                    break
                stack.pop()
                pos = i
            elif kind == "bc":
                m = (_BLOCK_NESTED if lex.nested_block_comments else _BLOCK_END).search(text, pos)
                if m is None or m.start() >= limit:
                    # A closer may start at the last character, with its second still to come.
                    pos = n - 1 if limit >= n and text[n - 1] in "*/" else limit
                    break
                if m.group() == "/*":
                    top[1] += 1  # type: ignore[operator]
                else:
                    top[1] -= 1  # type: ignore[operator]
                    if top[1] == 0:
                        stack.pop()
                pos = m.end()
            else:  # "re"
                m = _REGEX_BODY.search(text, pos)
                if m is None or m.start() >= limit:
                    pos = limit
                    break
                i = m.start()
                ch = text[i]
                if ch == "\\":
                    if i + 1 >= n:
                        pos = i
                        break
                    pos = i + 2
                elif ch == "[":
                    top[1] = True
                    pos = i + 1
                elif ch == "]":
                    top[1] = False
                    pos = i + 1
                elif ch == "/":
                    if not top[1]:
                        stack.pop()
                    pos = i + 1
                else:  # newline: an unterminated regex ends
                    stack.pop()
                    pos = i
        self.pos = max(pos, self.pos)


def _slash_starts_regex(text: str, i: int) -> bool:
    """JS: does the ``/`` at ``i`` open a regex literal (rather than divide)?"""
    j = i - 1
    while j >= 0 and text[j] in " \t\r\n":
        j -= 1
    if j < 0:
        return True
    c = text[j]
    if c in ")]}\"'`":
        return False
    if is_ident_char(c):
        k = j
        while k > 0 and is_ident_char(text[k - 1]):
            k -= 1
        return text[k : j + 1] in _JS_REGEX_AFTER_WORDS
    return True


# --------------------------------------------------------------------------- detector

_WHITESPACE_BYTES = frozenset(b" \t\r\n\f\v")


def trigger_chars(spec: LanguageSpec) -> frozenset[str]:
    """The last characters of the language's punctuation member-access tokens.

    ``{"."}`` for most languages; Rust's ``::`` adds ``":"``. Node-type names
    among the tokens (JS ``optional_chain``) add nothing: their text ends in a dot.
    """
    chars = {tok[-1] for tok in spec.member_access_tokens if tok and not tok[0].isalpha()}
    return frozenset(chars | {"."})


class TriggerDetector:
    """Member-access dots in a growing text (see the module docstring).

    ``TriggerDetector(spec, text)`` loads the grammar (``ConfigError`` when its
    wheel is missing) but parses nothing yet. ``append`` records text;
    ``is_member_access(offset)`` parses (incrementally) up to and including the
    character at ``offset``. ``fork`` gives an independent copy.
    """

    __slots__ = (
        "_ascii",
        "_buf",
        "_buf_chars",
        "_language",
        "_last",
        "_len",
        "_lexer",
        "_parser",
        "_pending",
        "_text",
        "_tree",
        "_tree_bytes",
        "_tree_point",
        "parses",
        "spec",
        "trigger_chars",
    )

    def __init__(self, spec: LanguageSpec, text: str = "") -> None:
        import tree_sitter

        self.spec = spec
        self._language = spec.ts_language_loader()
        self._parser = tree_sitter.Parser(self._language)
        self._text = ""
        self._pending: list[str] = [text] if text else []
        self._len = len(text)
        self._buf = b""
        self._buf_chars = 0
        self._ascii = True
        self._tree: tree_sitter.Tree | None = None
        self._tree_bytes = 0
        self._tree_point = (0, 0)
        self._lexer = _Lexer(spec.lex)
        self._last: tuple[int, bool] | None = None
        #: How many times the parser ran (for tests and benchmarks).
        self.parses = 0
        #: The characters that can end a member-access token (``.``; ``:`` of ``::``).
        self.trigger_chars = trigger_chars(spec)

    # ------------------------------------------------------------------ text

    def append(self, text: str) -> None:
        """Add ``text`` at the end. Cheap: nothing is parsed until a check."""
        if text:
            self._pending.append(text)
            self._len += len(text)

    def __len__(self) -> int:
        return self._len

    @property
    def text(self) -> str:
        """The whole text so far."""
        return self._materialize()

    def _materialize(self) -> str:
        if self._pending:
            self._text = self._text + "".join(self._pending)
            self._pending.clear()
        return self._text

    def _encoded(self, text: str) -> bytes:
        if self._buf_chars < len(text):
            new = text[self._buf_chars :]
            self._buf += new.encode("utf-8", "surrogatepass")
            self._ascii = self._ascii and new.isascii()
            self._buf_chars = len(text)
        return self._buf

    def _byte_offset(self, text: str, buf: bytes, offset: int) -> int:
        if self._ascii:
            return offset
        if offset * 2 > len(text):
            return len(buf) - len(text[offset:].encode("utf-8", "surrogatepass"))
        return len(text[:offset].encode("utf-8", "surrogatepass"))

    # ------------------------------------------------------------------ parsing

    def _tree_to(self, buf: bytes, end: int) -> tree_sitter.Tree:
        tree = self._tree
        if tree is not None and end == self._tree_bytes:
            return tree
        old = self._tree_bytes
        old_point = self._tree_point
        if tree is not None and end > old:
            nl = buf.rfind(b"\n", old, end)
            if nl < 0:
                point = (old_point[0], old_point[1] + end - old)
            else:
                point = (old_point[0] + buf.count(b"\n", old, end), end - nl - 1)
        else:
            point = (buf.count(b"\n", 0, end), end - buf.rfind(b"\n", 0, end) - 1)
        if tree is not None:
            if end > old:
                tree.edit(
                    start_byte=old,
                    old_end_byte=old,
                    new_end_byte=end,
                    start_point=old_point,
                    old_end_point=old_point,
                    new_end_point=point,
                )
            else:
                tree.edit(
                    start_byte=end,
                    old_end_byte=old,
                    new_end_byte=end,
                    start_point=point,
                    old_end_point=old_point,
                    new_end_point=point,
                )
            tree = self._parser.parse(buf[:end], tree)
        else:
            tree = self._parser.parse(buf[:end])
        self.parses += 1
        self._tree = tree
        self._tree_bytes = end
        self._tree_point = point
        return tree

    # ------------------------------------------------------------------ the check

    def is_member_access(self, char_offset: int) -> bool:
        """Whether the character at ``char_offset`` ends a member-access token.

        Judged on the text up to and including that character (see the module
        docstring). Offsets out of range, or characters that cannot end one of
        the language's member-access tokens (see :func:`trigger_chars`), give
        False. For ``::`` the offset is that of the second colon.
        """
        if not 0 <= char_offset < self._len:
            return False
        last = self._last
        if last is not None and last[0] == char_offset:
            return last[1]
        text = self._materialize()
        if text[char_offset] not in self.trigger_chars:
            return False
        verdict = self._judge(text, char_offset)
        self._last = (char_offset, verdict)
        return verdict

    def _judge(self, text: str, offset: int) -> bool:
        spec = self.spec
        lexer = self._lexer
        if lexer.pos > offset + 1:
            lexer = self._lexer = _Lexer(spec.lex)  # going back: start over
        lexer.run(text, offset + 1)
        if lexer.pos < offset + 1 or not lexer.in_code() or lexer.rejected_statement():
            return False
        buf = self._encoded(text)
        b = self._byte_offset(text, buf, offset)
        tree = self._tree_to(buf, b + 1)
        root = tree.root_node
        leaf = root.descendant_for_byte_range(b, b + 1)
        if leaf is None or leaf.type not in spec.member_access_tokens or leaf.end_byte != b + 1 or leaf.is_missing:
            return False
        node = leaf.parent
        while node is not None:
            t = node.type
            if t in spec.interpolation_types:
                break
            if (
                t in spec.string_types
                or t in spec.comment_types
                or t in spec.number_types
                or t in spec.reject_ancestor_types
            ):
                return False
            node = node.parent
        return self._object_before(root, buf, leaf.start_byte)

    def _object_before(self, root: tree_sitter.Node, buf: bytes, start: int) -> bool:
        spec = self.spec
        j = start - 1
        while True:
            while j >= 0 and buf[j] in _WHITESPACE_BYTES:
                j -= 1
            if j < 0:
                return False
            node = root.descendant_for_byte_range(j, j + 1)
            if node is None:  # pragma: no cover - the root spans every byte
                return False
            if node.type in spec.comment_types:
                j = node.start_byte - 1
                continue
            if node.child_count or node.is_missing or node.type == "ERROR":
                return False
            return node.is_named or node.type in spec.object_end_tokens

    # ------------------------------------------------------------------ copies

    def fork(self) -> TriggerDetector:
        """An independent copy: appending to one does not change the other."""
        import tree_sitter

        text = self._materialize()
        new = TriggerDetector.__new__(TriggerDetector)
        new.spec = self.spec
        new._language = self._language
        new._parser = tree_sitter.Parser(self._language)
        new._text = text
        new._pending = []
        new._len = self._len
        new._buf = self._buf
        new._buf_chars = self._buf_chars
        new._ascii = self._ascii
        new._tree = self._tree.copy() if self._tree is not None else None
        new._tree_bytes = self._tree_bytes
        new._tree_point = self._tree_point
        new._lexer = self._lexer.copy()
        new._last = self._last
        new.parses = self.parses
        new.trigger_chars = self.trigger_chars
        return new
