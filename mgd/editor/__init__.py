"""The editor side of mgd: ``mgd lsp``, an inline-completion language server.

Modules, one job each: :mod:`.shape` (single vs multi-line from the syntax tree,
stop rules), :mod:`.engines` (local transformers and remote OpenAI-compatible
engines behind one interface), :mod:`.server` (the pygls server: document sync,
scheduling, cancellation, positions in the negotiated encoding). Settings:
:class:`mgd.config.EditorOptions`; the local decoder: :mod:`mgd.engines.local`.
Import the submodules directly (this package imports nothing heavy).
"""
