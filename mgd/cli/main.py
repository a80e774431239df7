"""The ``mgd`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

from mgd import __version__
from mgd.cli.commands import register_all
from mgd.cli.errors import EXIT_FAILED, exit_code_for
from mgd.cli.parsing import HelpFormatter, common_options, verbosity
from monitors.errors import MgdError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mgd",
        description="Monitor-guided decoding for code models: a language server decides which "
                    "identifiers the model may write.",
        epilog="exit status: 0 ok; 1 a case or check failed, or a run-time error; 2 usage error.\n"
               "'mgd COMMAND --help' shows each command's flags, defaults and examples.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"mgd {__version__}")
    common_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="one of:")
    register_all(sub)
    return parser


def _quiet_libraries(verbose: int) -> None:
    """No weight-loading progress bars or advisories from transformers / the Hub unless
    ``-v``; through their environment variables, so that nothing is imported here.
    vLLM logs to stderr: stdout carries mgd's results (``--json``) only."""
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    if verbose == 0:
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = verbosity(args)
    logging.basicConfig(level=logging.WARNING - 10 * min(verbose, 2), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    _quiet_libraries(verbose)
    previous = _exit_on_sigterm()
    try:
        return int(args.func(args))
    except MgdError as exc:
        if verbose:
            traceback.print_exc()
        print(f"mgd: error: {exc}", file=sys.stderr)
        return exit_code_for(exc)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `mgd ... | head`: the reader left
        sys.stderr.close()
        return EXIT_FAILED
    except Exception as exc:  # a bug or an unexpected failure: one line, the traceback with -v
        if verbose:
            traceback.print_exc()
        print(f"mgd: error: {type(exc).__name__}: {exc}" + ("" if verbose else " (-v shows the traceback)"),
              file=sys.stderr)
        return EXIT_FAILED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _exit_on_sigterm() -> Callable[[int, FrameType | None], Any] | int | None:
    """SIGTERM unwinds like Ctrl-C: ``with`` blocks stop language servers, kill
    checker subprocesses and remove temporary directories (the default action
    would kill the process on the spot and leave them behind). Returns the
    previous handler (None when not on the main thread, where it cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_exit)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
