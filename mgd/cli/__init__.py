"""The ``mgd`` command line."""

from mgd.cli.main import main

__all__ = ["main"]
