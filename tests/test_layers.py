"""The layers hold: ``monitors`` <- ``lsp_bridge`` <- ``mgd``, one direction, no private names across.

Read from the source (every import statement, lazy ones inside functions too),
so an upward import fails CI instead of a review.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("monitors", "lsp_bridge", "mgd")

#: What each package may not import (its own layer above, and heavy/I-O libraries for monitors).
FORBIDDEN = {
    "monitors": {"lsp_bridge", "mgd", "pygls", "lsprotocol", "torch", "transformers", "vllm"},
    "lsp_bridge": {"mgd", "torch", "transformers", "vllm"},
}
#: Inside mgd, lower parts may not import higher ones (config < session < engines < editor/vllm/evaluation < cli).
MGD_LOWER = {
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
    """``(imported module, names imported from it)`` for every import in the file."""
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


@pytest.mark.parametrize("modules", [
    "monitors, monitors.registry, monitors.vocab, monitors.guide, monitors.healing, monitors.casegen",
    "lsp_bridge, lsp_bridge.lookup, lsp_bridge.check",
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
    f.write_text("import os\nfrom .sibling import x\n\ndef g():\n    from lsp_bridge._private import y\n")
    found = _imports("monitors.probe", f)
    assert ("os", []) in found
    assert ("monitors.sibling", ["x"]) in found
    assert ("lsp_bridge._private", ["y"]) in found
