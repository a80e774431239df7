"""Sampling rules shared by the engines that pick tokens themselves (tree decoder, editor).

:class:`Sampling` holds the settings (temperature 0: greedy); :meth:`Sampling.probs`
turns a (masked) logits row into probabilities the way Hugging Face's warpers do
(temperature, then top-p), :meth:`Sampling.pick` draws from them (or takes the
argmax), and :func:`sample_with_drafts` is the lossless multi-candidate rejection
the tree decoder uses for deterministic drafts. Hugging Face ``generate`` applies
the same temperature/top-p rules with its own warpers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from monitors.errors import ConfigError

__all__ = ["Sampling", "sample_with_drafts"]


@dataclass(frozen=True, slots=True)
class Sampling:
    """``temperature`` (0: greedy), ``top_p`` (1: off), ``seed`` (None: not seeded)."""

    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ConfigError("temperature must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ConfigError("top_p must be in (0, 1]")

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0

    def generator(self) -> torch.Generator | None:
        """A generator seeded with :attr:`seed` (None when unseeded)."""
        return None if self.seed is None else torch.Generator().manual_seed(self.seed)

    def probs(self, row: torch.Tensor) -> torch.Tensor:
        """Probabilities after temperature and top-p (as HF's warpers)."""
        logits = row.float() / max(self.temperature, 1e-6)
        if self.top_p < 1.0:
            sorted_logits, order = torch.sort(logits, descending=False)
            cum = sorted_logits.softmax(-1).cumsum(-1)
            remove = cum <= (1 - self.top_p)
            remove[-1] = False
            logits = logits.scatter(0, order, sorted_logits.masked_fill(remove, float("-inf")))
        return logits.softmax(-1)

    def pick(self, row: torch.Tensor, generator: torch.Generator | None = None) -> int:
        """The next token from a (masked) logits row: argmax when greedy, else a draw."""
        if self.greedy:
            return int(torch.argmax(row))
        return int(torch.multinomial(self.probs(row), 1, generator=generator))


def sample_with_drafts(
    probs: torch.Tensor, drafts: Sequence[int], generator: torch.Generator | None = None
) -> int:
    """One token distributed exactly as ``probs``, trying deterministic drafts first.

    Multi-candidate rejection (SpecInfer-style) for point-mass drafts: draft ``d``
    is accepted with probability ``p(d)``; on rejection ``p(d)`` is set to 0 and ``p``
    renormalised; when every draft is rejected the token is sampled from what is left.
    """
    p = probs.float().clone()
    for d in drafts:
        pd = float(p[d])
        if pd > 0 and float(torch.rand((), generator=generator)) < pd:
            return int(d)
        p[d] = 0.0
        total = float(p.sum())
        if total <= 0:
            return int(torch.multinomial(probs.float(), 1, generator=generator))
        p /= total
    return int(torch.multinomial(p, 1, generator=generator))
