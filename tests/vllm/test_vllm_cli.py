"""``mgd generate --engine vllm``: the cases-JSONL contract (same result format as hf).

The engine object is the session's offline generator (one vLLM per test session);
the CLI wiring is checked on the parser.
"""

from __future__ import annotations

import json
import re

import pytest

from mgd.engines.cases import iter_cases
from mgd.engines.generate import GenerateOptions

pytestmark = pytest.mark.e2e


def test_cli_accepts_engine_vllm() -> None:
    from mgd.cli.main import build_parser

    args = build_parser().parse_args(["generate", "--engine", "vllm", "--cases", "c.jsonl", "--out", "o.jsonl"])
    assert args.engine == "vllm"
    assert build_parser().parse_args(["generate", "--cases", "c.jsonl"]).engine == "hf"


def test_cases_contract(tmp_path, vllm_generator, demo_project) -> None:
    text = (demo_project / "report.py").read_text()
    at = text.index("total += c.") + len("total += c.")
    cases = [
        {"id": "circle", "workspace": str(demo_project), "file": "report.py", "prefix_end": at, "suffix_start": at},
        {"id": "bad", "workspace": str(demo_project), "file": "report.py", "prefix_end": 5},
        {"id": "missing", "workspace": str(demo_project), "file": "nope.py", "prefix_end": 0, "suffix_start": 0},
    ]
    src = tmp_path / "cases.jsonl"
    src.write_text("".join(json.dumps(c) + "\n" for c in cases))
    results = vllm_generator.run_cases(iter_cases(src), GenerateOptions(max_new_tokens=6, stop=("\n",)))
    rows = [json.loads(json.dumps(r.to_json())) for r in results]
    assert [r["id"] for r in rows] == ["circle", "bad", "missing"]
    good = rows[0]
    assert set(good) == {"id", "completion", "tokens", "elapsed_s", "stats"}
    name = re.match(r"\w*", good["completion"]).group()  # the member the completion starts with
    assert any(m.startswith(name) for m in {"area", "radius", "circumference", "scaled"}), name  # may be cut
    assert good["stats"]["triggers"] >= 1 and good["stats"]["constrained_steps"] >= 1  # more dots may follow
    assert "missing" in rows[1]["error"] and "nope.py" in rows[2]["error"]
