"""Subcommands of ``mgd``: one module each, with ``register(subparsers)``.

A module is imported only to register its parser; heavy imports happen inside
its command function.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Modules under mgd.cli.commands, in the order ``mgd --help`` lists them.
COMMANDS = ["generate", "demo", "bench", "lsp", "doctor", "serve"]


def register_all(sub: Any) -> None:
    for name in COMMANDS:
        importlib.import_module(f"mgd.cli.commands.{name}").register(sub)
