"""Expected types (Python) on a small annotated module: the dereference monitor alone vs with
expected types, on jedi-language-server (the default) and pyright.

    .venv/bin/python examples/expected_types_python.py [MODEL]

Each prompt ends at a member access whose type the text states: a return annotation
(`-> int`), an annotated assignment (`n: list[str] = b.`), a call argument whose parameter
is annotated (`shelf_mark(b.title, b.`: `width: int`), and a site where no member fits but
one reaches the type through a further access (`-> list[str]` on a `Shelf`: `first()` is a
`Book`, whose `tags` is a `list[str]`; ``type_reach``). The member types come from
``completionItem/resolve``: pyright types every member, jedi only annotated ones, so the
same prompt may get a preference on one server and none on the other.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from lsp_bridge.servers import PRESETS
from mgd.engines.generate import GenerateOptions, HFGenerator, Prompt
from mgd.session import SessionConfig

ROOT = Path(__file__).resolve().parent / "python_types"
LIB = (ROOT / "library.py").read_text(encoding="utf-8")
PROMPTS = {
    "return int": "def show(b: Book) -> int:\n    return b.",
    "annotated": "def show(b: Book):\n    n: list[str] = b.",
    "argument": "def show(b: Book):\n    return shelf_mark(b.title, b.",
    "reach": "def names(s: Shelf) -> list[str]:\n    return s.",
}


def main() -> None:
    default = Path(__file__).resolve().parents[2] / "shared" / "models" / "tinycode-27m"
    model = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MGD_MODEL", str(default))
    for server in ("jedi", "pyright"):
        with HFGenerator(model, config=SessionConfig(server=PRESETS[server])) as gen:
            for monitors in (["dereference"], ["expected_types"]):
                prompts = [Prompt(n, ROOT, ROOT / "show.py", LIB + "\n\n" + text, "\n", {"monitors": monitors})
                           for n, text in PROMPTS.items()]
                results = gen.generate(prompts, GenerateOptions(max_new_tokens=8, stop=("\n",), monitors=True))
                print(server, monitors[0])
                for p, r in zip(prompts, results, strict=True):
                    stats = {k: r.stats.get(k, 0) for k in ("preferred_steps", "type_arguments", "type_reach")}
                    print(f"  {p.id:<11} {p.prefix.splitlines()[-1].strip():<32} -> {r.completion!r:<24} {stats}")


if __name__ == "__main__":
    main()
