from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from lsprotocol.types import Position, Range, TextDocumentContentChangePartial

from lsp_bridge.documents import DocumentState
from lsp_bridge.positions import position_to_offset


def apply(text: str, changes: list, encoding: str = "utf-16") -> str:
    """Apply change events as a server does (each range in the then-current text)."""
    for change in changes:
        start = position_to_offset(text, change.range.start, encoding)  # type: ignore[arg-type]
        end = position_to_offset(text, change.range.end, encoding)  # type: ignore[arg-type]
        text = text[:start] + change.text + text[end:]
    return text


def doc(text: str) -> DocumentState:
    return DocumentState(uri="file:///x.py", language_id="python", text=text)


def test_no_change_no_event() -> None:
    state = doc("abc")
    assert state.change_to("abc") == []
    assert state.version == 0


def test_minimal_edit_and_version() -> None:
    state = doc("c = Circle(2)\nc.\n")
    [change] = state.change_to("c = Box(2)\nc.\n")
    assert isinstance(change, TextDocumentContentChangePartial)
    assert change.range == Range(start=Position(0, 4), end=Position(0, 10))
    assert change.text == "Box"
    assert state.version == 1
    assert state.text == "c = Box(2)\nc.\n"


def test_append_after_emoji_uses_utf16() -> None:
    state = doc('s = "😀"')
    [change] = state.change_to('s = "😀"; c.')
    assert change.range.start == Position(0, 8)
    assert change.text == "; c."


def test_never_splits_crlf() -> None:
    state = doc("a\r\nb")
    [change] = state.change_to("a\rb")
    assert apply("a\r\nb", [change]) == "a\rb"
    state = doc("a\r\nb")
    [change] = state.change_to("a\r\r\nb")
    assert apply("a\r\nb", [change]) == "a\r\r\nb"


def test_item_and_identifier() -> None:
    state = doc("x")
    state.change_to("xy")
    assert state.item().version == 1 and state.item().text == "xy"
    assert state.identifier().version == 1


texts = st.lists(st.sampled_from(["a", "b", "é", "😀", "\n", "\r", "\r\n", "."]), max_size=20).map("".join)


@given(texts, st.lists(texts, min_size=1, max_size=5), st.sampled_from(["utf-16", "utf-32", "utf-8"]))
def test_changes_reproduce_new_text(old: str, news: list[str], encoding: str) -> None:
    state = DocumentState(uri="file:///x.py", language_id="python", text=old, encoding=encoding)  # type: ignore[arg-type]
    server_text = old
    for new in news:
        before = state.version
        changes = state.change_to(new)
        assert len(changes) <= 1
        server_text = apply(server_text, changes, encoding)
        assert server_text == new == state.text
        assert state.version == before + (1 if changes else 0)
