"""The per-language fixture projects and their dereference prompts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mgd.engines.generate import Prompt
from mgd.evaluation.casegen import dot_sites
from monitors.languages import language_for_path

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


@dataclass(frozen=True)
class Project:
    language: str
    server: str
    root: Path
    files: tuple[str, ...]


PROJECTS = {
    "java": Project("java", "jdtls", FIXTURES / "java_project",
                    ("src/com/example/shop/Invoice.java", "src/com/example/shop/Order.java",
                     "src/com/example/shop/LineItem.java")),
    "typescript": Project("typescript", "typescript", FIXTURES / "ts_project", ("src/fleet.ts",)),
    "go": Project("go", "gopls", FIXTURES / "go_project", ("inventory/warehouse.go",)),
    "rust": Project("rust", "rust-analyzer", FIXTURES / "rust_project", ("src/library.rs",)),
}


def prompts(project: Project, limit: int = 10) -> list[Prompt]:
    """Prompts ending right after every member-access dot (skipping ``this.``/``self.``)."""
    out: list[Prompt] = []
    for rel in project.files:
        path = project.root / rel
        text = path.read_text(encoding="utf-8")
        for site in dot_sites(language_for_path(path), text):
            if text[: site.prefix_end].endswith(("this.", "self.")):
                continue
            out.append(Prompt(f"{rel}:{site.prefix_end}", project.root, path,
                              text[: site.prefix_end], text[site.suffix_start :]))
    return out[:limit]
