"""What each group of handlers is given: one frozen dataclass of its ports, built by bootstrap."""

from __future__ import annotations

from dataclasses import dataclass

from anpr_core.auditing import AuditTrail
from anpr_match.handlers.matching import MatchPipeline
from anpr_match.handlers.ports import Hits, Hotlists


@dataclass(frozen=True)
class HotlistPorts:
    """The hotlist's handlers: its store, this replica's matching (index and look-back), the audit."""

    hotlists: Hotlists
    pipeline: MatchPipeline
    audit: AuditTrail
    zone_id: str

    def indexed(self, entry_id: str) -> bool:
        """Whether this replica's matching index holds the entry yet."""
        return entry_id in self.pipeline.index


@dataclass(frozen=True)
class HitPorts:
    """The hits' handlers: their store and the audit."""

    hits: Hits
    audit: AuditTrail
