"""mgd monitors: the pure, synchronous layer (stdlib, numpy, tree-sitter; no torch, no LSP
client, no I/O).

It holds the monitor protocol (:mod:`monitors.base`), the identifier rule, the languages,
the lexer and the per-sequence :class:`~monitors.document.Document`, the triggers and site
detector, the monitors and their registry, the vocabulary index (:mod:`monitors.vocab`)
and the per-sequence guide (:mod:`monitors.guide`). The layers above build on it:
:mod:`lsp_bridge` (I/O with language servers) and :mod:`mgd` (engines, the application).
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
from monitors.document import Document
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
    "Document",
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
