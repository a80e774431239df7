"""Speculative decoding with draft trees whose every node the monitors check."""

from mgd.engines.speculative.drafts import DRAFT_SOURCES, MonitorDraft, NgramDraft, TokenRecycler, parse_sources
from mgd.engines.speculative.tree import DraftTree

__all__ = [
    "DRAFT_SOURCES",
    "DraftTree",
    "MonitorDraft",
    "NgramDraft",
    "TokenRecycler",
    "parse_sources",
]
