"""The ``mgd`` command line."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from mgd.cli.commands import register_all
from monitors.errors import MgdError

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mgd", description="Monitor-guided decoding for code models")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    sub = parser.add_subparsers(dest="command", required=True)
    register_all(sub)
    return parser



def _quiet_libraries() -> None:
    """No weight-loading progress bars from transformers on the CLI."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - the hf extra is not installed
        return
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING - 10 * min(args.verbose, 2), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    _quiet_libraries()
    previous = _exit_on_sigterm()
    try:
        return int(args.func(args))
    except MgdError as exc:
        print(f"mgd: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_exit(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _exit_on_sigterm() -> signal.Handlers | object | None:
    """SIGTERM unwinds like Ctrl-C: ``with`` blocks stop language servers, kill
    checker subprocesses and remove temporary directories (the default action
    would kill the process on the spot and leave them behind). Returns the
    previous handler (None when not on the main thread, where it cannot be set)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_exit)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
