"""The token budget of a run, chosen from data: the fewest tokens within which a given
share (95%) of plain completions finish their method.

A completion is the rest of the method; generation stops at the method's end or at the
budget, and a completion that reaches the budget first fails CR. The budget is read off
a plain run made with a generous budget (``mgd bench run --configs plain
--max-new-tokens 512`` on a development split): per generation, the tokens it took to
end its method, or none when it never did (it reached that run's budget). The chosen
budget is the smallest ``B`` with ``finished within B >= share x all``; when more than
``1 - share`` of the generous run never finished, there is no such ``B`` and the run
must be repeated with a larger budget. ``mgd bench budget`` writes the choice as JSON,
and ``mgd bench run --budget FILE`` uses it and records it in the run's settings.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mgd.engines.cases import Case
from mgd.evaluation.methods import method_end
from mgd.evaluation.runner import read_generations
from monitors.errors import ConfigError

__all__ = ["BudgetChoice", "choose_budget", "finish_tokens", "read_budget", "write_budget"]


@dataclass(frozen=True, slots=True)
class BudgetChoice:
    """``tokens``: the budget; ``share``: what had to finish within it; ``finished``: how
    many of ``completions`` did; ``source``: the run it was read from."""

    tokens: int
    share: float
    completions: int
    finished: int
    source: str

    def describe(self) -> str:
        return (f"{self.tokens} tokens: {self.finished} of {self.completions} plain completions "
                f"({100 * self.finished / max(1, self.completions):.1f}%, needed {100 * self.share:.0f}%) end "
                f"their method within it ({self.source})")


def choose_budget(needed: Sequence[int | None], share: float = 0.95, source: str = "") -> BudgetChoice:
    """The smallest budget within which ``share`` of the completions finish; ``needed``:
    per completion the tokens it took to finish, None if it never did."""
    if not 0 < share <= 1:
        raise ConfigError("share must be in (0, 1]")
    if not needed:
        raise ConfigError("no completions to choose a budget from")
    want = math.ceil(share * len(needed) - 1e-9)
    done = sorted(n for n in needed if n is not None)
    if len(done) < want:
        raise ConfigError(f"only {len(done)} of {len(needed)} completions finished their method "
                          f"({100 * share:.0f}% needed): run plain again with a larger --max-new-tokens")
    tokens = max(1, done[want - 1]) if want else 1
    return BudgetChoice(tokens, share, len(needed), sum(1 for n in done if n <= tokens), source)


def finish_tokens(cases: Sequence[Case], gen_path: Path, max_new_tokens: int) -> list[int | None]:
    """Per case (first sample) of a run: the tokens its completion took to finish its method
    (the engine stops at the method end, so that is the generation's token count), or None
    when it reached ``max_new_tokens`` first (an EOS before the budget counts as finished)."""
    gens = read_generations(gen_path)
    out: list[int | None] = []
    for c in cases:
        g = gens.get((c.id, 0))
        if g is None or g.get("error"):
            raise ConfigError(f"{gen_path}: no generation for case {c.id}")
        tokens = int(g.get("tokens", 0))
        ended = method_end(str(g.get("completion", "")), c.extra["stop"]) is not None
        out.append(tokens if ended or tokens < max_new_tokens else None)
    return out


def write_budget(choice: BudgetChoice, path: Path) -> None:
    path.write_text(json.dumps(asdict(choice), indent=2) + "\n")


def read_budget(path: Path) -> BudgetChoice:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return BudgetChoice(int(data["tokens"]), float(data["share"]), int(data["completions"]),
                            int(data["finished"]), str(data["source"]))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"--budget {path}: not a budget file from `mgd bench budget` ({exc})") from exc
