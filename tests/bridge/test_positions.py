from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lsprotocol.types import Position

from lsp_bridge.positions import offset_to_position, position_to_offset, unit_len


def pos(line: int, character: int) -> Position:
    return Position(line=line, character=character)


@pytest.mark.parametrize(
    ("text", "offset", "expected"),
    [
        ("", 0, pos(0, 0)),
        ("abc", 3, pos(0, 3)),
        ("a\nb", 2, pos(1, 0)),
        ("a\r\nb", 3, pos(1, 0)),
        ("a\rb", 2, pos(1, 0)),
        ("a\r\n\r\nb", 5, pos(2, 0)),
        ("a\n\rb", 3, pos(2, 0)),  # \n then \r: two line breaks
        ("😀x", 1, pos(0, 2)),  # astral: two UTF-16 units
        ("😀x", 2, pos(0, 3)),
        ("é😀\n😀😀y", 5, pos(1, 4)),
        ("é😀\n😀😀y", 6, pos(1, 5)),
        ("ab\r\ncd", 3, pos(0, 2)),  # inside CRLF: end of that line
    ],
)
def test_offset_to_position(text: str, offset: int, expected: Position) -> None:
    assert offset_to_position(text, offset) == expected


@pytest.mark.parametrize(
    ("text", "position", "expected"),
    [
        ("abc", pos(0, 99), 3),  # clamped to the line
        ("ab\r\ncd", pos(0, 5), 2),  # never into the line break
        ("ab\ncd", pos(7, 0), 5),  # past the last line: end of text
        ("😀x", pos(0, 1), 0),  # inside a surrogate pair: start of the character
        ("😀x", pos(0, 2), 1),
        ("x\r😀\ny", pos(1, 2), 3),
    ],
)
def test_position_to_offset(text: str, position: Position, expected: int) -> None:
    assert position_to_offset(text, position) == expected


def test_bad_input_raises() -> None:
    with pytest.raises(ValueError):
        offset_to_position("abc", 4)
    with pytest.raises(ValueError):
        offset_to_position("abc", -1)
    with pytest.raises(ValueError):
        position_to_offset("abc", pos(-1, 0))


def test_unit_len() -> None:
    assert unit_len("abc") == 3
    assert unit_len("é") == 1
    assert unit_len("😀") == 2
    assert unit_len("é😀", "utf-32") == 2
    assert unit_len("é😀", "utf-8") == 6
    with pytest.raises(ValueError):
        unit_len("é", "latin-1")  # type: ignore[arg-type]


@pytest.mark.parametrize(("encoding", "character"), [("utf-16", 4), ("utf-32", 3), ("utf-8", 7)])
def test_other_encodings(encoding: str, character: int) -> None:
    text = "x\né😀y"
    assert offset_to_position(text, 5, encoding) == pos(1, character)  # type: ignore[arg-type]
    assert position_to_offset(text, pos(1, character), encoding) == 5  # type: ignore[arg-type]


def test_utf8_inside_a_character_maps_to_its_start() -> None:
    assert position_to_offset("é😀", pos(0, 3), "utf-8") == 1


texts = st.lists(st.sampled_from(["a", "é", "😀", "\n", "\r", "\r\n", " ", "𝔘"])).map("".join)


@given(texts, st.data(), st.sampled_from(["utf-16", "utf-32", "utf-8"]))
def test_round_trip(text: str, data: st.DataObject, encoding: str) -> None:
    offset = data.draw(st.integers(0, len(text)))
    inside_crlf = 0 < offset < len(text) and text[offset - 1 : offset + 1] == "\r\n"
    position = offset_to_position(text, offset, encoding)  # type: ignore[arg-type]
    back = position_to_offset(text, position, encoding)  # type: ignore[arg-type]
    assert back == (offset - 1 if inside_crlf else offset)


@given(texts)
def test_position_counts_utf16_units(text: str) -> None:
    end = offset_to_position(text, len(text))
    last_line = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")[-1]
    assert end.character == len(last_line.encode("utf-16-le")) // 2
    assert end.line == text.replace("\r\n", "\n").replace("\r", "\n").count("\n")
