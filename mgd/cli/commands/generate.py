"""``mgd generate``: complete code with (or without) monitors, one prompt or a cases file."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from monitors.errors import ConfigError

__all__ = ["add_decoding_args", "model_arg", "register"]


def model_arg(value: str | None) -> str:
    model = value or os.environ.get("MGD_MODEL")
    if not model:
        raise ConfigError("no model: pass --model PATH_OR_ID or set MGD_MODEL")
    return model


def add_decoding_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="HF model id or path (default: $MGD_MODEL)")
    p.add_argument("--no-monitors", action="store_true", help="generate without monitors")
    p.add_argument("--monitors", default=None, metavar="NAMES",
                   help="comma-separated monitors when mgd.toml names none for the language "
                        "(dereference, instantiation, enum_cases, imports, arguments, keyword_arguments, all; "
                        "default: dereference)")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--stop", action="append", default=[], metavar="TEXT",
                   help="stop at this text (repeatable; the text is not returned)")
    p.add_argument("--server", default=None, help="language server preset (jedi, pyright, jdtls, typescript, gopls, ...)")
    p.add_argument("--config", default=None, metavar="TOML",
                   help="mgd.toml with server/language settings (default: <workspace>/mgd.toml if present)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--max-prompt-tokens", type=int, default=None,
                   help="keep only the last N prompt tokens (default: as many as the context allows)")
    p.add_argument("--heal", action="store_true",
                   help="token healing: back off the prompt's last tokens and make the model re-spell them "
                        "(for prompts that end mid-token or mid-identifier)")
    p.add_argument("--speculative", default=None, metavar="SOURCES[:N]",
                   help="tree speculative decoding (batch size 1): draft sources among monitor,ngram,recycle "
                        "and an optional node budget, e.g. 'monitor,ngram,recycle:16'")
    p.add_argument("--device", default=None, help="torch device of the hf engine (default: cpu)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = greedy (default)")
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--wait-s", type=float, default=30.0,
                   help="longest a decoding step waits for the language server")
    p.add_argument("--request-timeout", type=float, default=None,
                   help="deadline of each LSP request in seconds (default: the server's)")


def _options(args: argparse.Namespace):  # -> GenerateOptions
    from mgd.engines.base import GenerateOptions

    stop = tuple(s.encode().decode("unicode_escape") for s in args.stop)
    return GenerateOptions(
        max_new_tokens=args.max_new_tokens,
        stop=stop,
        monitors=not args.no_monitors,
        do_sample=args.temperature > 0,
        temperature=args.temperature if args.temperature > 0 else 1.0,
        top_p=args.top_p,
        seed=args.seed,
        batch_size=args.batch_size,
        max_prompt_tokens=args.max_prompt_tokens,
        heal=args.heal,
        speculative=getattr(args, "speculative", None),
    )


def session_config(args: argparse.Namespace):  # -> SessionConfig
    """The session settings the decoding flags give (None where a flag was not given)."""
    from mgd.config import SessionConfig

    names = getattr(args, "monitors", None)
    monitors = tuple(n.strip() for n in names.split(",") if n.strip()) if names else None
    return SessionConfig(server=args.server, wait_s=args.wait_s, request_timeout_s=args.request_timeout,
                         config=args.config, monitors=monitors)


def _generator(args: argparse.Namespace, workspaces: list[str]):  # -> Generator
    """The engine ``--engine`` names, with every decoding flag applied (both engines)."""
    config = session_config(args)
    if getattr(args, "engine", "hf") == "vllm":  # the same cases contract through offline vLLM
        if args.device is not None:
            raise ConfigError("--device does not apply to --engine vllm (vLLM places the model itself; "
                              "choose GPUs with CUDA_VISIBLE_DEVICES)")
        from mgd.vllm.offline import VllmGenerator

        return VllmGenerator(model_arg(args.model), config=config, allowed_workspaces=workspaces)
    from mgd.engines.generate import HFGenerator

    return HFGenerator(model_arg(args.model), config=config, device=args.device or "cpu")


def _offset_in(text: str, args: argparse.Namespace) -> int:
    if args.offset is not None:
        if not 0 <= args.offset <= len(text):
            raise ConfigError(f"--offset {args.offset} is outside the file (0..{len(text)})")
        return args.offset
    if args.line is None:
        return len(text)
    lines = text.splitlines(keepends=True)
    if not 1 <= args.line <= len(lines) + 1:
        raise ConfigError(f"--line {args.line} is outside the file (1..{len(lines)})")
    start = sum(len(line) for line in lines[: args.line - 1])
    line = lines[args.line - 1] if args.line <= len(lines) else ""
    col = len(line.rstrip("\r\n")) if args.column is None else args.column - 1
    if not 0 <= col <= len(line.rstrip("\r\n")):
        raise ConfigError(f"--column {args.column} is outside line {args.line}")
    return start + col


def cmd_generate(args: argparse.Namespace) -> int:
    from mgd.engines.cases import Case, iter_cases

    options = _options(args)
    if args.cases:
        if not args.out:
            raise ConfigError("--cases needs --out")
        cases = list(iter_cases(Path(args.cases)))
        out_path = Path(args.out)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        workspaces = sorted({c.workspace for c in cases if isinstance(c, Case)})
        with _generator(args, workspaces) as gen, out_path.open("w", encoding="utf-8") as fh:
            progress = _progress(len(cases), args.quiet)

            def write(res) -> None:
                fh.write(json.dumps(res.to_json(), ensure_ascii=False) + "\n")
                fh.flush()
                progress(res)

            results = gen.run_cases(cases, options, on_result=write)
        errors = sum(1 for r in results if r.error)
        print(f"{len(results)} cases, {errors} errors -> {out_path}", file=sys.stderr)
        return 0
    if not args.file:
        raise ConfigError("pass --cases FILE.jsonl --out OUT.jsonl, or --file FILE [--line L --column C]")
    workspace = Path(args.workspace or ".").resolve()
    path = Path(args.file)
    full = (workspace / path) if not path.is_absolute() else path
    try:
        text = full.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {args.file}: {exc}") from exc
    at = _offset_in(text, args)
    case = Case("cli", str(workspace), str(path), at, at)
    with _generator(args, [str(workspace)]) as gen:
        (res,) = gen.run_cases([case], options)
    if res.error:
        raise ConfigError(res.error)
    sys.stdout.write(res.completion + ("\n" if not res.completion.endswith("\n") else ""))
    print(json.dumps({"tokens": res.tokens, "elapsed_s": round(res.elapsed_s, 3), "stats": res.stats}),
          file=sys.stderr)
    return 0


def _progress(total: int, quiet: bool):
    if quiet or not sys.stderr.isatty():
        return lambda res: None
    try:
        from tqdm import tqdm  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - tqdm ships with transformers
        return lambda res: None
    bar = tqdm(total=total, file=sys.stderr, unit="case")

    def step(res) -> None:
        bar.update(1)
        if bar.n >= total:
            bar.close()

    return step




def register(sub: Any) -> None:
    g = sub.add_parser("generate", help="complete code with (or without) monitors")
    add_decoding_args(g)
    g.add_argument("--cases", help="JSONL file of cases (batch mode)")
    g.add_argument("--out", help="where batch results go (JSONL, input order)")
    g.add_argument("--workspace", help="project root for single-file mode (default: .)")
    g.add_argument("--file", help="file to complete in (single mode)")
    g.add_argument("--offset", type=int, help="character offset of the cursor")
    g.add_argument("--line", type=int, help="1-based line of the cursor")
    g.add_argument("--column", type=int, help="1-based column (default: end of line)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument("--engine", choices=["hf", "vllm"], default="hf",
                   help="hf: transformers generate (default); vllm: offline vLLM with the mgd processor")
    g.set_defaults(func=cmd_generate)
