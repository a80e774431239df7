"""Reduce LSP completion items to the identifier names they would insert."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from lsprotocol.types import (
    CompletionItem,
    CompletionItemKind,
    InsertReplaceEdit,
    InsertTextFormat,
    TextEdit,
)

from monitors.identifiers import IDENTIFIER

__all__ = ["identifier_entries", "identifier_names", "insert_text", "strip_snippet"]

#: An identifier: ASCII letters, digits, ``_``, ``$`` and any non-ASCII character,
#: not starting with a digit.

# Snippet syntax: escapes ``\$``, tabstops ``$1``, placeholders ``${1:default}``,
# choices ``${1|a,b|}``, variables ``$TM_FILENAME`` / ``${TM_FILENAME:default}``.
_SNIPPET_PART = re.compile(r"\\([$}\\])|\$\d+|\$\{[^}]*\}|\$[A-Za-z_][A-Za-z0-9_]*")


def strip_snippet(text: str) -> str:
    """``text`` with snippet tabstops and placeholders removed and escapes undone."""
    return _SNIPPET_PART.sub(lambda m: m.group(1) or "", text)


def insert_text(item: CompletionItem) -> str:
    """The text ``item`` inserts: ``textEdit.newText``, else ``textEditText``, else
    ``insertText``, else ``label``."""
    edit = item.text_edit
    if isinstance(edit, (TextEdit, InsertReplaceEdit)):
        return edit.new_text
    if item.text_edit_text is not None:
        return item.text_edit_text
    if item.insert_text is not None:
        return item.insert_text
    return item.label


def identifier_names(
    items: Sequence[CompletionItem] | Iterable[CompletionItem],
    kinds: frozenset[CompletionItemKind] | frozenset[int],
) -> frozenset[str]:
    """The identifiers the ``items`` insert, for items whose kind is in ``kinds``.

    Items without a kind are kept only if their whole text is an identifier.
    Display decorations are cut at the first non-identifier character
    (``area()`` -> ``area``); texts that do not start with an identifier are
    dropped. Duplicates (overloads) collapse.
    """
    return frozenset(entry[0] for entry in identifier_entries(items, kinds))


def identifier_entries(
    items: Sequence[CompletionItem] | Iterable[CompletionItem],
    kinds: frozenset[CompletionItemKind] | frozenset[int],
) -> tuple[tuple[str, int | None, str | None, str], ...]:
    """``(name, kind, detail, text)`` per item that :func:`identifier_names` keeps:
    the identifier, the LSP kind, ``detail`` and the whole insert text (snippets stripped)."""
    out: list[tuple[str, int | None, str | None, str]] = []
    for item in items:
        if item.kind is not None and item.kind not in kinds:
            continue
        text = insert_text(item)
        if item.insert_text_format == InsertTextFormat.Snippet:
            text = strip_snippet(text)
        match = IDENTIFIER.fullmatch(text) if item.kind is None else IDENTIFIER.match(text)
        if match is not None:
            out.append((match.group(), None if item.kind is None else int(item.kind), item.detail, text))
    return tuple(out)
