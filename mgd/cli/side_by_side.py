"""``mgd demo``: the same model with and without monitors, side by side.

Completes the rest of the line after every member-access dot in
``examples/demo_project/report.py`` and asks the language server whether each
generated member exists.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mgd.config import SessionConfig
from mgd.engines.cases import CaseResult
from mgd.engines.generate import GenerateOptions, HFGenerator, Prompt
from mgd.evaluation.casegen import dot_sites
from mgd.evaluation.member_check import check_member_accesses
from monitors.errors import MgdError

__all__ = ["demo_project", "run_demo"]

def demo_project() -> Path:
    """The demo project: ``mgd/_demo_project`` in a wheel (setup.py puts it there),
    ``examples/demo_project`` in a source checkout or an editable install."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / "_demo_project", package.parent / "examples" / "demo_project"):
        if (candidate / "report.py").is_file():
            return candidate
    raise MgdError(f"the demo project is missing (looked in {package / '_demo_project'} and "
                   f"{package.parent / 'examples' / 'demo_project'}): reinstall mgd")


def _verdicts(gen: HFGenerator, prompt: Prompt, res: CaseResult) -> list[tuple[str, bool | None]]:
    language = gen.session.language_of(prompt.file, prompt.workspace)
    spec = gen.session.server_for(language, prompt.workspace)
    checks = gen.session.loop.run(
        check_member_accesses(
            gen.session.pool, spec, language, prompt.workspace, prompt.file,
            prompt.prefix, res.completion, prompt.suffix, open_end=True,
        ),
        timeout=60.0,
    )
    return [(c.name, c.legal) for c in checks]


def run_demo(model: str, *, server: str | None = None, max_new_tokens: int = 24,
             project: Path | None = None, file: str = "report.py", as_json: bool = False) -> int:
    """Print (or, ``as_json``, dump) each site's plain and mgd completions with the
    server's verdict on every member they name; returns the exit status (0)."""
    project = project or demo_project()
    path = project / file
    text = path.read_text(encoding="utf-8")
    stop = ("\n",)
    sites: list[dict[str, Any]] = []
    if not as_json:
        print(f"model: {model}\nproject: {project}  file: {file}  server: {server or 'default'}\n", flush=True)
    with HFGenerator(model, config=SessionConfig(server=server)) as gen:
        language = gen.session.language_of(path, project)
        prompts = [
            Prompt(f"{i}", project, path, text[: s.prefix_end], text[s.suffix_start :])
            for i, s in enumerate(dot_sites(language, text))
        ]
        runs = {
            name: gen.generate(prompts, GenerateOptions(max_new_tokens=max_new_tokens, stop=stop, monitors=mon))
            for name, mon in (("plain", False), ("mgd", True))
        }
        for i, p in enumerate(prompts):
            line_start = p.prefix.rfind("\n") + 1
            site: dict[str, Any] = {"line": p.prefix.count("\n") + 1, "prompt": p.prefix[line_start:].strip()}
            for name in ("plain", "mgd"):
                res = runs[name][i]
                checked = [(ident, ok) for ident, ok in _verdicts(gen, p, res) if ok is not None]
                site[name] = {"completion": res.completion, "members": [{"name": n, "exists": ok} for n, ok in checked]}
            sites.append(site)
            if not as_json:
                _print_site(site)
    totals = {name: {"exist": sum(m["exists"] for s in sites for m in s[name]["members"]),
                     "checked": sum(len(s[name]["members"]) for s in sites)} for name in ("plain", "mgd")}
    if as_json:
        print(json.dumps({"model": model, "project": str(project), "file": file, "server": server,
                          "sites": sites, "totals": totals}, ensure_ascii=False))
        return 0
    print()
    for name, t in totals.items():
        print(f"{name:5}: {t['exist']}/{t['checked']} identifiers after a dot exist (checked with the language server)")
    sys.stdout.flush()
    return 0


def _print_site(site: dict[str, Any]) -> None:
    print(f"  {site['prompt']}")
    for name in ("plain", "mgd"):
        marks = " ".join(f"{m['name']}:{'ok' if m['exists'] else 'NOT A MEMBER'}" for m in site[name]["members"])
        print(f"    {name:5} -> {site[name]['completion']!r:40}  {marks}", flush=True)
