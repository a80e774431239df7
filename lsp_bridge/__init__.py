"""mgd's bridge to language servers: async LSP client with deadlines, a server pool,
and a background event loop for synchronous engines.

Layers, one job each: :mod:`.positions` (the one position codec: UTF-8/16/32),
:mod:`.documents` (client-side document state and minimal edits), :mod:`.names`
(completion items to identifiers), :mod:`.workspace` (path safety, URIs),
:mod:`.servers` (server specs and presets), :mod:`.client` (one server process),
:mod:`.pool` (sharing and restarts), :mod:`.loop` (a loop thread for sync
callers), :mod:`.gate` (at most a few requests per server in flight),
:mod:`.lookup` (a monitor's need -> an LSP request, and the one request cache),
:mod:`.check` (an independent check of generated member accesses). Imports only
:mod:`monitors` (errors, needs/facts, the identifier rule); errors come from
:mod:`monitors.errors`.
"""

from .client import CompletionResult, LspServer, SignatureResult
from .documents import DocumentState
from .gate import LookupGate
from .lookup import BridgeLookup, DocumentContext, LookupStats, RequestCache
from .loop import BackgroundLoop
from .names import identifier_names
from .pool import ServerPool
from .positions import offset_to_position, position_to_offset
from .servers import PRESETS, ServerSpec, preset, resolve_command
from .workspace import path_to_uri, resolve_in_workspace, uri_to_path

__all__ = [
    "PRESETS",
    "BackgroundLoop",
    "BridgeLookup",
    "CompletionResult",
    "DocumentContext",
    "DocumentState",
    "LookupGate",
    "LookupStats",
    "LspServer",
    "RequestCache",
    "ServerPool",
    "ServerSpec",
    "SignatureResult",
    "identifier_names",
    "offset_to_position",
    "path_to_uri",
    "position_to_offset",
    "preset",
    "resolve_command",
    "resolve_in_workspace",
    "uri_to_path",
]
