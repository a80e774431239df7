"""Helpers shared by the benchmarks: paths, the default model, held-out packages."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from mgd.evaluation.leakage import ExcludeList, read_exclude_list, training_list_of

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / ".cache"
RESULTS = ROOT / "benchmarks" / "results"

#: Pure-Python wheels that are not in tinycode-27m's training data (checked against
#: models/tinycode-27m/training_files.txt.gz by path suffix, vendored copies included:
#: more-itertools 10.7.0 was dropped, its three modules are setuptools' vendored copy there).
HELD_OUT_PACKAGES = [
    "click==8.1.8",
    "attrs==25.3.0",
    "itsdangerous==2.2.0",
    "jinja2==3.1.6",
    "markdown==3.8",
    "httpx==0.28.1",
    "marshmallow==3.26.1",
    "cachetools==5.5.2",
    "tomlkit==0.13.2",
    "humanize==4.12.3",
    "wcwidth==0.2.13",
]


#: Debian's archive, where :func:`fetch_debian_source` downloads the original tarballs from
#: (``$MGD_DEBIAN_MIRROR`` overrides; http://snapshot.debian.org/archive/debian/20240101T000000Z
#: keeps them once bookworm's pool drops a version).
DEBIAN_MIRROR = "http://deb.debian.org/debian"

#: Java libraries from Debian bookworm source packages whose main sources (``src/main/java``)
#: need only the JDK (javac with ``-sourcepath`` at the package root compiles them) and none of
#: whose files, nor any file of their project, is in tinycode-27m's training list (its Java is
#: the JDK alone). source package -> (Debian version, original tarball, its SHA-256).
#: The report split (benchmarks/cases/java-report-cases.jsonl) uses the first five, the
#: development split (benchmarks/cases/dev/java-dev2-cases.jsonl) the last three.
DEBIAN_JAVA_SOURCES: dict[str, tuple[str, str, str]] = {
    "libcommons-lang3-java": ("3.12.0-2+deb12u1", "libcommons-lang3-java_3.12.0.orig.tar.xz",
                              "f7c22574707611b63bae19ff17f59e24cdd32e2b0e61a50ec9b1b525fbc909d1"),
    "libcommons-collections4-java": ("4.2-1", "libcommons-collections4-java_4.2.orig.tar.xz",
                                     "e6b25f22128d2b5e6181d9736f313103e079366013f853061aba16e8d4feb729"),
    "commons-io": ("2.11.0-2", "commons-io_2.11.0.orig.tar.gz",
                   "5a55361cf2b97228f94b3c65e3a4af784581debe322be551c44b2776db1c6483"),
    "commons-math3": ("3.6.1-3", "commons-math3_3.6.1.orig.tar.xz",
                      "16d940c11c48793214915b72201c35719acd1cb40278066b3c090165550fd992"),
    "libcommons-net-java": ("3.9.0-1", "libcommons-net-java_3.9.0.orig.tar.gz",
                            "f7da45f48c59df27468c6c1d396ba3406359bfb42e8b6ec9a07acee1d11892f2"),
    "libcommons-codec-java": ("1.15-1", "libcommons-codec-java_1.15.orig.tar.xz",
                              "857c58c23bfe6b284b174d89f323de438042ce9a005b2a81afa658962caff90f"),
    "commons-csv": ("1.9.0-1", "commons-csv_1.9.0.orig.tar.xz",
                    "661252998cf2b9aac1aa12fe9e104dc23190761a8971384f83a6c1fc02536867"),
    "commons-exec": ("1.3-2", "commons-exec_1.3.orig.tar.gz",
                     "db0742fa59b7d69375e5d99e827aee0bf06ac527aa6def63618950e40c24cb9f"),
}
JAVA_REPORT_SOURCES = ["libcommons-lang3-java", "libcommons-collections4-java", "commons-io", "commons-math3",
                       "libcommons-net-java"]
JAVA_DEV2_SOURCES = ["libcommons-codec-java", "commons-csv", "commons-exec"]


def default_model() -> str:
    env = os.environ.get("MGD_MODEL")
    if env:
        return env
    return str(ROOT.parent / "shared" / "models" / "tinycode-27m")


def training_paths(model: str | Path) -> dict[str, list[str]]:
    """The model's training files (``training_files.txt.gz``), by file name; empty if absent."""
    import gzip

    listing = Path(model) / "training_files.txt.gz"
    by_name: dict[str, list[str]] = {}
    if listing.exists():
        with gzip.open(listing, "rt", encoding="utf-8") as fh:
            for line in fh:
                path = line.strip()
                if path:
                    by_name.setdefault(path.rsplit("/", 1)[-1], []).append(path)
    return by_name


def held_out(rel: str, training: dict[str, list[str]]) -> bool:
    """True unless a training file ends with ``/rel`` (matched by path suffix, so vendored
    copies such as ``setuptools/_vendor/more_itertools/more.py`` count)."""
    rel = rel.replace("\\", "/")
    return not any(p.endswith("/" + rel) for p in training.get(rel.rsplit("/", 1)[-1], ()))


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    """Stop a server started by a benchmark: SIGINT, then kill after 120 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def fetch_package(spec: str) -> Path:
    """Download (once) a pure-Python wheel and unpack it; returns the workspace."""
    name = spec.split("==")[0].replace("-", "_")
    dest = CACHE / "packages" / spec.replace("==", "-")
    if (dest / ".done").exists():
        return dest
    wheels = CACHE / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", str(wheels), spec],
        check=True,
    )
    version = spec.split("==")[1]
    (wheel,) = [w for w in wheels.glob("*.whl") if w.name.lower().startswith(f"{name.lower()}-{version}")]
    dest.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(dest)
    (dest / ".done").touch()
    return dest


def debian_workspace(package: str) -> Path:
    """Where :func:`fetch_debian_source` puts ``package``: ``.cache/debian/<package>-<upstream version>``."""
    version = DEBIAN_JAVA_SOURCES[package][0]
    return CACHE / "debian" / f"{package}-{version.rsplit('-', 1)[0]}"


def fetch_debian_source(package: str, subdir: str = "src/main/java") -> Path:
    """Download (once) a Debian source package's original tarball (:data:`DEBIAN_JAVA_SOURCES`,
    SHA-256 checked) and unpack only ``subdir`` of it, as the workspace's root: no pom.xml or
    other build file, so JDT LS opens it as an invisible project (a Maven import would fail
    offline) and javac finds the package root there. Returns the workspace; it records what
    it came from in ``.source.json``."""
    version, orig, digest = DEBIAN_JAVA_SOURCES[package]
    dest = debian_workspace(package)
    if (dest / ".done").exists():
        return dest
    archives = CACHE / "debian" / "archives"
    archives.mkdir(parents=True, exist_ok=True)
    tarball = archives / orig
    mirror = os.environ.get("MGD_DEBIAN_MIRROR", DEBIAN_MIRROR).rstrip("/")
    prefix = package[:4] if package.startswith("lib") else package[0]
    url = f"{mirror}/pool/main/{prefix}/{package}/{orig}"
    if not tarball.exists() or hashlib.sha256(tarball.read_bytes()).hexdigest() != digest:
        with urllib.request.urlopen(url, timeout=120) as resp:  # noqa: S310 (a fixed http(s) mirror)
            data = resp.read()
        got = hashlib.sha256(data).hexdigest()
        if got != digest:
            raise RuntimeError(f"{url}: SHA-256 {got}, expected {digest}")
        tarball.write_bytes(data)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    count = 0
    with tarfile.open(tarball) as tf:
        for member in tf.getmembers():
            top, _, rest = member.name.partition("/")
            if not member.isfile() or not rest.startswith(subdir.rstrip("/") + "/"):
                continue
            rel = rest[len(subdir.rstrip("/")) + 1:]
            if ".." in Path(rel).parts or not rel.endswith(".java"):
                continue
            out = dest / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            src = tf.extractfile(member)
            assert src is not None
            out.write_bytes(src.read())
            count += 1
    record = {"package": package, "version": version, "orig": orig, "sha256": digest, "url": url,
              "subdir": subdir, "files": count}
    (dest / ".source.json").write_text(json.dumps(record, indent=2) + "\n")
    (dest / ".done").touch()
    return dest


def training_exclusion(model: str | None, *, enabled: bool = True) -> tuple[ExcludeList, dict[str, Any]]:
    """The model's training list (``training_files.txt*`` in its directory) as an exclude
    list, and its record for a result file; empty when disabled or when there is none."""
    listed = training_list_of(model)
    if listed is None or not enabled:
        why = "disabled (--no-exclude)" if listed is not None else f"no training list in {model}"
        return ExcludeList.of(()), {"applied": False, "reason": why}
    exclude = read_exclude_list(listed)
    return exclude, {"applied": True, "list": str(listed), "paths": len(exclude)}


def write_result(name: str, payload: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        **payload,
    }
    out = RESULTS / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(payload, indent=2) + "\n")
    return out


def fetch_case_workspaces(cases: Path) -> list[Path]:
    """Fetch (once) every workspace a cases file names: ``packages/<name>-<version>`` (a
    wheel, :func:`fetch_package`) and ``debian/<package>-<version>`` (:func:`fetch_debian_source`);
    others must already be there."""
    names = sorted({json.loads(line)["workspace"] for line in cases.read_text(encoding="utf-8").splitlines()
                    if line.strip()})
    by_dir = {debian_workspace(p).name: p for p in DEBIAN_JAVA_SOURCES}
    out: list[Path] = []
    for ws in names:
        kind, _, leaf = ws.partition("/")
        if kind == "packages" and "-" in leaf:
            name, version = leaf.rsplit("-", 1)
            out.append(fetch_package(f"{name}=={version}"))
        elif kind == "debian" and leaf in by_dir:
            out.append(fetch_debian_source(by_dir[leaf]))
        elif (CACHE / ws).is_dir():
            out.append(CACHE / ws)
        else:
            raise SystemExit(f"{cases}: workspace {ws} is not in {CACHE} and has no fetch recipe")
    return out


def main(argv: list[str] | None = None) -> int:
    """``python benchmarks/_common.py fetch-debian [PACKAGE ...]``: fetch Java workspaces (all of
    :data:`DEBIAN_JAVA_SOURCES` by default) and print where they are; ``fetch-cases CASES ...``:
    every workspace the cases files name."""
    import argparse

    parser = argparse.ArgumentParser(prog="benchmarks/_common.py", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    deb = sub.add_parser("fetch-debian", help="Debian source packages of the Java splits -> benchmarks/.cache/debian/")
    deb.add_argument("packages", nargs="*", metavar="PACKAGE", help=f"default: all ({', '.join(DEBIAN_JAVA_SOURCES)})")
    fc = sub.add_parser("fetch-cases", help="every workspace the cases files name -> benchmarks/.cache/")
    fc.add_argument("cases", nargs="+", type=Path)
    args = parser.parse_args(argv)
    if args.command == "fetch-cases":
        for path in args.cases:
            for ws in fetch_case_workspaces(path):
                print(ws.relative_to(ROOT))
        return 0
    unknown = [p for p in args.packages if p not in DEBIAN_JAVA_SOURCES]
    if unknown:
        parser.error(f"not in DEBIAN_JAVA_SOURCES: {', '.join(unknown)}")
    for package in args.packages or DEBIAN_JAVA_SOURCES:
        print(fetch_debian_source(package).relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
