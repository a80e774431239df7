"""Speculative decoding with draft trees whose every node the monitors check."""

from mgd.engines.speculative.drafts import (
    DRAFT_SOURCES,
    ContextDraft,
    MonitorDraft,
    SuffixDraft,
    TokenRecycler,
    parse_sources,
)
from mgd.engines.speculative.shape import Acceptance, CostCurve, best_size
from mgd.engines.speculative.suffix import SuffixIndex
from mgd.engines.speculative.tree import DraftTree

__all__ = [
    "DRAFT_SOURCES",
    "Acceptance",
    "ContextDraft",
    "CostCurve",
    "DraftTree",
    "MonitorDraft",
    "SuffixDraft",
    "SuffixIndex",
    "TokenRecycler",
    "best_size",
    "parse_sources",
]
