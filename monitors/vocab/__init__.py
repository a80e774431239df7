"""The vocabulary index (moved into a package; split in the next commit)."""

from monitors.vocab.index import *  # noqa: F403
from monitors.vocab.index import __all__  # noqa: F401
from monitors.vocab.index import _BYTE_DECODER  # noqa: F401
