"""The editor side of mgd: ``mgd lsp``, an inline-completion language server.

Modules: :mod:`.options`, :mod:`.shape`, :mod:`.engines`, :mod:`.server`; the local
decoder is :mod:`mgd.engines.local`. Import the submodules directly.
"""
