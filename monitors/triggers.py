"""Is this dot a member access? Incremental tree-sitter parsing plus the one lexer.

:class:`TriggerDetector` reads the sequence's :class:`~monitors.document.Document`
(prompt prefix plus what was generated so far, and the one lexer's state; shared with
the sequence's other monitors, or its own) and holds a tree-sitter parser and tree. Appending text is cheap (a list append: nothing is lexed or parsed). :meth:`TriggerDetector.is_member_access`
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

1. the document's lexer says the dot is in code: not inside a string, comment or regex
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

from typing import TYPE_CHECKING

from monitors.document import Document, DocumentText
from monitors.languages import LanguageSpec

if TYPE_CHECKING:  # pragma: no cover
    import tree_sitter

__all__ = [
    "TriggerDetector",
    "trigger_chars",
]


# --------------------------------------------------------------------------- detector

_WHITESPACE_BYTES = frozenset(b" \t\r\n\f\v")


def trigger_chars(spec: LanguageSpec) -> frozenset[str]:
    """The last characters of the language's punctuation member-access tokens.

    ``{"."}`` for most languages; Rust's ``::`` adds ``":"``. Node-type names
    among the tokens (JS ``optional_chain``) add nothing: their text ends in a dot.
    """
    chars = {tok[-1] for tok in spec.member_access_tokens if tok and not tok[0].isalpha()}
    return frozenset(chars | {"."})


class TriggerDetector(DocumentText):
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
        "_parser",
        "_tree",
        "_tree_bytes",
        "_tree_point",
        "parses",
        "spec",
        "trigger_chars",
    )

    def __init__(self, spec: LanguageSpec, text: str = "", doc: Document | None = None) -> None:
        import tree_sitter

        self.spec = spec
        self._language = spec.ts_language_loader()
        self._parser = tree_sitter.Parser(self._language)
        self._read(doc if doc is not None else Document(spec.lex, text))
        self._buf = b""
        self._buf_chars = 0
        self._ascii = True
        self._tree: tree_sitter.Tree | None = None
        self._tree_bytes = 0
        self._tree_point = (0, 0)
        self._last: tuple[int, bool] | None = None
        #: How many times the parser ran (for tests and benchmarks).
        self.parses = 0
        #: The characters that can end a member-access token (``.``; ``:`` of ``::``).
        self.trigger_chars = trigger_chars(spec)

    # ------------------------------------------------------------------ text

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
            grows = end > old  # an insertion at the old end, or a deletion back to ``end``
            tree.edit(
                start_byte=old if grows else end,
                old_end_byte=old,
                new_end_byte=end,
                start_point=old_point if grows else point,
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
        if not 0 <= char_offset < self._end:
            return False
        last = self._last
        if last is not None and last[0] == char_offset:
            return last[1]
        text = self._doc.text
        if text[char_offset] not in self.trigger_chars:
            return False
        verdict = self._judge(text, char_offset)
        self._last = (char_offset, verdict)
        return verdict

    def _judge(self, text: str, offset: int) -> bool:
        spec = self.spec
        lexer = self._doc.lexer_at(offset + 1)
        if lexer.pos < offset + 1 or not lexer.in_code() or lexer.rejected_statement(text):
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

        new = TriggerDetector.__new__(TriggerDetector)
        new.spec = self.spec
        new._language = self._language
        new._parser = tree_sitter.Parser(self._language)
        new._doc = self._doc.fork()
        new._end = self._end
        new._buf = self._buf
        new._buf_chars = self._buf_chars
        new._ascii = self._ascii
        new._tree = self._tree.copy() if self._tree is not None else None
        new._tree_bytes = self._tree_bytes
        new._tree_point = self._tree_point
        new._last = self._last
        new.parses = self.parses
        new.trigger_chars = self.trigger_chars
        return new
