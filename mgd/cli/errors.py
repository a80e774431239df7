"""What the ``mgd`` command line reports and how it exits.

Exit codes: :data:`EXIT_OK` (0) all went well; :data:`EXIT_FAILED` (1) a case
ended with an error record, a check failed, or something broke at run time;
:data:`EXIT_USAGE` (2) the command line (or a file or model it names) is wrong.
"""

from __future__ import annotations

import importlib.util

from monitors.errors import ConfigError, MgdError

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "MissingExtra",
    "UsageError",
    "exit_code_for",
    "require_extra",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class UsageError(ConfigError):
    """A wrong flag or flag value, or a file or model named on the command line that is not there."""


class MissingExtra(MgdError):
    """A command needs an optional dependency that is not installed; the message has the pip line."""


def require_extra(extra: str, modules: tuple[str, ...], what: str) -> None:
    """Raise :class:`MissingExtra` unless every module in ``modules`` can be imported
    (checked without importing them: a usage error must not load torch)."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingExtra(f"{what} needs {', '.join(missing)}, which is not installed; "
                           f"install it with: pip install 'mgd[{extra}]'")


def exit_code_for(exc: MgdError) -> int:
    """Settings and usage errors exit 2; everything else that mgd raises exits 1."""
    return EXIT_USAGE if isinstance(exc, ConfigError) else EXIT_FAILED
