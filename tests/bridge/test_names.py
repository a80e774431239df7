from __future__ import annotations

from lsprotocol.types import (
    CompletionItem,
    InsertReplaceEdit,
    InsertTextFormat,
    Position,
    Range,
    TextEdit,
)
from lsprotocol.types import CompletionItemKind as K

from lsp_bridge.names import identifier_names, insert_text, strip_snippet
from lsp_bridge.servers import DEFAULT_IDENTIFIER_KINDS

R = Range(start=Position(0, 0), end=Position(0, 0))


def names(*items: CompletionItem) -> frozenset[str]:
    return identifier_names(items, DEFAULT_IDENTIFIER_KINDS)


def test_insert_text_precedence() -> None:
    assert insert_text(CompletionItem(label="l")) == "l"
    assert insert_text(CompletionItem(label="l", insert_text="i")) == "i"
    assert insert_text(CompletionItem(label="l", insert_text="i", text_edit_text="d")) == "d"
    item = CompletionItem(label="l", insert_text="i", text_edit=TextEdit(range=R, new_text="e"))
    assert insert_text(item) == "e"
    edit = InsertReplaceEdit(new_text="r", insert=R, replace=R)
    assert insert_text(CompletionItem(label="l", text_edit=edit)) == "r"


def test_display_labels_are_cut() -> None:
    assert names(
        CompletionItem(label="area()", kind=K.Method),
        CompletionItem(label="scale(double) : Circle", kind=K.Method),
        CompletionItem(label="radius", kind=K.Field),
    ) == {"area", "scale", "radius"}


def test_kinds_filter() -> None:
    assert names(
        CompletionItem(label="if", kind=K.Keyword),
        CompletionItem(label="for", kind=K.Snippet),
        CompletionItem(label="word", kind=K.Text),
        CompletionItem(label="+", kind=K.Operator),
        CompletionItem(label="src", kind=K.Folder),
        CompletionItem(label="value", kind=K.Variable),
    ) == {"value"}
    only_methods = identifier_names([CompletionItem(label="x", kind=K.Field)], frozenset({K.Method}))
    assert only_methods == frozenset()


def test_items_without_kind_need_a_whole_identifier() -> None:
    assert names(CompletionItem(label="plain"), CompletionItem(label="f()")) == {"plain"}


def test_snippets() -> None:
    snippet = InsertTextFormat.Snippet
    assert strip_snippet("grow(${1:factor}, $2)$0") == "grow(, )"
    assert strip_snippet(r"a\$b") == "a$b"
    assert names(
        CompletionItem(label="g", kind=K.Method, insert_text="grow(${1:f})$0", insert_text_format=snippet),
        CompletionItem(label="p", kind=K.Variable, insert_text="${1:name}", insert_text_format=snippet),
        CompletionItem(label="q", kind=K.Variable, insert_text="$0", insert_text_format=snippet),
    ) == {"grow"}


def test_identifier_rules() -> None:
    assert names(
        CompletionItem(label="$el", kind=K.Variable),
        CompletionItem(label="naïve", kind=K.Variable),
        CompletionItem(label="名前", kind=K.Variable),
        CompletionItem(label="3d", kind=K.Variable),
        CompletionItem(label=" lead", kind=K.Variable),
        CompletionItem(label="", kind=K.Variable),
    ) == {"$el", "naïve", "名前"}


def test_overloads_deduplicate() -> None:
    result = names(
        CompletionItem(label="put(int)", kind=K.Method),
        CompletionItem(label="put(str)", kind=K.Method),
    )
    assert result == frozenset({"put"})
