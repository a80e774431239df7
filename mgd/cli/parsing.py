"""The conventions every ``mgd`` subcommand follows.

* global options (``-v``) work before or after the subcommand;
* help shows each flag's default and the command's examples;
* wait budgets are milliseconds, one spelling (``--wait-ms``); a removed spelling is a
  usage error naming the new one (:class:`RemovedFlag`);
* escapes in texts (``--stop '\\n'``) are decoded without touching other characters.
"""

from __future__ import annotations

import argparse
import codecs
import re
from collections.abc import Sequence
from typing import Any

__all__ = [
    "HelpFormatter",
    "RemovedFlag",
    "add_command",
    "common_options",
    "unescape",
    "verbosity",
]


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps descriptions/epilogs as written (examples) and appends ``(default: X)``
    to every flag whose default means something (not None, False or empty)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if (
            "%(default)" in text
            or "default:" in text
            or default is None
            or default is False
            or default == []
            or default is argparse.SUPPRESS
            or isinstance(action, argparse._CountAction)
            or not action.option_strings
        ):
            return text
        return f"{text} (default: %(default)s)"


def common_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """The options every command accepts. On the top parser ``-v`` counts into
    ``verbose``; on a subcommand into ``verbose_sub`` (no default, so that a
    subcommand never resets what came before it): :func:`verbosity` adds them."""
    if top:
        parser.add_argument("-v", "--verbose", action="count", default=0,
                            help="more log output (-vv: debug); allowed anywhere on the line")
    else:
        parser.add_argument("-v", "--verbose", action="count", dest="verbose_sub", default=argparse.SUPPRESS,
                            help="more log output (-vv: debug)")


def verbosity(args: argparse.Namespace) -> int:
    return int(getattr(args, "verbose", 0)) + int(getattr(args, "verbose_sub", 0))


def add_command(sub: Any, name: str, *, help: str, description: str | None = None,
                examples: Sequence[str] = ()) -> argparse.ArgumentParser:
    """A subcommand parser with the common options, defaults in help and examples."""
    epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples) if examples else None
    parser = sub.add_parser(name, help=help, description=description or help[:1].upper() + help[1:],
                            epilog=epilog, formatter_class=HelpFormatter)
    common_options(parser, top=False)
    return parser


class RemovedFlag(argparse.Action):
    """A removed spelling of a flag: using it is a usage error that names the flag
    to use instead (exit status 2). Hidden from help."""

    def __init__(self, option_strings: list[str], dest: str, *, new: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", argparse.SUPPRESS)
        kwargs.setdefault("metavar", "VALUE")
        kwargs.setdefault("default", argparse.SUPPRESS)
        super().__init__(option_strings, dest, **kwargs)
        self.new = new

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        parser.error(f"{option_string} was removed; use {self.new}")


_ESCAPE = re.compile(r"\\(?:[\\'\"abfnrtv]|[0-7]{1,3}|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8})")


def unescape(text: str) -> str:
    r"""Decode backslash escapes (``\n``, ``\t``, ``\\``, ``\x41``, ``\u00e9``, ...) in a
    command-line text; every other character, non-ASCII included, stays as it is."""
    return _ESCAPE.sub(lambda m: codecs.decode(m.group(0), "unicode_escape"), text)
