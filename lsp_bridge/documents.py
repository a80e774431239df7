"""The client's copy of one open document and its minimal incremental edits."""

from __future__ import annotations

from dataclasses import dataclass

from lsprotocol.types import (
    Range,
    TextDocumentContentChangeEvent,
    TextDocumentContentChangePartial,
    TextDocumentItem,
    VersionedTextDocumentIdentifier,
)

from .positions import Encoding, offset_to_position

__all__ = ["DocumentState"]


@dataclass(slots=True)
class DocumentState:
    """What the server believes a document holds: its ``text`` at ``version``.

    ``encoding`` is the negotiated position encoding of change ranges.
    """

    uri: str
    language_id: str
    text: str
    version: int = 0
    encoding: Encoding = "utf-16"

    def item(self) -> TextDocumentItem:
        """The ``textDocument/didOpen`` payload for the current state."""
        return TextDocumentItem(uri=self.uri, language_id=self.language_id, version=self.version, text=self.text)

    def identifier(self) -> VersionedTextDocumentIdentifier:
        """The versioned identifier for ``textDocument/didChange``."""
        return VersionedTextDocumentIdentifier(uri=self.uri, version=self.version)

    def change_to(self, new_text: str) -> list[TextDocumentContentChangeEvent]:
        """Move to ``new_text``: one minimal range edit (empty if unchanged).

        The range is in positions of the old text (UTF-16 unless another
        ``encoding`` was negotiated); the version is bumped.
        """
        old = self.text
        if new_text == old:
            return []
        limit = min(len(old), len(new_text))
        prefix = 0
        while prefix < limit and old[prefix] == new_text[prefix]:
            prefix += 1
        suffix = 0
        while suffix < limit - prefix and old[-1 - suffix] == new_text[-1 - suffix]:
            suffix += 1
        start, end = prefix, len(old) - suffix
        # Never cut a CRLF in the old text: its inside has no LSP position.
        if 0 < start < len(old) and old[start - 1] == "\r" and old[start] == "\n":
            start -= 1
        if 0 < end < len(old) and old[end - 1] == "\r" and old[end] == "\n":
            end += 1
        inserted = new_text[start : len(new_text) - (len(old) - end)]
        change = TextDocumentContentChangePartial(
            range=Range(
                start=offset_to_position(old, start, self.encoding),
                end=offset_to_position(old, end, self.encoding),
            ),
            text=inserted,
        )
        self.text = new_text
        self.version += 1
        return [change]
