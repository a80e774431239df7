"""``mgd bench build|run``: DotPrompts-style cases from repositories, and scored runs.

Leak-free by default: with ``--model M`` whose directory ships a training list
(``training_files.txt*``), ``build`` leaves those files out and ``run`` drops cases
in them (``--no-exclude`` keeps them); what was left out is recorded next to the
cases (``<cases>.build.json``) and in the run's report.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path
from typing import Any

from mgd.cli.commands.generate import DECODING_DEFAULTS, add_fim_args, add_wait_args, session_config, with_case_stops
from mgd.cli.errors import EXIT_FAILED, EXIT_OK, UsageError, require_extra
from mgd.cli.models import loading, resolve_model
from mgd.cli.parsing import add_command
from mgd.evaluation.runner import WAIT_MS
from monitors.errors import MgdError

__all__ = ["register"]

ENGINES = ("hf", "vllm", "remote")


def build_meta_path(cases: Path) -> Path:
    """Where ``build`` records how a cases file was made (``cases.jsonl`` -> ``cases.build.json``)."""
    return cases.with_name(cases.name.removesuffix(".jsonl") + ".build.json")


def _exclusion(args: argparse.Namespace, model: str | None) -> tuple[Any, dict[str, Any]]:
    """The exclude list (the model's training list unless ``--no-exclude``, plus every
    ``--exclude-list``) and its record for the report."""
    from mgd.evaluation.leakage import ExcludeList, read_exclude_list, training_list_of

    exclude = ExcludeList.of(())
    record: dict[str, Any] = {"applied": False}
    listed = training_list_of(model)
    if listed is not None and not args.no_exclude:
        exclude = read_exclude_list(listed)
    elif listed is not None:
        record["reason"] = f"--no-exclude (the model ships {listed.name})"
    elif model is not None:
        record["reason"] = f"no training_files.txt* in {model}"
    else:
        record["reason"] = "no --model given"
    for path in args.exclude_list or []:
        if not Path(path).is_file():
            raise UsageError(f"--exclude-list {path}: no such file")
        exclude = exclude | read_exclude_list(Path(path))
    if exclude:
        record = {"applied": True, "list": ", ".join(exclude.sources), "paths": len(exclude)}
    return exclude, record


def cmd_build(args: argparse.Namespace) -> int:
    for repo in args.repo:
        if not Path(repo).is_dir():
            raise UsageError(f"--repo {repo}: no such directory")
    from mgd.evaluation.builder import BuildOptions, build_cases, excluded_candidates, write_cases
    from mgd.evaluation.leakage import training_files_in
    from mgd.evaluation.progress import progress_bar

    exclude, record = _exclusion(args, args.model)
    by_project = args.exclude_scope == "project"
    per_repo = []
    removed_files = removed = 0
    projects: dict[str, int] = {}  # a left-out repository -> its files in the list
    bar = progress_bar(len(args.repo), "build", not args.quiet, unit="repo")
    for i, repo in enumerate(args.repo):
        options = BuildOptions(
            seed=args.seed + i,
            max_cases=None if len(args.repo) > 1 else args.max,
            include=tuple(args.include or ()),
            exclude=exclude,
            max_target_chars=args.max_target_chars,
            min_target_chars=args.min_target_chars,
            id_prefix=f"{Path(repo).name}/" if len(args.repo) > 1 else "",
            workspace_root=Path(args.workspace_root) if args.workspace_root else None,
            by_project=by_project,
        )
        per_repo.append(build_cases(repo, args.language, options))
        if exclude:
            f, c = excluded_candidates(repo, args.language, options)
            removed_files += f
            removed += c
            listed = training_files_in(repo, exclude) if by_project else []
            if listed:
                projects[repo] = len(listed)
        bar.update(1)
    bar.close()
    cases = _round_robin(per_repo, args.max, args.seed)
    if not cases:
        left = (f"; {removed_files} files with {removed} candidate cases are left out as training data"
                + (f" ({len(projects)} projects with files in the training list)" if projects else "")
                if removed else "")
        raise MgdError(f"no cases found (no functions with member-access dots in the given files{left})")
    out = Path(args.out)
    n = write_cases(cases, out)
    files = len({(c.workspace, c.file) for c in cases})
    if record["applied"]:
        record.update(scope=args.exclude_scope, excluded_files=removed_files, removed_cases=removed,
                      excluded_projects=projects)
    meta = {
        "command": " ".join(["mgd", *sys.argv[1:]]),
        "cases": n, "files": files, "repositories": len(args.repo),
        "workspace_root": args.workspace_root, "training_exclusion": record,
    }
    build_meta_path(out).write_text(json.dumps(meta, indent=2) + "\n")
    if args.json:
        print(json.dumps({**meta, "out": str(out)}))
    else:
        left = (f"; left out {removed_files} training files ({removed} candidate cases)"
                if record["applied"] else f"; no training-data exclusion ({record.get('reason')})")
        print(f"{n} cases from {files} files in {len(args.repo)} repositories -> {out}{left}", file=sys.stderr)
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


def _generator(args: argparse.Namespace, model: str, workspaces: list[str]) -> Any:
    """The engine ``--engine`` names, with the run's session settings (``mgd generate``'s
    :func:`~mgd.cli.commands.generate.session_config`), stopping each case at its method end."""
    config = session_config(args)
    if args.engine == "remote":
        from mgd.engines.endpoints import RemoteGenerator

        local = args.workspace_root if args.server_workspace_root else None
        return with_case_stops(RemoteGenerator(args.endpoint, model, config=config,
                                               api_key=os.environ.get("MGD_API_KEY"),
                                               local_root=local, server_root=args.server_workspace_root))
    if args.engine == "vllm":
        from mgd.vllm.offline import VllmGenerator

        with loading(model):
            return with_case_stops(VllmGenerator(model, config=config, allowed_workspaces=workspaces))
    from mgd.engines.generate import HFGenerator

    with loading(model):
        return with_case_stops(HFGenerator(model, config=config, device=args.device))


def run_settings(args: argparse.Namespace) -> Any:
    """The run's :class:`~mgd.evaluation.runner.RunSettings` from its flags; ``--budget FILE``
    (from ``mgd bench budget``) sets the token budget and records how it was chosen."""
    from mgd.evaluation.budget import read_budget
    from mgd.evaluation.runner import RunSettings

    max_new, note = args.max_new_tokens, ""
    if args.budget:
        choice = read_budget(Path(args.budget))
        max_new, note = choice.tokens, choice.describe()
    return RunSettings(
        n=args.n, temperature=args.temperature, top_p=args.top_p, seed=args.seed,
        max_new_tokens=max_new, max_prompt_tokens=args.max_prompt_tokens,
        batch_size=args.batch_size, engine=args.engine, wait_ms=args.wait_ms, budget=note,
        fim=args.fim, fim_template=args.fim_template, max_suffix_tokens=args.max_suffix_tokens,
    )


def cmd_run(args: argparse.Namespace) -> int:
    if not Path(args.cases).is_file():
        raise UsageError(f"--cases {args.cases}: no such file")
    if args.engine == "remote" and not args.endpoint and not args.score_only:
        raise UsageError("--engine remote needs --endpoint URL (repeatable)")
    if args.endpoint and args.engine != "remote":
        raise UsageError("--endpoint needs --engine remote")
    if args.server_workspace_root and not args.workspace_root:
        raise UsageError("--server-workspace-root needs --workspace-root (the same workspaces here)")
    model = None if args.score_only else resolve_model(args.model)
    if model is not None and args.engine == "remote":  # the served model's tokenizer only
        require_extra("remote", ("httpx",), "mgd bench run --engine remote")
        require_extra("hf", ("transformers",), "mgd bench run --engine remote")
    elif model is not None:
        require_extra("hf", ("torch", "transformers"), "mgd bench run")
        if args.engine == "vllm":
            require_extra("vllm", ("vllm",), "mgd bench run --engine vllm")
    from mgd.evaluation.progress import progress_bar
    from mgd.evaluation.report import write_report
    from mgd.evaluation.runner import (
        check_settings,
        drop_excluded,
        generate_config,
        load_bench_cases,
        parse_configs,
    )
    from mgd.evaluation.scoring import score_run

    configs = parse_configs(args.configs)
    cases_path = Path(args.cases)
    root = Path(args.workspace_root) if args.workspace_root else None
    cases = load_bench_cases(cases_path, args.limit, root)
    exclude, record = _exclusion(args, model)
    cases, dropped = drop_excluded(cases, exclude, by_project=args.exclude_scope == "project")
    if not cases:
        raise MgdError(f"every case of {cases_path} is in the exclude list ({len(dropped)} cases)")
    meta_path = build_meta_path(cases_path)
    built = json.loads(meta_path.read_text()).get("training_exclusion", {}) if meta_path.is_file() else {}
    record["removed_at_run"] = len(dropped)
    if built.get("applied"):
        record.update(applied=True, list=built.get("list"), paths=built.get("paths"),
                      excluded_files=built.get("excluded_files"), removed_cases=built.get("removed_cases", 0))
    record["at_build"] = built or "not recorded"
    settings = run_settings(args)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = check_settings(out_dir, settings, scoring_only=args.score_only)
    if model is not None:  # not --score-only
        workspaces = sorted({c.workspace for c in cases})
        with _generator(args, model, workspaces) as gen:
            for cfg in configs:
                generate_config(gen, cfg, cases, settings, out_dir, progress=not args.quiet)
    items = len(cases) * settings.n * len(configs)
    bar = progress_bar(items, "score", not args.quiet and not args.no_cr, unit="file")
    result = score_run(
        cases, configs, settings, out_dir, ks=tuple(args.k), jobs=args.jobs, allow_partial=args.allow_partial,
        compile_check=not args.no_cr, progress=bar,
    )
    bar.close()
    result.meta["training_exclusion"] = record
    result.meta["cases_file"] = str(cases_path)
    paths = write_report(result, out_dir, name=args.name, command=" ".join(["mgd", *sys.argv[1:]]))
    errors = _generation_errors(out_dir, [c.name for c in configs])
    if args.json:
        print(json.dumps({"reports": [str(p) for p in paths], "generation_errors": errors, **result.to_json()}))
    else:
        for p in paths:
            print(p, file=sys.stderr)
        if errors:
            print(f"mgd: {errors} generations ended with an error (see gen-*.jsonl in {out_dir})", file=sys.stderr)
    return EXIT_FAILED if errors else EXIT_OK


def _generation_errors(out_dir: Path, names: list[str]) -> int:
    """Generations in ``out_dir/gen-<name>.jsonl`` that ended with an error record."""
    from mgd.evaluation.runner import read_generations

    return sum(1 for name in names for g in read_generations(out_dir / f"gen-{name}.jsonl").values()
               if g.get("error"))


def cmd_budget(args: argparse.Namespace) -> int:
    """Choose the token budget from a plain run (:mod:`mgd.evaluation.budget`)."""
    from mgd.evaluation.budget import choose_budget, finish_tokens, write_budget
    from mgd.evaluation.runner import load_bench_cases

    run = Path(args.run)
    settings_path = run / "settings.json"
    if not settings_path.is_file():
        raise UsageError(f"--run {run}: no settings.json (a directory of `mgd bench run`)")
    max_new = int(json.loads(settings_path.read_text())["max_new_tokens"])
    gen_path = run / f"gen-{args.config}.jsonl"
    if not gen_path.is_file():
        raise UsageError(f"--run {run}: no gen-{args.config}.jsonl")
    root = Path(args.workspace_root) if args.workspace_root else None
    cases = load_bench_cases(Path(args.cases), None, root)
    needed = finish_tokens(cases, gen_path, max_new)
    source = f"{args.config} in {run}, {Path(args.cases).name}, run with {max_new} tokens"
    choice = choose_budget(needed, args.share, source, strict=args.strict)
    if args.out:
        write_budget(choice, Path(args.out))
    if args.json:
        print(json.dumps({"tokens": choice.tokens, "describe": choice.describe(), "out": args.out}))
    else:
        print(choice.describe())
    return EXIT_OK


def _add_exclusion_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--exclude-list", action="append", metavar="FILE",
                   help="more paths to leave out, one a line (.gz ok), matched by path suffix (repeatable)")
    p.add_argument("--no-exclude", action="store_true",
                   help="keep files in the model's training list (training_files.txt* in the model directory), "
                        "which are left out by default")
    p.add_argument("--exclude-scope", choices=["project", "file"], default="project",
                   help="project: a repository (workspace) with any listed file is left out whole; file: only "
                        "the listed files (default: project)")


def register(sub: Any) -> None:
    b = add_command(sub, "bench", help="evaluation: build DotPrompts-style cases, run and score configurations",
                    examples=["mgd bench build --repo path/to/project --language python --out cases.jsonl --max 300",
                              "mgd bench run --model PATH --cases cases.jsonl --configs plain,mgd --out runs/first"])
    bsub = b.add_subparsers(dest="bench_command", required=True, metavar="SUBCOMMAND", help="one of:")

    p = add_command(bsub, "build", help="cases from real repositories (prompt = file up to a dot in a method)",
                    examples=["mgd bench build --repo proj --language python --model PATH --out cases.jsonl --max 300",
                              "mgd bench build --repo ws/click --language python --workspace-root ws --out cases.jsonl"])
    p.add_argument("--repo", action="append", required=True, metavar="DIR", help="repository root (repeatable)")
    p.add_argument("--language", required=True, help="python, java, go, typescript, ...")
    p.add_argument("--out", required=True, metavar="JSONL", help="cases file to write (and <name>.build.json)")
    p.add_argument("--model", default=None,
                   help="the model to evaluate: its training list (training_files.txt*) is left out "
                        "(default: $MGD_MODEL)")
    _add_exclusion_args(p)
    p.add_argument("--workspace-root", default=None, metavar="DIR",
                   help="write workspaces relative to DIR (then `bench run --workspace-root` finds them anywhere)")
    p.add_argument("--seed", type=int, default=0, help="seed of the case sample (default: 0)")
    p.add_argument("--max", type=int, default=None, metavar="N", help="at most N cases in all (default: all)")
    p.add_argument("--include", action="append", metavar="GLOB", help="only files whose path matches (repeatable)")
    p.add_argument("--max-target-chars", type=int, default=None, metavar="N",
                   help="skip holes (rest of the method) longer than this (default: no limit)")
    p.add_argument("--min-target-chars", type=int, default=1, metavar="N", help="skip holes shorter than this (default: 1)")
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_build_defaults)

    r = add_command(bsub, "run", help="generate per configuration, then score CR/NIM/ISM/PM/score@k",
                    examples=["mgd bench run --model PATH --cases cases.jsonl --configs plain,mgd,mgd+heal "
                              "--out runs/py --name py",
                              "mgd bench run --model PATH --cases cases.jsonl --engine remote "
                              "--endpoint http://host-a:8000 --endpoint http://host-b:8000 --out runs/py",
                              "mgd bench run --cases cases.jsonl --out runs/py --score-only --json"])
    r.add_argument("--model", default=None,
                   help="model directory or id (default: $MGD_MODEL); --engine remote: the served model's tokenizer")
    r.add_argument("--cases", required=True, metavar="JSONL", help="cases from `mgd bench build`")
    r.add_argument("--out", required=True, metavar="DIR",
                   help="directory for generations and reports (resumable: finished generations are kept)")
    r.add_argument("--workspace-root", default=None, metavar="DIR",
                   help="where the cases' relative workspaces are (default: the cases file's directory)")
    r.add_argument("--configs", default="plain,mgd",
                   help="comma list of plain, mgd, heal, mgd+heal, default (what `mgd generate` does with no flags), "
                        "mgd+calls, mgd+defsites, mgd+syntax, mgd+types, mgd+strict (Java expected types: safe, "
                        "heuristic), mgd+new (the dereference monitor plus the call-syntax, definition-site and "
                        "syntax-guard monitors; docs/monitors.md) (default: plain,mgd)")
    r.add_argument("--engine", choices=ENGINES, default="hf",
                   help="hf: transformers; vllm: offline vLLM with the mgd processor; "
                        "remote: OpenAI-compatible endpoints (mgd serve, vllm serve + plugin), cases sharded (default: hf)")
    r.add_argument("--endpoint", action="append", default=[], metavar="URL",
                   help="a server for --engine remote, e.g. http://10.0.0.5:8000 (repeatable; API key from "
                        "$MGD_API_KEY)")
    r.add_argument("--server-workspace-root", default=None, metavar="DIR",
                   help="--engine remote: where the servers find the --workspace-root tree "
                        "(default: the same paths as here)")
    _add_exclusion_args(r)
    r.add_argument("-n", type=int, default=1, help="samples per case (default: 1)")
    r.add_argument("--temperature", type=float, default=0.0, help="sampling temperature; 0 = greedy (default)")
    # Decoding defaults are mgd generate's (one GenerateOptions), so --configs default is
    # `mgd generate` without flags.
    r.add_argument("--top-p", type=float, default=DECODING_DEFAULTS.top_p,
                   help=f"nucleus sampling mass with --temperature (default: {DECODING_DEFAULTS.top_p})")
    r.add_argument("-k", type=int, action="append", default=None, help="score@k (repeatable; default: 1 and n)")
    r.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    r.add_argument("--max-new-tokens", type=int, default=DECODING_DEFAULTS.max_new_tokens, metavar="N",
                   help="token budget per generation; a generation also stops at its method's end, and one "
                        f"that reaches the budget first fails CR (default: {DECODING_DEFAULTS.max_new_tokens})")
    r.add_argument("--budget", default=None, metavar="JSON",
                   help="the token budget chosen by `mgd bench budget` (overrides --max-new-tokens; recorded)")
    r.add_argument("--max-prompt-tokens", type=int, default=DECODING_DEFAULTS.max_prompt_tokens, metavar="N",
                   help="keep the prompt's last N tokens (default: as many as the context allows)")
    r.add_argument("--batch-size", type=int, default=DECODING_DEFAULTS.batch_size, metavar="B",
                   help="rows decoded together; --engine remote: requests in flight per endpoint "
                        f"(default: {DECODING_DEFAULTS.batch_size})")
    r.add_argument("--server", default=None, help="language server preset (default: the language's)")
    add_fim_args(r)
    add_wait_args(r, WAIT_MS)
    r.add_argument("--device", default="cpu", help="torch device of --engine hf (default: cpu)")
    r.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N cases (default: all)")
    r.add_argument("--jobs", type=int, default=2, help="parallel compile checks (default: 2)")
    r.add_argument("--name", default="eval", help="report file stem (default: eval)")
    r.add_argument("--score-only", action="store_true", help="score existing generations only")
    r.add_argument("--allow-partial", action="store_true",
                   help="score only the cases generated in every configuration (with --score-only)")
    r.add_argument("--no-cr", action="store_true", help="skip the compile/type checks (no CR)")
    r.add_argument("--json", action="store_true", help="print the summaries and report paths as JSON on stdout")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    r.set_defaults(func=_run_defaults)

    u = add_command(bsub, "budget", help="choose the token budget: the fewest tokens within which 95% of a plain "
                                         "run's completions end their method",
                    examples=["mgd bench budget --cases dev.jsonl --run runs/dev-plain --out budget.json"])
    u.add_argument("--cases", required=True, metavar="JSONL", help="the cases of the run")
    u.add_argument("--run", required=True, metavar="DIR",
                   help="a `mgd bench run` directory with a plain run made with a generous --max-new-tokens")
    u.add_argument("--config", default="plain", help="whose completions count (default: plain)")
    u.add_argument("--share", type=float, default=0.95, help="share that must finish (default: 0.95)")
    u.add_argument("--strict", action="store_true",
                   help="refuse when fewer than --share of all plain completions end within the run's budget "
                        "(default: fall back to --share of those that end, and say how many never did)")
    u.add_argument("--workspace-root", default=None, metavar="DIR",
                   help="where the cases' relative workspaces are (default: the cases file's directory)")
    u.add_argument("--out", default=None, metavar="JSON", help="write the choice here (for `bench run --budget`)")
    u.add_argument("--json", action="store_true", help="print the choice as JSON")
    u.set_defaults(func=cmd_budget)


def _build_defaults(args: argparse.Namespace) -> int:
    args.model = args.model or os.environ.get("MGD_MODEL") or None
    return cmd_build(args)


def _run_defaults(args: argparse.Namespace) -> int:
    if args.k is None:
        args.k = sorted({1, args.n})
    if any(k < 1 or k > args.n for k in args.k):
        raise UsageError(f"-k must be between 1 and -n ({args.n})")
    if args.wait_ms < 0:
        raise UsageError("--wait-ms must be >= 0")
    return cmd_run(args)
