"""``mgd doctor``: is each language's server installed, does it start, does it complete?"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["register"]


def cmd_doctor(args: argparse.Namespace) -> int:
    from mgd.cli.doctor import EXPERIMENTAL, SNIPPETS, run_checks
    from mgd.config import load_config

    config = load_config(args.config)
    languages = args.language or list(SNIPPETS)
    unknown = [lang for lang in languages if lang not in SNIPPETS]
    if unknown:
        from monitors.errors import ConfigError

        raise ConfigError(f"doctor knows no snippet for {unknown}; known: {sorted(SNIPPETS)}")
    checks = run_checks(languages, config, args.timeout)
    counted = [c for c in checks if args.language or c.language not in EXPERIMENTAL]
    if args.json:
        print(json.dumps([{**_row(c), "ok": c.ok} for c in checks], indent=2))
    else:
        for c in checks:
            if args.quiet and c.ok:
                continue
            print(_line(c, c.language in EXPERIMENTAL))
            if c.detail and not c.ok:
                print(f"    {c.detail}")
            if c.hint and not c.ok:
                print(f"    install: {c.hint}")
    return 0 if all(c.ok for c in counted) else 1


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
    d = sub.add_parser("doctor", help="check the language servers: installed, starting, answering")
    d.add_argument("--language", action="append", default=[], help="check only this language (repeatable)")
    d.add_argument("--config", default=None, metavar="TOML", help="mgd.toml with server overrides")
    d.add_argument("--timeout", type=float, default=120.0, help="seconds allowed for each first completion")
    d.add_argument("--json", action="store_true", help="print the results as JSON")
    d.add_argument("--quiet", action="store_true", help="print only problems")
    d.set_defaults(func=cmd_doctor)
