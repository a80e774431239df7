"""The monitor suite on the demo project: plain vs all monitors, side by side.

    .venv/bin/python examples/monitor_suite.py [MODEL]

MODEL defaults to $MGD_MODEL or ../shared/models/tinycode-27m. Each prompt ends
where a monitor fires: a constructor call (argument count, keyword arguments),
an import (imports) and a member access (dereference). jedi-language-server
answers; the stats show which monitors fired. The stop text is a newline: with the
syntax guard (in "all") it cannot fire while the call is open (``stop_guarded``), so a
guided completion of ``Rectangle(`` closes the call on its line.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mgd.engines.generate import GenerateOptions, HFGenerator, Prompt

ROOT = Path(__file__).resolve().parent / "demo_project"
HEADER = "from geometry.shapes import Circle, Rectangle\n\n\n"
PROMPTS = {
    "arguments": HEADER + "def unit_box():\n    return Rectangle(",
    "keyword_arguments": HEADER + "def unit_box():\n    return Rectangle(length=1.0, ",
    "imports": "from geometry.",
    "dereference": HEADER + "def rim(c: Circle) -> float:\n    return c.",
}


def main() -> None:
    default = Path(__file__).resolve().parents[2] / "shared" / "models" / "tinycode-27m"
    model = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MGD_MODEL", str(default))
    prompts = [Prompt(name, ROOT, ROOT / "suite_example.py", text, "\n", {"monitors": ["all"]})
               for name, text in PROMPTS.items()]
    with HFGenerator(model) as gen:
        for guided in (False, True):
            results = gen.generate(prompts, GenerateOptions(max_new_tokens=16, stop=("\n",), monitors=guided))
            print("all monitors" if guided else "plain")
            for p, r in zip(prompts, results, strict=True):
                stats = {k: r.stats.get(k, 0) for k in ("triggers", "constrained_steps", "lsp_shared", "stop_guarded")}
                print(f"  {p.id:<18} {p.prefix.splitlines()[-1]!s:<32} -> {r.completion!r:<28} {stats if guided else ''}")


if __name__ == "__main__":
    main()
