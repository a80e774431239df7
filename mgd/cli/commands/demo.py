"""``mgd demo``: the model with and without monitors, side by side."""

from __future__ import annotations

import argparse
from typing import Any

from mgd.cli.errors import require_extra
from mgd.cli.models import loading, resolve_model
from mgd.cli.parsing import add_command

__all__ = ["register"]


def cmd_demo(args: argparse.Namespace) -> int:
    model = resolve_model(args.model)
    require_extra("hf", ("torch", "transformers"), "mgd demo")
    from mgd.cli.side_by_side import run_demo

    with loading(model):
        return run_demo(model, server=args.server, max_new_tokens=args.max_new_tokens, as_json=args.json)


def register(sub: Any) -> None:
    d = add_command(
        sub, "demo", help="side by side: the model with and without monitors on a small demo project",
        description="Completes the rest of the line after every member-access dot of the demo project's "
                    "report.py, with and without monitors, and asks the language server whether each "
                    "generated member exists.",
        examples=["mgd demo --model PATH", "MGD_MODEL=PATH mgd demo --server pyright --json"],
    )
    d.add_argument("--model", help="model directory or Hugging Face id (default: $MGD_MODEL)")
    d.add_argument("--server", default=None, help="Python language server preset: jedi or pyright (default: jedi)")
    d.add_argument("--max-new-tokens", type=int, default=24, metavar="N", help="most tokens per completion")
    d.add_argument("--json", action="store_true", help="print the completions and verdicts as JSON on stdout")
    d.set_defaults(func=cmd_demo)
