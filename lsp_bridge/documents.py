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
        prefix = _common_prefix(old, new_text, limit)
        suffix = _common_suffix(old, new_text, limit - prefix)
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


def _common_prefix(a: str, b: str, limit: int) -> int:
    """Length of the longest common prefix of ``a`` and ``b`` (at most ``limit``).

    Binary search over slice comparisons (C speed): a per-character Python loop
    costs milliseconds per edit of a large file, on the decoding machine's CPU.
    """
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _common_suffix(a: str, b: str, limit: int) -> int:
    """Length of the longest common suffix of ``a`` and ``b`` (at most ``limit``)."""
    lo, hi = 0, limit
    la, lb = len(a), len(b)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[la - mid : la - lo] == b[lb - mid : lb - lo]:
            lo = mid
        else:
            hi = mid - 1
    return lo
