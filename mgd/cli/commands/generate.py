"""``mgd generate``: complete code with (or without) monitors, one prompt or a cases file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from mgd.cli.errors import EXIT_FAILED, EXIT_OK, UsageError, require_extra
from mgd.cli.models import loading, resolve_model
from mgd.cli.parsing import RemovedFlag, add_command, unescape
from mgd.engines.base import GenerateOptions
from mgd.engines.fim import FIM_MODES
from mgd.evaluation.runner import WAIT_MS

#: ``mgd generate``'s defaults (and ``mgd bench run``'s: one object both build from).
DECODING_DEFAULTS = GenerateOptions()

__all__ = ["add_decoding_args", "add_fim_args", "add_wait_args", "model_arg", "register", "session_config", "with_case_stops"]

#: A bare ``--speculative``: the speculative decoder's default tree
#: (``mgd.engines.speculative.decoder.DEFAULT_SPEC``, resolved when it runs).
SPEC_DEFAULT = "default"


def model_arg(value: str | None) -> str:
    """``--model`` or ``$MGD_MODEL``, checked (:func:`mgd.cli.models.resolve_model`)."""
    return resolve_model(value)


def add_wait_args(p: argparse.ArgumentParser, default_ms: int) -> None:
    """``--wait-ms`` (the one spelling of wait budgets) and ``--request-timeout``; the old
    ``--wait-s`` is refused, naming ``--wait-ms``."""
    p.add_argument("--wait-ms", type=float, default=default_ms, metavar="MS",
                   help="longest one decoding step waits for the language server before it runs unconstrained "
                        "(milliseconds)")
    p.add_argument("--wait-s", action=RemovedFlag, new="--wait-ms (milliseconds)")
    p.add_argument("--request-timeout", type=float, default=None, metavar="SECONDS",
                   help="deadline of each LSP request in seconds (default: the server's, e.g. 5 s for jedi)")


def add_fim_args(p: argparse.ArgumentParser) -> None:
    """``--fim``, ``--fim-template``, ``--max-suffix-tokens`` (mgd generate and mgd bench run)."""
    p.add_argument("--fim", choices=FIM_MODES, default=DECODING_DEFAULTS.fim,
                   help="fill-in-the-middle prompts (prefix and suffix in the model family's template): auto = "
                        "when the tokenizer has FIM tokens (default), on = required, off = the prefix only; "
                        "applies with and without monitors")
    p.add_argument("--fim-template", default=DECODING_DEFAULTS.fim_template, metavar="FAMILY",
                   help="FIM family (starcoder, santacoder, qwen, deepseek, codellama, codestral; "
                        "default: auto, from the tokenizer)")
    p.add_argument("--max-suffix-tokens", type=int, default=DECODING_DEFAULTS.max_suffix_tokens, metavar="N",
                   help="FIM: most suffix tokens in the prompt (default: a quarter of the prompt budget, "
                        "more when the prefix is short)")


def add_decoding_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="model directory or Hugging Face id (default: $MGD_MODEL)")
    p.add_argument("--no-monitors", action="store_true", help="generate without monitors")
    p.add_argument("--monitors", default=None, metavar="NAMES",
                   help="comma-separated monitors when mgd.toml names none for the language "
                        "(dereference, instantiation, enum_cases, imports, arguments, keyword_arguments, all; "
                        "default: dereference)")
    p.add_argument("--max-new-tokens", type=int, default=DECODING_DEFAULTS.max_new_tokens, metavar="N",
                   help="most tokens to generate (a case with a 'stop' rule also stops at its method's end)")
    p.add_argument("--stop", action="append", default=[], metavar="TEXT",
                   help="stop at this text (repeatable; not returned; escapes such as \\n and \\t are decoded, "
                        "other characters are kept as typed)")
    p.add_argument("--server", default=None,
                   help="language server preset (jedi, pyright, jdtls, typescript, gopls, ...; "
                        "default: the language's, from mgd.toml or built in)")
    p.add_argument("--config", default=None, metavar="TOML",
                   help="mgd.toml with server/language settings (default: <workspace>/mgd.toml if present)")
    p.add_argument("--batch-size", type=int, default=DECODING_DEFAULTS.batch_size, metavar="B", help="rows decoded together")
    p.add_argument("--max-prompt-tokens", type=int, default=DECODING_DEFAULTS.max_prompt_tokens, metavar="N",
                   help="keep only the last N prompt tokens (default: as many as the context allows)")
    p.add_argument("--heal", action=argparse.BooleanOptionalAction, default=None,
                   help="token healing: back off the prompt's last tokens and make the model re-spell them "
                        "(for prompts that end mid-token or mid-identifier; default: on with monitors, off "
                        "with --no-monitors)")
    p.add_argument("--speculative", nargs="?", const=SPEC_DEFAULT, default=None, metavar="SOURCES[:N][:COST]",
                   help="tree speculative decoding (batch size 1): draft sources among monitor,suffix,ngram,"
                        "recycle, an optional node budget and device cost profile, e.g. 'ngram,recycle:8'; "
                        "given alone: the default tree (all four sources, sized per step; docs/speculative.md)")
    p.add_argument("--device", default=None, help="torch device of the hf engine (default: cpu)")
    p.add_argument("--temperature", type=float, default=0.0, help="sampling temperature; 0 = greedy")
    p.add_argument("--top-p", type=float, default=DECODING_DEFAULTS.top_p, help="nucleus sampling mass (with --temperature)")
    p.add_argument("--seed", type=int, default=None, help="sampling seed (default: random)")
    add_fim_args(p)
    add_wait_args(p, WAIT_MS)


def _options(args: argparse.Namespace):  # -> GenerateOptions
    from mgd.evaluation.runner import decoding_options

    return decoding_options(
        max_new_tokens=args.max_new_tokens,
        stop=tuple(unescape(s) for s in args.stop),
        monitors=not args.no_monitors,
        heal=args.heal,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        batch_size=args.batch_size,
        max_prompt_tokens=args.max_prompt_tokens,
        speculative=_speculative(getattr(args, "speculative", None)),
        fim=args.fim,
        fim_template=args.fim_template,
        max_suffix_tokens=args.max_suffix_tokens,
    )


def _speculative(value: str | None) -> str | None:
    if value != SPEC_DEFAULT:
        return value
    from mgd.engines.speculative.decoder import DEFAULT_SPEC

    return DEFAULT_SPEC


def session_config(args: argparse.Namespace):  # -> SessionConfig
    """The session settings the decoding flags give (None where a flag was not given)."""
    from mgd.config import SessionConfig

    names = getattr(args, "monitors", None)
    monitors = tuple(n.strip() for n in names.split(",") if n.strip()) if names else None
    return SessionConfig(server=args.server, wait_ms=args.wait_ms, request_timeout_s=args.request_timeout,
                         config=getattr(args, "config", None), monitors=monitors)


def with_case_stops(gen: Any) -> Any:
    """``gen`` stopping each case at its own stop rule (the method end of a ``mgd bench build``
    case), as ``mgd bench run`` does: no token is spent past the method's end."""
    from mgd.evaluation.methods import case_stop_rule

    gen.case_stop = case_stop_rule
    return gen


def _generator(args: argparse.Namespace, workspaces: list[str]):  # -> Generator
    """The engine ``--engine`` names, with every decoding flag applied (both engines)."""
    if getattr(args, "engine", "hf") == "vllm":  # the same cases contract through offline vLLM
        if args.device is not None:
            raise UsageError("--device does not apply to --engine vllm (vLLM places the model itself; "
                             "choose GPUs with CUDA_VISIBLE_DEVICES)")
        model = _model(args)
        require_extra("vllm", ("vllm",), "--engine vllm")
        config = session_config(args)
        from mgd.vllm.offline import VllmGenerator

        with loading(model):
            return with_case_stops(VllmGenerator(model, config=config, allowed_workspaces=workspaces))
    model = _model(args)
    require_extra("hf", ("torch", "transformers"), "mgd generate")
    config = session_config(args)
    from mgd.engines.generate import HFGenerator

    with loading(model):
        return with_case_stops(HFGenerator(model, config=config, device=args.device or "cpu"))


def _offset_in(text: str, args: argparse.Namespace) -> int:
    if args.offset is not None:
        if not 0 <= args.offset <= len(text):
            raise UsageError(f"--offset {args.offset} is outside the file (0..{len(text)})")
        return args.offset
    if args.line is None:
        return len(text)
    lines = text.splitlines(keepends=True)
    if not 1 <= args.line <= len(lines) + 1:
        raise UsageError(f"--line {args.line} is outside the file (1..{len(lines)})")
    start = sum(len(line) for line in lines[: args.line - 1])
    line = lines[args.line - 1] if args.line <= len(lines) else ""
    col = len(line.rstrip("\r\n")) if args.column is None else args.column - 1
    if not 0 <= col <= len(line.rstrip("\r\n")):
        raise UsageError(f"--column {args.column} is outside line {args.line}")
    return start + col


def _check_usage(args: argparse.Namespace) -> None:
    """Everything about the command line that can be checked before a model loads."""
    if args.cases:
        if not args.out:
            raise UsageError("--cases needs --out OUT.jsonl")
        if not Path(args.cases).exists() or Path(args.cases).is_dir():
            raise UsageError(f"--cases {args.cases}: no such file")
    elif not args.file:
        raise UsageError("pass --cases FILE.jsonl --out OUT.jsonl, or --file FILE [--line L --column C]")
    if args.speculative is not None and args.speculative != SPEC_DEFAULT:
        from mgd.engines.speculative.drafts import parse_sources

        names, _, budget = args.speculative.partition(":")
        parse_sources(names)
        if budget and not (budget.isdigit() and int(budget) >= 1):
            raise UsageError(f"--speculative {args.speculative}: the node budget after ':' must be an integer >= 1")
    args.model = model_arg(args.model)
    args.model_checked = True


def _model(args: argparse.Namespace) -> str:
    """The model, checked once (a Hub id costs a request)."""
    return args.model if getattr(args, "model_checked", False) else model_arg(args.model)


def cmd_generate(args: argparse.Namespace) -> int:
    _check_usage(args)
    if args.cases:
        return _batch(args)
    workspace = Path(args.workspace or ".").resolve()
    path = Path(args.file)
    full = (workspace / path) if not path.is_absolute() else path
    try:
        text = full.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"--file {args.file}: no such file (in {workspace})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {args.file}: {exc}") from exc
    at = _offset_in(text, args)
    from mgd.engines.cases import Case

    case = Case("cli", str(workspace), str(path), at, at)
    options = _options(args)
    with _generator(args, [str(workspace)]) as gen:
        (res,) = gen.run_cases([case], options)
    if args.json:
        print(json.dumps(res.to_json(), ensure_ascii=False))
    elif not res.error:
        sys.stdout.write(res.completion + ("\n" if not res.completion.endswith("\n") else ""))
    if res.error:
        print(f"mgd: error: {res.error}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _batch(args: argparse.Namespace) -> int:
    from mgd.engines.cases import Case, iter_cases

    cases = list(iter_cases(Path(args.cases)))
    options = _options(args)
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    workspaces = sorted({c.workspace for c in cases if isinstance(c, Case)})
    with _generator(args, workspaces) as gen, out_path.open("w", encoding="utf-8") as fh:
        progress = _progress(len(cases), args.quiet)

        def write(res: Any) -> None:
            fh.write(json.dumps(res.to_json(), ensure_ascii=False) + "\n")
            fh.flush()
            progress(res)

        results = gen.run_cases(cases, options, on_result=write)
    errors = sum(1 for r in results if r.error)
    if args.json:
        print(json.dumps({"cases": len(results), "errors": errors, "out": str(out_path)}))
    else:
        print(f"{len(results)} cases, {errors} errors -> {out_path}", file=sys.stderr)
    return EXIT_FAILED if errors else EXIT_OK


def _progress(total: int, quiet: bool):
    """A progress bar on a terminal (stderr), nothing otherwise."""
    if quiet or not sys.stderr.isatty():
        return lambda res: None
    from tqdm import tqdm

    bar = tqdm(total=total, file=sys.stderr, unit="case")

    def step(res: Any) -> None:
        bar.update(1)
        if bar.n >= total:
            bar.close()

    return step


def register(sub: Any) -> None:
    g = add_command(
        sub, "generate", help="complete code with (or without) monitors: one cursor, or a batch of cases",
        examples=[
            "mgd generate --model PATH --workspace proj --file report.py --line 11 --column 20 --stop '\\n'",
            "mgd generate --model PATH --workspace proj --file report.py --line 11 --json",
            "mgd generate --model PATH --cases cases.jsonl --out results.jsonl --heal --monitors all",
        ],
    )
    add_decoding_args(g)
    g.add_argument("--cases", metavar="JSONL", help="cases file: one {id, workspace, file, prefix_end, suffix_start} "
                                                   "a line (batch mode)")
    g.add_argument("--out", metavar="JSONL", help="where batch results go (one line per case, input order)")
    g.add_argument("--workspace", metavar="DIR", help="project root for single-file mode (default: .)")
    g.add_argument("--file", help="file to complete in, relative to --workspace (single mode)")
    g.add_argument("--offset", type=int, help="character offset of the cursor (default: end of file)")
    g.add_argument("--line", type=int, help="1-based line of the cursor")
    g.add_argument("--column", type=int, help="1-based column (default: end of line)")
    g.add_argument("--json", action="store_true",
                   help="print the result as JSON on stdout (single: the result line; batch: a summary)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument("--engine", choices=["hf", "vllm"], default="hf",
                   help="hf: transformers; vllm: offline vLLM with the mgd processor (needs mgd[vllm])")
    g.set_defaults(func=cmd_generate)
