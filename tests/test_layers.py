"""The layers hold: ``monitors`` <- ``lsp_bridge`` <- ``mgd``, one direction, no private names across,
no import circles, and ``monitors`` pure (no threads, clocks, futures, randomness, I/O).

Read from the source (every import statement: module level, inside functions and
under ``if TYPE_CHECKING:`` alike), so an upward import or a circle fails CI
instead of a review.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("monitors", "lsp_bridge", "mgd")

#: What monitors may not import to stay pure: no threads, clocks, futures, randomness or I/O.
IMPURE = {"threading", "asyncio", "concurrent", "time", "subprocess", "socket", "random", "multiprocessing",
          "selectors", "signal", "os", "io", "shutil", "tempfile", "urllib", "http"}
#: What each package may not import (its own layer above, and heavy/I-O libraries for monitors).
FORBIDDEN = {
    "monitors": {"lsp_bridge", "mgd", "pygls", "lsprotocol", "torch", "transformers", "vllm"} | IMPURE,
    "lsp_bridge": {"mgd", "torch", "transformers", "vllm"},
}
#: Inside mgd, lower parts may not import higher ones
#: (concurrency, config < session < engines < editor/vllm/evaluation < cli).
MGD_LOWER = {
    "mgd.concurrency": {"mgd.config", "mgd.session", "mgd.engines", "mgd.editor", "mgd.vllm", "mgd.evaluation",
                        "mgd.cli"},
    "mgd.config": {"mgd.session", "mgd.engines", "mgd.editor", "mgd.vllm", "mgd.evaluation", "mgd.cli"},
    "mgd.session": {"mgd.engines", "mgd.editor", "mgd.vllm", "mgd.evaluation", "mgd.cli"},
    "mgd.engines": {"mgd.editor", "mgd.vllm", "mgd.evaluation", "mgd.cli"},
    "mgd.editor": {"mgd.vllm", "mgd.evaluation", "mgd.cli"},
    "mgd.vllm": {"mgd.editor", "mgd.evaluation", "mgd.cli"},
    "mgd.evaluation": {"mgd.editor", "mgd.cli"},
}


def _modules() -> list[tuple[str, Path]]:
    out = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            out.append((".".join(parts), path))
    return out


def _imports(module: str, path: Path) -> list[tuple[str, list[str]]]:
    """``(imported module, names imported from it)`` for every import in the file
    (module level, inside functions, under ``if TYPE_CHECKING:``: all of them)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((a.name, []) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")
                up = up[: len(up) - (node.level - 1)]
                base = ".".join([*up, base] if base else up)
            found.append((base, [a.name for a in node.names]))
    return found


def test_no_import_against_the_layers() -> None:
    problems = []
    for module, path in _modules():
        top = module.split(".")[0]
        banned = FORBIDDEN.get(top, set())
        lower = next((v for k, v in MGD_LOWER.items() if module == k or module.startswith(k + ".")), set())
        for imported, _names in _imports(module, path):
            if imported.split(".")[0] in banned:
                problems.append(f"{module} imports {imported}")
            if any(imported == h or imported.startswith(h + ".") for h in lower):
                problems.append(f"{module} imports {imported} (a higher part of mgd)")
    assert not problems, "\n".join(problems)


def test_no_private_names_across_packages() -> None:
    problems = []
    for module, path in _modules():
        top = module.split(".")[0]
        for imported, names in _imports(module, path):
            if imported.split(".")[0] in PACKAGES and imported.split(".")[0] != top:
                private = [n for n in names if n.startswith("_") and n != "__version__"]
                private += [p for p in imported.split(".") if p.startswith("_")]
                if private:
                    problems.append(f"{module} imports private {private} from {imported}")
    assert not problems, "\n".join(problems)


def _import_graph() -> dict[str, set[str]]:
    """Module -> the modules of the three packages it imports (``from pkg import sub``
    counts as importing ``pkg.sub`` when that is a module)."""
    modules = dict(_modules())
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        edges: set[str] = set()
        for imported, names in _imports(module, path):
            for target in [f"{imported}.{n}" for n in names if f"{imported}.{n}" in modules] or [imported]:
                if target in modules and target != module:
                    edges.add(target)
        graph[module] = edges
    return graph


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected parts with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                part = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    part.append(top)
                    if top == node:
                        break
                if len(part) > 1:
                    found.append(sorted(part))
    return found


def test_no_import_circles() -> None:
    """No module of monitors/, lsp_bridge/, mgd/ reaches itself through imports (every
    import counts, lazy and type-only ones too: a circle hidden in a function is still one)."""
    circles = _circles(_import_graph())
    assert not circles, "\n".join(" <-> ".join(c) for c in circles)


def test_the_circle_check_sees_a_circle() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


def test_monitors_is_pure() -> None:
    """monitors imports no threads, clocks, futures, randomness, I/O, engines or upper layers."""
    problems = [f"{module} imports {imported}"
                for module, path in _modules() if module.split(".")[0] == "monitors"
                for imported, _names in _imports(module, path)
                if imported.split(".")[0] in FORBIDDEN["monitors"]]
    assert not problems, "\n".join(problems)


def test_errors_are_neutral() -> None:
    """monitors.errors, the one error hierarchy every layer raises, imports nothing of the project."""
    found = [imported for imported, _names in _imports("monitors.errors", ROOT / "monitors" / "errors.py")
             if imported.split(".")[0] in PACKAGES]
    assert not found, found


@pytest.mark.parametrize("modules", [
    "monitors, monitors.registry, monitors.vocab, monitors.guide, monitors.healing",
    "lsp_bridge, lsp_bridge.lookup",
])
def test_pure_layers_load_nothing_heavy(modules: str) -> None:
    heavy = ["torch", "transformers", "vllm", "mgd"] + (["pygls", "lsprotocol", "lsp_bridge"]
                                                         if modules.startswith("monitors") else [])
    code = f"import sys; import {modules}; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


def test_the_layer_check_sees_a_violation(tmp_path: Path) -> None:
    """The import reader finds plain, relative and lazy imports (the test above cannot pass vacuously)."""
    f = tmp_path / "probe.py"
    f.write_text("import os\nfrom .sibling import x\n\ndef g():\n    from lsp_bridge._private import y\n"
                 "if TYPE_CHECKING:\n    from monitors.vocab.index import VocabIndex\n")
    found = _imports("monitors.probe", f)
    assert ("monitors.vocab.index", ["VocabIndex"]) in found
    assert ("os", []) in found
    assert ("monitors.sibling", ["x"]) in found
    assert ("lsp_bridge._private", ["y"]) in found
