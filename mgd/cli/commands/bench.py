"""``mgd bench build|run``: DotPrompts-style cases from repositories, and scored runs."""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path
from typing import Any

from mgd.cli.commands.generate import add_wait_args
from mgd.cli.errors import EXIT_FAILED, EXIT_OK, UsageError, require_extra
from mgd.cli.models import loading, resolve_model
from mgd.cli.parsing import add_command
from monitors.errors import MgdError

__all__ = ["register"]


def cmd_build(args: argparse.Namespace) -> int:
    for repo in args.repo:
        if not Path(repo).is_dir():
            raise UsageError(f"--repo {repo}: no such directory")
    for path in args.exclude_list or []:
        if not Path(path).is_file():
            raise UsageError(f"--exclude-list {path}: no such file")
    from mgd.evaluation.builder import BuildOptions, build_cases, read_exclude_list, write_cases

    exclude = frozenset()
    for path in args.exclude_list or []:
        exclude |= read_exclude_list(Path(path))
    per_repo = []
    for i, repo in enumerate(args.repo):
        options = BuildOptions(
            seed=args.seed + i,
            max_cases=None if len(args.repo) > 1 else args.max,
            include=tuple(args.include or ()),
            exclude=exclude,
            max_target_chars=args.max_target_chars,
            min_target_chars=args.min_target_chars,
            id_prefix=f"{Path(repo).name}/" if len(args.repo) > 1 else "",
        )
        per_repo.append(build_cases(repo, args.language, options))
    cases = _round_robin(per_repo, args.max, args.seed)
    if not cases:
        raise MgdError("no cases found (no functions with member-access dots in the given files)")
    n = write_cases(cases, Path(args.out))
    files = len({(c.workspace, c.file) for c in cases})
    if args.json:
        print(json.dumps({"cases": n, "files": files, "repositories": len(args.repo), "out": args.out}))
    else:
        print(f"{n} cases from {files} files in {len(args.repo)} repositories -> {args.out}", file=sys.stderr)
    return EXIT_OK


def _round_robin(groups: list[list[Any]], limit: int | None, seed: int) -> list[Any]:
    """Take cases alternately from each repository (each group in a seeded order)."""
    rng = random.Random(seed)
    queues = []
    for g in groups:
        g = list(g)
        rng.shuffle(g)
        queues.append(g)
    out: list[Any] = []
    while any(queues) and (limit is None or len(out) < limit):
        for q in queues:
            if q and (limit is None or len(out) < limit):
                out.append(q.pop())
    out.sort(key=lambda c: (c.workspace, c.file, c.prefix_end))
    return out


def cmd_run(args: argparse.Namespace) -> int:
    if not Path(args.cases).exists() or Path(args.cases).is_dir():
        raise UsageError(f"--cases {args.cases}: no such file")
    model = None if args.score_only else resolve_model(args.model)
    if model is not None:
        require_extra("hf", ("torch", "transformers"), "mgd bench run")
    from mgd.evaluation.report import write_report
    from mgd.evaluation.runner import (
        RunSettings,
        check_settings,
        generate_config,
        load_bench_cases,
        parse_configs,
    )
    from mgd.evaluation.scoring import score_run

    configs = parse_configs(args.configs)
    cases = load_bench_cases(Path(args.cases), args.limit)
    settings = RunSettings(
        n=args.n,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        max_new_tokens=args.max_new_tokens,
        max_prompt_tokens=args.max_prompt_tokens,
        batch_size=args.batch_size,
    )
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    check_settings(out_dir, settings)
    if not args.score_only:
        from mgd.config import SessionConfig
        from mgd.engines.generate import HFGenerator

        config = SessionConfig(server=args.server, wait_ms=args.wait_ms, request_timeout_s=args.request_timeout)
        with loading(model):
            gen = HFGenerator(model, config=config, device=args.device)
        with gen:
            for cfg in configs:
                generate_config(gen, cfg, cases, settings, out_dir, progress=not args.quiet)
    result = score_run(
        cases, configs, settings, out_dir, ks=tuple(args.k), jobs=args.jobs, allow_partial=args.allow_partial,
        compile_check=not args.no_cr,
    )
    paths = write_report(result, out_dir, name=args.name, command=" ".join(["mgd", *sys.argv[1:]]))
    errors = _generation_errors(out_dir, [c.name for c in configs])
    if args.json:
        print(json.dumps({"reports": [str(p) for p in paths], "generation_errors": errors,
                          **result.to_json()}))
    else:
        for p in paths:
            print(p, file=sys.stderr)
        if errors:
            print(f"mgd: {errors} generations ended with an error (see gen-*.jsonl in {out_dir})", file=sys.stderr)
    return EXIT_FAILED if errors else EXIT_OK


def _generation_errors(out_dir: Path, names: list[str]) -> int:
    """Generations in ``out_dir/gen-<name>.jsonl`` that ended with an error record."""
    errors = 0
    for name in names:
        path = out_dir / f"gen-{name}.jsonl"
        if path.is_file():
            with path.open(encoding="utf-8") as fh:
                errors += sum(1 for line in fh if line.strip() and json.loads(line).get("error"))
    return errors


def register(sub: Any) -> None:
    b = add_command(sub, "bench", help="evaluation: build DotPrompts-style cases, run and score configurations",
                    examples=["mgd bench build --repo path/to/project --language python --out cases.jsonl --max 300",
                              "mgd bench run --model PATH --cases cases.jsonl --configs plain,mgd --out runs/first"])
    bsub = b.add_subparsers(dest="bench_command", required=True, metavar="SUBCOMMAND", help="one of:")

    p = add_command(bsub, "build", help="cases from real repositories (prompt = file up to a dot in a method)",
                    examples=["mgd bench build --repo proj --language python --out cases.jsonl --seed 0 --max 300"])
    p.add_argument("--repo", action="append", required=True, metavar="DIR", help="repository root (repeatable)")
    p.add_argument("--language", required=True, help="python, java, go, typescript, ...")
    p.add_argument("--out", required=True, metavar="JSONL", help="cases file to write")
    p.add_argument("--seed", type=int, default=0, help="seed of the case sample")
    p.add_argument("--max", type=int, default=None, metavar="N", help="at most N cases in all (default: all)")
    p.add_argument("--include", action="append", metavar="GLOB", help="only files whose path matches")
    p.add_argument("--exclude-list", action="append", metavar="FILE",
                   help="paths to leave out, one a line (.gz ok), e.g. a model's training file list")
    p.add_argument("--max-target-chars", type=int, default=None, metavar="N",
                   help="skip holes (rest of the method) longer than this (default: no limit)")
    p.add_argument("--min-target-chars", type=int, default=1, metavar="N", help="skip holes shorter than this")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.set_defaults(func=cmd_build)

    r = add_command(bsub, "run", help="generate per configuration, then score CR/NIM/ISM/PM/score@k",
                    examples=["mgd bench run --model PATH --cases cases.jsonl --configs plain,mgd,mgd+heal "
                              "--out runs/py --name py",
                              "mgd bench run --cases cases.jsonl --out runs/py --score-only --json"])
    r.add_argument("--model", help="model directory or Hugging Face id (default: $MGD_MODEL)")
    r.add_argument("--cases", required=True, metavar="JSONL", help="cases from `mgd bench build`")
    r.add_argument("--out", required=True, metavar="DIR",
                   help="directory for generations and reports (resumable: finished generations are kept)")
    r.add_argument("--configs", default="plain,mgd", help="comma list of plain, mgd, heal, mgd+heal")
    r.add_argument("-n", type=int, default=1, help="samples per case")
    r.add_argument("--temperature", type=float, default=0.0, help="sampling temperature; 0 = greedy")
    r.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling mass (with --temperature)")
    r.add_argument("-k", type=int, action="append", default=None, help="score@k (repeatable; default: 1 and n)")
    r.add_argument("--seed", type=int, default=0, help="sampling seed")
    r.add_argument("--max-new-tokens", type=int, default=64, metavar="N", help="most tokens per generation")
    r.add_argument("--max-prompt-tokens", type=int, default=1024, metavar="N", help="keep the prompt's last N tokens")
    r.add_argument("--batch-size", type=int, default=4, metavar="B", help="rows decoded together")
    r.add_argument("--server", default=None, help="language server preset (default: the language's)")
    add_wait_args(r, 30_000)
    r.add_argument("--device", default="cpu", help="torch device")
    r.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N cases (default: all)")
    r.add_argument("--jobs", type=int, default=2, help="parallel compile checks")
    r.add_argument("--name", default="eval", help="report file stem")
    r.add_argument("--score-only", action="store_true", help="score existing generations only")
    r.add_argument("--allow-partial", action="store_true",
                   help="score only the cases generated in every configuration (with --score-only)")
    r.add_argument("--no-cr", action="store_true", help="skip the compile/type checks (no CR)")
    r.add_argument("--json", action="store_true", help="print the summaries and report paths as JSON on stdout")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=_run_defaults)


def _run_defaults(args: argparse.Namespace) -> int:
    if args.k is None:
        args.k = sorted({1, args.n})
    if any(k < 1 or k > args.n for k in args.k):
        raise UsageError(f"-k must be between 1 and -n ({args.n})")
    return cmd_run(args)
