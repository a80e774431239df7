"""The ``mgd`` command line."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from monitors.commands import register_all
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
    try:
        return int(args.func(args))
    except MgdError as exc:
        print(f"mgd: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
