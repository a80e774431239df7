"""``mgd demo``: the model with and without monitors, side by side."""

from __future__ import annotations

import argparse
from typing import Any

from mgd.cli.commands.generate import model_arg

__all__ = ["register"]


def cmd_demo(args: argparse.Namespace) -> int:
    from mgd.cli.demo import run_demo

    return run_demo(model_arg(args.model), server=args.server, max_new_tokens=args.max_new_tokens)



def register(sub: Any) -> None:
    d = sub.add_parser("demo", help="side by side: the model with and without monitors")
    d.add_argument("--model", help="HF model id or path (default: $MGD_MODEL)")
    d.add_argument("--server", default=None)
    d.add_argument("--max-new-tokens", type=int, default=24)
    d.set_defaults(func=cmd_demo)
