"""Health checks of the configured language servers (``mgd doctor``).

For each language: is its server installed, does it start, and does it answer a
completion on a built-in snippet with the expected member? Each check runs the
real server in a temporary project that is removed afterwards.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lsp_bridge import LspServer, ServerSpec, resolve_command
from mgd.config import MgdConfig
from monitors.errors import LspError, MgdError

__all__ = ["EXPERIMENTAL", "SNIPPETS", "Check", "Snippet", "check_language", "installed", "run_checks"]

#: Languages whose failures do not fail ``mgd doctor`` unless asked for by name.
EXPERIMENTAL = frozenset({"rust"})


@dataclass(frozen=True, slots=True)
class Snippet:
    """A tiny project: ``files`` (relative path -> text); the cursor is at ``<|>``
    in ``main``; ``expect`` must be among the completions there."""

    main: str
    files: dict[str, str]
    expect: str


def _rust_project() -> str:
    src = os.environ.get("RUST_SRC_PATH", "/usr/lib/rustlib/src/rust/library")
    sysroot = f'"sysroot_src": "{src}", ' if Path(src).is_dir() else ""
    return '{' + sysroot + '"crates": [{"root_module": "src/main.rs", "edition": "2021", "deps": []}]}'


SNIPPETS: dict[str, Snippet] = {
    "python": Snippet("shapes.py", {"shapes.py": (
        "class Circle:\n    def __init__(self):\n        self.radius = 1.0\n\n"
        "def area(c: Circle):\n    return c.<|>\n")}, "radius"),
    "java": Snippet("src/demo/Main.java", {"src/demo/Main.java": (
        "package demo;\n\npublic class Main {\n    int radius;\n\n"
        "    static int probe(Main m) {\n        return m.<|>;\n    }\n}\n")}, "radius"),
    "typescript": Snippet("main.ts", {"main.ts": (
        "class Circle {\n  radius = 1;\n}\nconst c = new Circle();\nconsole.log(c.<|>);\n"),
        "tsconfig.json": '{"compilerOptions": {"strict": true, "noEmit": true}}\n'}, "radius"),
    "javascript": Snippet("main.js", {"main.js": (
        "class Circle {\n  constructor() { this.radius = 1; }\n}\nconst c = new Circle();\nconsole.log(c.<|>);\n")},
        "radius"),
    "go": Snippet("main.go", {"go.mod": "module example.com/doctor\n\ngo 1.19\n", "main.go": (
        "package main\n\ntype Circle struct {\n\tRadius float64\n}\n\n"
        "func main() {\n\tc := Circle{}\n\t_ = c.<|>\n}\n")}, "Radius"),
    "rust": Snippet("src/main.rs", {"src/main.rs": (
        "struct Circle {\n    radius: f64,\n}\n\nfn main() {\n    let c = Circle { radius: 1.0 };\n"
        "    let _r = c.<|>;\n}\n"), "rust-project.json": "@rust-project"}, "radius"),
}


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome for one language. ``ok`` means installed, started and answered."""

    language: str
    server: str
    installed: bool
    started: bool = False
    answered: bool = False
    start_s: float | None = None
    completion_ms: float | None = None
    detail: str = ""
    hint: str = ""

    @property
    def ok(self) -> bool:
        return self.installed and self.started and self.answered


def installed(spec: ServerSpec) -> str | None:
    """None if ``spec``'s server can be found, else why not."""
    try:
        resolve_command(spec)
    except MgdError as exc:
        return str(exc)
    module = spec.command[2] if len(spec.command) >= 3 and spec.command[1] == "-m" else None
    if module == "lsp_bridge.jdtls":
        from lsp_bridge import jdtls

        try:
            jdtls.find_jdtls_home()
            jdtls.find_java()
        except jdtls.LaunchError as exc:
            return str(exc)
    elif module == "lsp_bridge.rust_analyzer":
        from lsp_bridge import rust_analyzer

        if rust_analyzer.find_rust_analyzer() is None:
            return "rust-analyzer not found"
    return None


async def check_language(language: str, config: MgdConfig, timeout_s: float = 120.0,
                         server: str | None = None) -> Check:
    """Install/start/answer check of ``language``'s configured server (or of ``server``)."""
    spec = config.server(server) if server else config.server_for(language)
    snippet = SNIPPETS[language]
    missing = installed(spec)
    if missing is not None:
        return Check(language, spec.name, False, detail=missing, hint=spec.install_hint)
    with tempfile.TemporaryDirectory(prefix="mgd-doctor-") as tmp:
        root = Path(tmp)
        for rel, text in snippet.files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(_rust_project() if text == "@rust-project" else text, encoding="utf-8")
        main = root / snippet.main
        text = main.read_text(encoding="utf-8")
        offset = text.index("<|>")
        text = text.replace("<|>", "")
        main.write_text(text, encoding="utf-8")
        started = time.perf_counter()
        try:
            client = await LspServer.start(spec, root)
        except LspError as exc:
            return Check(language, spec.name, True, detail=str(exc).splitlines()[0], hint=spec.install_hint)
        start_s = time.perf_counter() - started
        try:
            result = await client.complete(main, text, offset, timeout=timeout_s)
        except LspError as exc:
            return Check(language, spec.name, True, True, start_s=start_s, detail=f"completion failed: {exc}")
        finally:
            await client.shutdown()
    answered = snippet.expect in result.names
    detail = "" if answered else f"expected {snippet.expect!r}, got {sorted(result.names)[:8]}"
    return Check(language, spec.name, True, True, answered, start_s, result.elapsed_ms, detail)


def run_checks(targets: list[tuple[str, str | None]], config: MgdConfig, timeout_s: float = 120.0,
               on_check: Callable[[Check], None] | None = None) -> list[Check]:
    """Check each (language, server or None for the configured one), one after another
    (servers compete for CPU otherwise); ``on_check`` sees each result as it comes."""

    async def run() -> list[Check]:
        out = []
        for language, server in targets:
            out.append(await check_language(language, config, timeout_s, server))
            if on_check is not None:
                on_check(out[-1])
        return out

    return asyncio.run(run())
