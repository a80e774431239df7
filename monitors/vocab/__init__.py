"""The vocabulary index, in four parts: :mod:`.reading` (a tokenizer's exact token
bytes), :mod:`.index` (:class:`VocabIndex`, built once per tokenizer, immutable and
shared), :mod:`.rules` (which ids each constraint allows) and :mod:`.memo`
(:class:`IdsMemo`: answers kept for reuse, owned by whoever asks)."""

from monitors.vocab.index import VocabIndex
from monitors.vocab.memo import IdsMemo
from monitors.vocab.reading import TokenizerKind, read_tokenizer

__all__ = ["IdsMemo", "TokenizerKind", "VocabIndex", "read_tokenizer"]
