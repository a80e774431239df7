"""The DotPrompts CSV loader on a hand-made dataset and repository."""

from __future__ import annotations

from pathlib import Path

import pytest

from mgd.evaluation.dotprompts import load_dotprompts
from monitors.errors import ConfigError

JAVA = "class A {\n    int f(String s) {\n        return s.length();\n    }\n}\n"


def test_rows_become_cases(tmp_path: Path) -> None:
    (tmp_path / "repos" / "r1").mkdir(parents=True)
    (tmp_path / "repos" / "r1" / "A.java").write_text(JAVA)
    dot = JAVA.index("s.length") + 1
    start = JAVA.index("int f")
    end = JAVA.index("    }\n}") + 5
    csv = tmp_path / "dataset.csv"
    csv.write_text(
        "repo,classFileName,dot_idx,methodStartIdx,methodStopIdx\n"
        f"r1,A.java,{dot},{start},{end}\n"
        f"r2,B.java,1,0,2\n"
    )
    cases, skipped = load_dotprompts(csv, tmp_path / "repos")
    assert len(cases) == 1 and len(skipped) == 1 and "r2" in skipped[0]
    c = cases[0]
    assert c.target == "length();\n    }" and c.stop == {"kind": "braces", "depth": 1}


def test_missing_columns(tmp_path: Path) -> None:
    csv = tmp_path / "dataset.csv"
    csv.write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError):
        load_dotprompts(csv, tmp_path)
