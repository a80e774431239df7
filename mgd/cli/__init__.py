"""The ``mgd`` command line."""

from mgd.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
