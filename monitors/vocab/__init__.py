"""The vocabulary index, in three parts: :mod:`.reading` (a tokenizer's exact token
bytes), :mod:`.index` (:class:`VocabIndex`, built once per tokenizer and shared) and
:mod:`.rules` (which ids each constraint allows)."""

from monitors.vocab.index import VocabIndex
from monitors.vocab.reading import TokenizerKind, read_tokenizer

__all__ = ["TokenizerKind", "VocabIndex", "read_tokenizer"]
