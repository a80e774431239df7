"""The token budget of a run, chosen from data: the fewest tokens within which a given
share (95%) of plain completions finish their method.

A completion is the rest of the method; generation stops at the method's end or at the
budget, and a completion that reaches the budget first fails CR. The budget is read off
a plain run made with a generous budget (``mgd bench run --configs plain
--max-new-tokens 512`` on a development split): per generation, the tokens it took to
end its method, or none when it never did (it reached that run's budget). The chosen
budget is the smallest ``B`` with ``finished within B >= share x all``.

When more than ``1 - share`` of the generous run never finished, no budget reaches the
share (a small model loops on some holes: the same line again and again, never leaving
the method, so a larger budget only spends more tokens on them). The choice then falls
back, and says so (``basis = "finishers"``), to the smallest ``B`` within which ``share``
of the completions that *do* finish within the generous run finish; the completions that
never did are counted (``never``) and stay failures under any budget. ``strict=True``
refuses instead (the run must then be repeated with a larger budget). ``mgd bench
budget`` writes the choice as JSON, and ``mgd bench run --budget FILE`` uses it and
records it in the run's settings.
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
    many of ``completions`` did; ``source``: the run it was read from; ``basis``: "all"
    (``share`` of all completions finish) or "finishers" (``share`` of those that finish
    within the generous run: ``never`` of them never did)."""

    tokens: int
    share: float
    completions: int
    finished: int
    source: str
    basis: str = "all"
    never: int = 0

    def describe(self) -> str:
        got = f"{self.finished} of {self.completions} plain completions ({100 * self.finished / max(1, self.completions):.1f}%)"
        if self.basis == "finishers":
            ended = self.completions - self.never
            return (f"{self.tokens} tokens: {got} end their method within it, {100 * self.finished / max(1, ended):.1f}% "
                    f"of the {ended} that end at all; {self.never} ({100 * self.never / max(1, self.completions):.1f}%) "
                    f"never ended within the generous run, so no budget lets {100 * self.share:.0f}% of all finish "
                    f"({self.source})")
        return f"{self.tokens} tokens: {got}, needed {100 * self.share:.0f}%, end their method within it ({self.source})"


def choose_budget(needed: Sequence[int | None], share: float = 0.95, source: str = "", *,
                  strict: bool = False) -> BudgetChoice:
    """The smallest budget within which ``share`` of the completions finish; ``needed``:
    per completion the tokens it took to finish, None if it never did. When no budget
    reaches ``share`` of all: ``share`` of those that finish (see the module docstring),
    or a :class:`ConfigError` with ``strict``."""
    if not 0 < share <= 1:
        raise ConfigError("share must be in (0, 1]")
    if not needed:
        raise ConfigError("no completions to choose a budget from")
    want = math.ceil(share * len(needed) - 1e-9)
    done = sorted(n for n in needed if n is not None)
    basis = "all"
    if len(done) < want:
        if strict or not done:
            raise ConfigError(f"only {len(done)} of {len(needed)} completions finished their method "
                              f"({100 * share:.0f}% needed): run plain again with a larger --max-new-tokens")
        basis, want = "finishers", math.ceil(share * len(done) - 1e-9)
    tokens = max(1, done[want - 1]) if want else 1
    return BudgetChoice(tokens, share, len(needed), sum(1 for n in done if n <= tokens), source, basis,
                        len(needed) - len(done))


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
                            int(data["finished"]), str(data["source"]), str(data.get("basis", "all")),
                            int(data.get("never", 0)))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"--budget {path}: not a budget file from `mgd bench budget` ({exc})") from exc
