"""The editor side of mgd: ``mgd lsp``, an inline-completion language server.

Modules, one job each: :mod:`.completion_shape` (single vs multi-line from the
syntax tree, stop rules), :mod:`.protocol` (the engine interface), :mod:`.local_engine`
(transformers) and :mod:`.remote_engine` (an OpenAI-compatible server) behind it,
:mod:`.fim` (FIM templates), :mod:`.server` (the pygls server: document sync,
scheduling, cancellation, positions in the negotiated encoding; ``make_engine``). Settings:
:class:`mgd.config.EditorOptions`; the local decoder: :mod:`mgd.engines.local`.
Import the submodules directly (this package imports nothing heavy).
"""
