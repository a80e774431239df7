"""Every setting of mgd: ``mgd.toml`` and the typed settings objects."""

from mgd.config.file import *  # noqa: F403
from mgd.config.file import __all__  # noqa: F401
