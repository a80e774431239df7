"""``mgd lsp``: serve inline completions with monitors to an editor over stdio (LSP)."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["flags_from_args", "register"]


def flags_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The editor settings the flags give (flags not given are left out, so that
    ``[editor]`` in mgd.toml applies to them)."""
    given: dict[str, Any] = {}
    model = args.model or os.environ.get("MGD_MODEL")
    if model:
        given["model"] = model
    if args.remote:
        given["remote_url"] = args.remote
    for key in ("remote_model", "server", "device", "threads", "fim", "debounce_ms", "latency_budget_ms",
                "lookup_wait_ms", "max_tokens_single", "max_tokens_multi", "max_prompt_tokens", "temperature",
                "top_p", "fim_template", "quantize", "startup_timeout_ms", "remote_ca_file", "remote_api_key_env"):
        value = getattr(args, key)
        if value is not None:
            given[key] = value
    if args.no_monitors:
        given["monitors"] = False
    if args.remote_insecure:
        given["remote_tls_verify"] = False
    return given


def cmd_lsp(args: argparse.Namespace) -> int:
    from mgd.editor.server import build_server

    flags = flags_from_args(args)
    if args.remote and importlib.util.find_spec("httpx") is None:
        from mgd.editor.remote import INSTALL_HINT

        print(f"mgd lsp --remote: {INSTALL_HINT}", file=sys.stderr)
        return 2
    config = Path(args.config).resolve() if args.config else None
    if config is not None and not config.is_file():
        from monitors.errors import ConfigError

        raise ConfigError(f"--config {args.config}: no such file")
    if args.log_file:
        handler = logging.FileHandler(args.log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger().addHandler(handler)
    server = build_server(flags, config_path=config)
    # stdout carries LSP messages only; everything else goes to stderr.
    server.start_io(sys.stdin.buffer, sys.stdout.buffer)
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("lsp", help="language server for editors: inline completions with monitors (stdio)")
    p.add_argument("--model", help="local model path or id (default: $MGD_MODEL)")
    p.add_argument("--remote", metavar="URL", help="use an OpenAI-compatible server (mgd serve / vLLM) instead")
    p.add_argument("--remote-model", help="model name at the remote server (default: its first)")
    p.add_argument("--server", help="language server preset for the monitors (jedi, pyright)")
    p.add_argument("--config", help="settings file (default: the workspace's mgd.toml, [editor] table)")
    p.add_argument("--no-monitors", action="store_true", help="complete without monitors")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 1; 0 = torch's default)")
    p.add_argument("--fim", choices=["auto", "on", "off"], default=None)
    p.add_argument("--debounce-ms", type=int, default=None)
    p.add_argument("--latency-budget-ms", type=int, default=None)
    p.add_argument("--lookup-wait-ms", type=int, default=None)
    p.add_argument("--max-tokens-single", type=int, default=None)
    p.add_argument("--max-tokens-multi", type=int, default=None)
    p.add_argument("--max-prompt-tokens", type=int, default=None)
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--top-p", type=float, default=None)
    p.add_argument("--fim-template", default=None,
                   choices=["auto", "starcoder", "santacoder", "qwen", "deepseek", "codellama", "codestral"],
                   help="FIM prompt layout (default: auto, detected from the tokenizer or the server's /tokenize)")
    p.add_argument("--quantize", choices=["none", "int8"], default=None,
                   help="int8: the lean decoder's projections as int8 GEMMs, faster on CPU, text may differ "
                        "(default: none)")
    p.add_argument("--startup-timeout-ms", type=int, default=None, metavar="MS",
                   help="how long a request waits for the model to load (default: 120000)")
    p.add_argument("--remote-api-key-env", default=None, metavar="NAME",
                   help="environment variable holding the remote API key (default: MGD_REMOTE_API_KEY)")
    p.add_argument("--remote-ca-file", default=None, metavar="PEM", help="CA bundle for an https remote")
    p.add_argument("--remote-insecure", action="store_true", help="do not verify the remote's TLS certificate")
    p.add_argument("--log-file", help="also write logs here (stderr always gets them)")
    p.set_defaults(func=cmd_lsp)
