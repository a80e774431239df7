"""The editor side of mgd: ``mgd lsp``, an inline-completion language server.

Modules, one job each: :mod:`.options` (typed settings from TOML, flags and
``initializationOptions``), :mod:`.shape` (single vs multi-line from the syntax
tree, stop rules), :mod:`.engines` (local transformers and remote
OpenAI-compatible engines behind one interface), :mod:`.decode` (the local
engine's masked decode loop), :mod:`.forward` / :mod:`.lean` (its forward pass:
``model(...)`` or a lean hand-written Llama forward), :mod:`.reuse` (prompt
windows and KV-cache reuse), :mod:`.server` (the pygls
server: document sync, scheduling, cancellation). Imported only by ``mgd lsp``:
``import lsp_bridge`` does not load it.
"""

from .engines import CompletionEngine, EngineRequest, EngineResult, LocalEngine, RemoteEngine, fim_prompt, make_engine
from .options import CONFIG_FILE, EditorOptions, load_toml_options
from .server import STATS_COMMAND, EditorServer, JobRecord, build_server
from .shape import CompletionShape, StopRule, decide_shape

__all__ = [
    "CONFIG_FILE",
    "STATS_COMMAND",
    "CompletionEngine",
    "CompletionShape",
    "EditorOptions",
    "EditorServer",
    "EngineRequest",
    "EngineResult",
    "JobRecord",
    "LocalEngine",
    "RemoteEngine",
    "StopRule",
    "build_server",
    "decide_shape",
    "fim_prompt",
    "load_toml_options",
    "make_engine",
]
