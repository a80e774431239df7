"""mgd: monitor-guided decoding for code models (the application).

Layers, one direction of dependency: :mod:`monitors` (pure state machines, the
vocabulary index, the per-sequence guide) <- :mod:`lsp_bridge` (all I/O with
language servers) <- :mod:`mgd` (configuration, the session that builds every
guide, engines, editor server, evaluation, CLI).
"""

from __future__ import annotations

__version__ = "0.3.0"

__all__ = ["__version__"]
