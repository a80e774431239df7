"""``mgd doctor``: is each language's server installed, does it start, does it complete?"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from mgd.cli.errors import EXIT_FAILED, EXIT_OK, UsageError
from mgd.cli.parsing import add_command

__all__ = ["register"]


def cmd_doctor(args: argparse.Namespace) -> int:
    from mgd.cli.health import EXPERIMENTAL, SNIPPETS, run_checks
    from mgd.config import load_config

    config = load_config(args.config)
    unknown = [lang for lang in args.language if lang not in SNIPPETS]
    if unknown:
        raise UsageError(f"doctor knows no snippet for {unknown}; known: {sorted(SNIPPETS)}")
    targets: list[tuple[str, str | None]] = []
    for name in args.server:
        spec = config.server(name)  # an unknown name is a ConfigError listing the known ones
        language = spec.language_id if spec.language_id in SNIPPETS else None
        if language is None:
            raise UsageError(f"--server {name}: doctor has no snippet for its language {spec.language_id!r}")
        targets.append((language, name))
    if args.language or not args.server:
        targets += [(lang, None) for lang in (args.language or list(SNIPPETS))]
    named = bool(args.language or args.server)

    def show(c: Any) -> None:
        if args.json or (args.quiet and c.ok):
            return
        print(_line(c, c.language in EXPERIMENTAL), flush=True)
        if c.detail and not c.ok:
            print(f"    {c.detail}")
        if c.hint and not c.ok:
            print(f"    install: {c.hint}", flush=True)

    checks = run_checks(targets, config, args.timeout, on_check=show)
    counted = [c for c in checks if named or c.language not in EXPERIMENTAL]
    if args.json:
        print(json.dumps([{**_row(c), "ok": c.ok} for c in checks], indent=2))
    elif not all(c.installed for c in checks):
        print("\nServers that pip cannot install come from npm (pyright, typescript-language-server: needs "
              "Node.js) or your system's packages (gopls, rust-src); the install lines above put them where "
              "mgd looks (this Python's bin, <prefix>/lsp, then PATH).", file=sys.stderr)
    return EXIT_OK if all(c.ok for c in counted) else EXIT_FAILED


def _row(c: Any) -> dict[str, Any]:
    return {
        "language": c.language,
        "server": c.server,
        "installed": c.installed,
        "started": c.started,
        "answered": c.answered,
        "start_s": None if c.start_s is None else round(c.start_s, 3),
        "completion_ms": None if c.completion_ms is None else round(c.completion_ms, 1),
        "detail": c.detail,
        "hint": c.hint,
    }


def _line(c: Any, experimental: bool) -> str:
    status = "ok" if c.ok else ("not installed" if not c.installed else "not started" if not c.started
                                else "no answer")
    timing = ""
    if c.start_s is not None:
        timing = f"start {c.start_s:.2f}s"
    if c.completion_ms is not None:
        timing += f", completion {c.completion_ms:.0f}ms"
    tag = " (experimental)" if experimental else ""
    return f"{c.language:<11} {c.server:<14} {status:<14} {timing}{tag}"


def register(sub: Any) -> None:
    d = add_command(
        sub, "doctor", help="check the language servers: installed, starting, answering a completion",
        description="For each language: is its server installed, does it start, does it answer a completion on "
                    "a built-in snippet? A server that is missing gets its install line. Exit 1 when a checked "
                    "server is not ok (Rust, experimental, counts only when named).",
        examples=["mgd doctor", "mgd doctor --language python --json", "mgd doctor --server pyright"],
    )
    d.add_argument("--language", action="append", default=[], help="check only this language (repeatable)")
    d.add_argument("--server", action="append", default=[], metavar="PRESET",
                   help="check this server on its language's snippet, e.g. pyright (repeatable)")
    d.add_argument("--config", default=None, metavar="TOML", help="mgd.toml with server overrides")
    d.add_argument("--timeout", type=float, default=120.0, metavar="SECONDS",
                   help="seconds allowed for each first completion")
    d.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    d.add_argument("--quiet", action="store_true", help="print only problems")
    d.set_defaults(func=cmd_doctor)
