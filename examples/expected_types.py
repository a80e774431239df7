"""Expected types (Java) on a small project: the dereference monitor alone vs with expected types.

    .venv/bin/python examples/expected_types.py [MODEL]

Needs JDT LS (`make setup`). Each prompt ends at a member access whose expected type the
text declares (`int n = book.`, `String s = book.`, `return book.` in a method returning
`Book`, `loans = book.` for an `int` field), or that JDT's ``signatureHelp`` reports for a
call argument (`tag(12, book.`: a ``String`` parameter, ``type_arguments``). With `expected_types`, `void` members (`lend`, `printLabel`, `Object.wait`, ...) are
never allowed there (``type_filtered``), and members whose reported type fits get a logit bonus
on the steps where the names diverge (``preferred_steps``; nothing else is forbidden). The
preference is soft: in ``return book.`` the tiny model still prefers ``getClass`` over
``edition`` (the only member of type ``Book``), which javac then rejects.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mgd.engines.generate import GenerateOptions, HFGenerator, Prompt

ROOT = Path(__file__).resolve().parent / "java_project"
FILE = ROOT / "src" / "demo" / "Shelf.java"
HEAD = "package demo;\n\npublic class Shelf {\n"
PROMPTS = {
    "int": HEAD + "    static int age(Book book, int now) {\n        int published = book.",
    "String": HEAD + "    static String label(Book book) {\n        String name = book.",
    "return Book": HEAD + "    static Book reprint(Book book) {\n        return book.",
    "field int": HEAD + "    static int loans;\n\n    static void count(Book book) {\n        loans = book.",
    "argument": HEAD + "    static String tag(int width, String name) {\n        return name;\n    }\n\n"
                "    static String card(Book book) {\n        return tag(12, book.",
}
TAIL = "\n    }\n}\n"


def main() -> None:
    default = Path(__file__).resolve().parents[2] / "shared" / "models" / "tinycode-27m"
    model = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MGD_MODEL", str(default))
    with HFGenerator(model) as gen:
        for monitors in (["dereference"], ["expected_types"]):
            prompts = [Prompt(n, ROOT, FILE, text, TAIL, {"monitors": monitors}) for n, text in PROMPTS.items()]
            results = gen.generate(prompts, GenerateOptions(max_new_tokens=10, stop=("\n",), monitors=True))
            print(monitors[0])
            for p, r in zip(prompts, results, strict=True):
                stats = {k: r.stats.get(k, 0) for k in ("triggers", "type_filtered", "type_arguments",
                                                         "preferred_steps")}
                print(f"  {p.id:<12} {p.prefix.splitlines()[-1].strip():<28} -> {r.completion!r:<30} {stats}")


if __name__ == "__main__":
    main()
