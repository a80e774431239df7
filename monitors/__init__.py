"""mgd monitors: pure state machines, the vocabulary index, and decoding glue.

The pure part (this namespace) imports neither torch nor an LSP client.
Engine integrations live in :mod:`monitors.decoding` (Hugging Face) and import
their engines lazily.
"""

from monitors.base import (
    CompletionFacts,
    CompletionNeed,
    IdentifierConstraint,
    Monitor,
    MonitorStats,
    PrefixConstraint,
)
from monitors.dereference import DereferenceMonitor
from monitors.errors import (
    ConfigError,
    LspError,
    LspResponseError,
    LspTimeout,
    MgdError,
    ServerExited,
    ServerStartError,
    TokenizerError,
    WorkspaceError,
)
from monitors.healing import HealedPrompt, HealingMonitor, heal_prompt
from monitors.languages import LANGUAGES, LanguageSpec, get_language, language_for_path
from monitors.triggers import TriggerDetector
from monitors.vocab import VocabIndex

__all__ = [
    "LANGUAGES",
    "CompletionFacts",
    "CompletionNeed",
    "ConfigError",
    "DereferenceMonitor",
    "HealedPrompt",
    "HealingMonitor",
    "IdentifierConstraint",
    "LanguageSpec",
    "LspError",
    "LspResponseError",
    "LspTimeout",
    "MgdError",
    "Monitor",
    "MonitorStats",
    "PrefixConstraint",
    "ServerExited",
    "ServerStartError",
    "TokenizerError",
    "TriggerDetector",
    "VocabIndex",
    "WorkspaceError",
    "get_language",
    "heal_prompt",
    "language_for_path",
]
