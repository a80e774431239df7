"""The one incremental lexer: where each character of a code text sits.

:class:`Lexer` is driven by a language's :class:`~monitors.languages.LexSpec` (quotes,
triple, raw and template strings with their interpolations, char literals, line and
block comments, regex literals, statement ends) and keeps, besides the lexical mode,
the brackets open in each code frame (their kinds and offsets) and where the current
statement's first word starts. ``run(text, limit)`` advances over ``text[pos:limit]``
with a regex search per frame (no per-character Python loop in code or strings). A
character whose meaning the next one decides (``""`` vs ``\"\"\"``, ``\\`` at the very
end, ``/`` before ``/`` or ``*``, ``$`` before ``{``) is left for the next call: the state
never depends on text that does not exist yet, so lexing a text in one piece or in any
number of pieces gives the same state.

Frames (small lists; code frames keep their brackets as a string and a tuple of offsets):

* ``["code", depth, interp, kinds, offsets]``: ``interp`` ``""`` (top level), ``"py"``
  (an f-string ``{...}`` field), ``"js"`` (a template's ``${...}``); ``depth`` the
  statement-nesting count (``()[]`` and, where braces are not blocks, ``{}``; never
  below 0); ``kinds``/``offsets`` the open brackets, innermost last;
* ``["str", closer, escapes, multiline, interp]``; ``["fmt"]`` (a Python format spec);
  ``["lc"]`` a line comment; ``["bc", depth]`` a block comment; ``["re", in_class]``
  a JS regex literal.

Counters: ``mismatches`` (closers in top-level code that did not match the innermost
open bracket; a mismatched closer pops nothing) and ``unterminated`` (one-line strings that
ran into a newline); ``trouble``: which of the two came first (``""``: neither). Pure: no I/O.
"""

from __future__ import annotations

import re

from monitors.identifiers import IDENTIFIER, is_ident_char
from monitors.languages import LexSpec

__all__ = ["Frame", "Lexer", "bracket_events", "closers_of"]

#: One frame of the lexer's stack (see the module docstring).
Frame = list[object]

_OPENER = {")": "(", "]": "[", "}": "{"}
_PY_FMT = re.compile(r"[{}'\"\n]")
_HSPACE = re.compile(r"[ \t\f\r]*")
_SPACE = re.compile(r"[ \t\f\r\n]*")
_BLOCK_END = re.compile(r"\*/")
_BLOCK_NESTED = re.compile(r"\*/|/\*")
_REGEX_BODY = re.compile(r"[\\\[\]/\n]")
_QUIET = {"lc": re.compile(r"\n"), "bc": re.compile(r"[*/]"), "fmt": _PY_FMT, "re": _REGEX_BODY}
_ANY_BREAK = re.compile(r"[\s\S]")
_RUST_CHAR = re.compile(r"'(?:[^\\'\n]|\\(?:u\{[0-9A-Fa-f_]{1,8}\}|x[0-9A-Fa-f]{2}|[^\n]))'")
_RUST_CHAR_PARTIAL = re.compile(r"'(?:[^\\'\n]|\\(?:u(?:\{[0-9A-Fa-f_]{0,8}\}?)?|x[0-9A-Fa-f]{0,2}|[^\n])?)?")
_JS_REGEX_AFTER_WORDS = frozenset(
    {"return", "typeof", "instanceof", "in", "of", "new", "delete", "void", "throw", "case", "do", "else",
     "yield", "await"}
)

_string_cache: dict[tuple[str, bool, bool, str], re.Pattern[str]] = {}
_code_cache: dict[int, tuple[LexSpec, dict[str, re.Pattern[str]]]] = {}  # by id(lex): hashing a LexSpec is slow


def _string_regex(first: str, escapes: bool, multiline: bool, interp: str) -> re.Pattern[str]:
    key = (first, escapes, multiline, interp)
    pat = _string_cache.get(key)
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
        pat = _string_cache[key] = re.compile(f"[{chars}]")
    return pat


def _code_regex(lex: LexSpec, interp: str) -> re.Pattern[str]:
    """The characters that matter in a code frame of ``lex`` (``interp``: its kind)."""
    got = _code_cache.get(id(lex))
    if got is None or got[0] is not lex:
        got = _code_cache[id(lex)] = (lex, {})
    pat = got[1].get(interp)
    if pat is None:
        quotes = "".join(sorted(set(lex.quotes + lex.multiline_quotes + lex.raw_quotes + lex.template_quote)))
        chars = set(quotes) | set("()[]{};")
        if lex.line_comment:
            chars.add(lex.line_comment[0])
        if lex.block_comments or lex.regex_literals:
            chars.add("/")
        if lex.asi_newlines:
            chars.add("\n")
        if interp == "py":
            chars.add(":")
        pat = got[1][interp] = re.compile("[" + "".join(re.escape(c) for c in sorted(chars)) + "]")
    return pat


def _find(pattern: re.Pattern[str], text: str, pos: int, limit: int) -> int:
    """Where ``pattern`` next matches in ``text[pos:limit]`` (-1: not there)."""
    m = pattern.search(text, pos, limit)
    return -1 if m is None else m.start()


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
    """At the first character of a string's ``closer``: (closed?, next position);
    None when the text ends inside what may still become the closer."""
    if len(closer) == 1:
        return True, i + 1
    end = text[i : i + len(closer)]
    if end == closer:
        return True, i + len(closer)
    if len(end) < len(closer) and closer.startswith(end):
        return None
    return False, i + 1


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


def _continued(text: str, i: int) -> bool:
    """Whether the newline at ``i`` follows a ``\\`` line continuation."""
    return text[i - 1 : i] == "\\" or text[i - 2 : i] == "\\\r"


class Lexer:
    """Incremental lexer state over one text (see the module docstring).

    ``base``: the absolute offset of the text's first character (bracket offsets are
    absolute). ``copy`` is cheap (frames are short lists of immutable values).
    """

    __slots__ = ("base", "lex", "mismatches", "pos", "stack", "stmt_at", "stmt_pending", "trace", "trouble",
                 "unterminated")

    def __init__(self, lex: LexSpec, base: int = 0, *, trace: list[tuple[int, str]] | None = None) -> None:
        self.lex = lex
        #: When a list: every bracket of top-level code, ``(offset, character)``, as lexed.
        self.trace = trace
        self.base = base
        self.pos = 0
        self.stack: list[Frame] = [["code", 0, "", "", ()]]
        self.stmt_pending = True
        self.stmt_at = -1  # where the statement's first word starts (-1: none, or not a word)
        self.mismatches = 0
        self.unterminated = 0
        self.trouble = ""

    def copy(self) -> Lexer:
        new = Lexer.__new__(Lexer)
        new.lex = self.lex
        new.base = self.base
        new.pos = self.pos
        new.stack = [frame[:] for frame in self.stack]
        new.stmt_pending = self.stmt_pending
        new.stmt_at = self.stmt_at
        new.mismatches = self.mismatches
        new.unterminated = self.unterminated
        new.trouble = self.trouble
        new.trace = None
        return new

    # ------------------------------------------------------------------ queries

    def in_code(self) -> bool:
        """The last lexed character is followed by code (top level or an interpolation)."""
        return self.stack[-1][0] == "code"

    def statement_word(self, text: str) -> str:
        """The first word of the current top-level statement (``""``: none yet or not a word)."""
        if self.stmt_pending or self.stmt_at < 0:
            return ""
        m = IDENTIFIER.match(text, self.stmt_at - self.base)
        return m.group() if m is not None else ""

    def rejected_statement(self, text: str) -> bool:
        """At top level in a statement starting with a word the language rejects."""
        return len(self.stack) == 1 and self.statement_word(text) in self.lex.reject_statement_words

    def quiet_pattern(self) -> re.Pattern[str]:
        """The characters that matter in the innermost frame: text without any of them
        (and nothing pending) changes nothing but the statement's first word."""
        top = self.stack[-1]
        kind = top[0]
        if kind == "code":
            return _code_regex(self.lex, top[2])  # type: ignore[arg-type]
        if kind == "str":
            return _string_regex(str(top[1])[0], bool(top[2]), bool(top[3]), str(top[4]))
        return _QUIET.get(str(kind), _ANY_BREAK)

    # ------------------------------------------------------------------ lexing

    def run(self, text: str, limit: int) -> None:
        """Advance over ``text[pos:limit]`` (``text`` starts at offset ``base``)."""
        lex = self.lex
        stack = self.stack
        pos = self.pos
        n = len(text)
        while pos < limit:
            top = stack[-1]
            kind = top[0]
            if kind == "code":
                if len(stack) == 1 and self.stmt_pending:
                    pos = self._statement_start(text, pos, limit)
                    if pos >= limit:
                        break
                i = _find(_code_regex(lex, top[2]), text, pos, limit)  # type: ignore[arg-type]
                if i < 0:
                    pos = limit
                    break
                new = self._code(text, i, top)
            elif kind == "str":
                new = self._string(text, pos, limit, top)
            elif kind == "lc":
                i = text.find("\n", pos)
                if i < 0 or i >= limit:
                    pos = limit
                    break
                stack.pop()
                new = self._newline(i, stack[-1]) if lex.asi_newlines else i
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
                new = m.end()
            elif kind == "fmt":
                new = self._format_spec(text, pos, limit)
            else:  # "re"
                new = self._regex(text, pos, limit, top)
            if new < 0:  # the text ends where the next character decides
                pos = -new - 1
                break
            pos = new
        self.pos = max(pos, self.pos)

    def _statement_start(self, text: str, pos: int, limit: int) -> int:
        """At a top-level statement start: skip blanks and note where its first word is."""
        space = (_HSPACE if self.lex.asi_newlines else _SPACE).match(text, pos)
        j = space.end() if space is not None else pos
        if j >= limit:
            return j
        ch = text[j]
        if ch == "\n" or ch == self.lex.line_comment[:1] or (ch == "/" and self.lex.block_comments):
            return j  # a newline or comment: the main loop handles it; still pending
        self.stmt_pending = False
        self.stmt_at = self.base + j if is_ident_char(ch) and not ch.isdigit() else -1
        return j

    def _end_statement(self) -> None:
        self.stmt_pending = True
        self.stmt_at = -1

    def _newline(self, i: int, top: Frame) -> int:
        """A newline in code at ``i`` (not after a line continuation)."""
        if len(self.stack) == 1 and top[1] == 0:
            self._end_statement()
        return i + 1

    def _open(self, top: Frame, ch: str, i: int) -> None:
        if self.trace is not None and len(self.stack) == 1:
            self.trace.append((self.base + i, ch))
        top[3] = top[3] + ch  # type: ignore[operator]
        top[4] = (*top[4], self.base + i)  # type: ignore[misc]

    def _close(self, top: Frame, ch: str, i: int) -> None:
        if self.trace is not None and len(self.stack) == 1:
            self.trace.append((self.base + i, ch))
        kinds = top[3]
        assert isinstance(kinds, str)
        if kinds and kinds[-1] == _OPENER[ch]:
            top[3] = kinds[:-1]
            top[4] = top[4][:-1]  # type: ignore[index]
        elif len(self.stack) == 1:
            self.mismatches += 1  # an interpolation's stray closer is the string's business
            self.trouble = self.trouble or "mismatch"

    def _code(self, text: str, i: int, top: Frame) -> int:
        """The significant character at ``i`` in a code frame; the next position (or
        ``-i - 1``: wait for more text)."""
        lex = self.lex
        stack = self.stack
        ch = text[i]
        n = len(text)
        top_level = len(stack) == 1
        blocks = lex.brace_blocks and top_level
        if ch in "([{":
            if ch == "{" and blocks:
                self._end_statement()
            else:
                top[1] += 1  # type: ignore[operator]
            self._open(top, ch, i)
            return i + 1
        if ch in ")]}":
            if ch == "}" and top[2] and top[1] == 0:
                stack.pop()  # end of an interpolation: back in the string
                return i + 1
            if ch == "}" and blocks:
                self._end_statement()
            elif top[1]:
                top[1] -= 1  # type: ignore[operator]
            self._close(top, ch, i)
            return i + 1
        if ch == "\n":
            if lex.line_continuation and _continued(text, i):
                return i + 1
            return self._newline(i, top)
        if ch == ";":
            if top_level and (lex.brace_blocks or top[1] == 0):
                self._end_statement()
            return i + 1
        if ch == ":":  # a Python f-string field's format spec
            if top[1] == 0:
                stack.append(["fmt"])
            return i + 1
        if lex.line_comment and text.startswith(lex.line_comment, i):
            stack.append(["lc"])
            return i + len(lex.line_comment)
        if ch == "/":
            if i + 1 >= n:
                return -i - 1
            nxt = text[i + 1]
            if lex.line_comment[:1] == "/" and nxt == "/":
                stack.append(["lc"])
                return i + 2
            if lex.block_comments and nxt == "*":
                stack.append(["bc", 1])
                return i + 2
            if lex.regex_literals and _slash_starts_regex(text, i):
                stack.append(["re", False])
            return i + 1
        return self._quote(text, i, ch)

    def _quote(self, text: str, i: int, ch: str) -> int:
        """A quote in code: push the string (or char literal) it opens."""
        lex = self.lex
        stack = self.stack
        n = len(text)
        if ch == "'" and lex.rust_lifetimes:
            cm = _RUST_CHAR.match(text, i)
            if cm is not None:
                return cm.end()
            pm = _RUST_CHAR_PARTIAL.match(text, i)
            if pm is not None and pm.end() >= n:
                return -i - 1  # could still become a char literal
            return i + 1  # a lifetime or label
        if ch == '"' and lex.rust_raw_strings:
            j = i
            while j > 0 and text[j - 1] == "#":
                j -= 1
            if j > 0 and text[j - 1] == "r":
                k = j - 2 if j > 1 and text[j - 2] == "b" else j - 1
                if k == 0 or not is_ident_char(text[k - 1]):
                    stack.append(["str", '"' + "#" * (i - j), False, True, ""])
                    return i + 1
        if ch in lex.template_quote:
            stack.append(["str", ch, True, True, "js"])
            return i + 1
        if ch in lex.raw_quotes:
            stack.append(["str", ch, False, True, ""])
            return i + 1
        interp = ""
        if lex.string_prefixes:
            j = i
            while j > 0 and j > i - 3 and text[j - 1].isascii() and text[j - 1].isalpha():
                j -= 1
            prefix = text[j:i].lower()
            if j > 0 and is_ident_char(text[j - 1]):
                prefix = ""  # part of a longer name: not a string prefix
            if prefix in lex.string_prefixes and any(p in prefix for p in lex.interpolating_prefixes):
                interp = "py"
        if ch in lex.triple_quotes:
            if i + 1 >= n:
                return -i - 1
            if text[i + 1] == ch:
                if i + 2 >= n:
                    return -i - 1
                if text[i + 2] == ch:
                    stack.append(["str", ch * 3, True, True, interp])
                    return i + 3
                return i + 2  # an empty string
        stack.append(["str", ch, True, ch in lex.multiline_quotes, interp])
        return i + 1

    def _string(self, text: str, pos: int, limit: int, top: Frame) -> int:
        closer, escapes, multiline, interp = top[1], top[2], top[3], top[4]
        assert isinstance(closer, str) and isinstance(interp, str)
        i = _find(_string_regex(closer[0], bool(escapes), bool(multiline), interp), text, pos, limit)
        if i < 0:
            return limit
        ch = text[i]
        n = len(text)
        if ch == "\\":
            after = _escape_end(text, i)
            return -i - 1 if after is None else after
        if ch == "\n":
            self.stack.pop()  # an unterminated one-line string ends at the newline
            self.unterminated += 1
            self.trouble = self.trouble or "unterminated"
            return i
        if ch == "{":  # Python f-string: "{{" or a field
            if i + 1 >= n:
                return -i - 1
            if text[i + 1] == "{":
                return i + 2
            self.stack.append(["code", 0, "py", "", ()])
            return i + 1
        if ch == "}":
            return i + 2 if i + 1 < n and text[i + 1] == "}" else i + 1
        if ch == "$" and interp == "js":
            if i + 1 >= n:
                return -i - 1
            if text[i + 1] == "{":
                self.stack.append(["code", 0, "js", "", ()])
                return i + 2
            return i + 1
        closing = _closer_at(text, i, closer)
        if closing is None:
            return -i - 1
        closed, after = closing
        if closed:
            self.stack.pop()
        return after

    def _format_spec(self, text: str, pos: int, limit: int) -> int:
        stack = self.stack
        i = _find(_PY_FMT, text, pos, limit)
        if i < 0:
            return limit
        if text[i] == "{":
            stack.append(["code", 0, "py", "", ()])
            return i + 1
        if text[i] == "}":
            stack.pop()  # the format spec
            if len(stack) > 1:
                stack.pop()  # the field: back in the string
            return i + 1
        # a quote or newline inside a format spec: the string is over
        del stack[max(1, len(stack) - 3) :]
        return i + 1 if text[i] != "\n" else i

    def _regex(self, text: str, pos: int, limit: int, top: Frame) -> int:
        i = _find(_REGEX_BODY, text, pos, limit)
        if i < 0:
            return limit
        ch = text[i]
        if ch == "\\":
            return -i - 1 if i + 1 >= len(text) else i + 2
        if ch == "[":
            top[1] = True
        elif ch == "]":
            top[1] = False
        elif ch == "/":
            if not top[1]:
                self.stack.pop()
        else:  # newline: an unterminated regex ends
            self.stack.pop()
            return i
        return i + 1


def closers_of(lex: LexSpec, text: str) -> str | None:
    """The closers of ``text`` (lexed from code) that its own openers do not match, in
    order (``"))"`` for ``x))``), judged up to its first quote, comment start or a
    character the next text decides; None when it closes a bracket of another kind that
    it opened itself (``(]``: never legal)."""
    lexer = Lexer(lex)
    quotes = lex.quotes + lex.multiline_quotes + lex.raw_quotes + lex.template_quote
    needs: list[str] = []
    own = ""
    for m in _code_regex(lex, "").finditer(text):
        i = m.start()
        if i < lexer.pos:
            continue
        ch = text[i]
        if ch in quotes:
            break
        lexer.run(text, i + 1)
        if len(lexer.stack) > 1 or lexer.pos <= i:
            break  # a comment, or a character the next text decides
        if ch in "([{":
            own += ch
        elif ch in ")]}":
            if not own:
                needs.append(ch)
            elif own[-1] != _OPENER[ch]:
                return None
            else:
                own = own[:-1]
    return "".join(needs)


def bracket_events(lex: LexSpec, text: str) -> list[tuple[int, str]]:
    """Every bracket of ``text``'s top-level code, ``(offset, character)`` in order
    (``text`` lexed from a statement start; strings, comments and interpolations skipped)."""
    trace: list[tuple[int, str]] = []
    Lexer(lex, trace=trace).run(text, len(text))
    return trace
