"""What an investigator asks of a search, and the window it covers. No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from anpr_core.plates import Confusables


@dataclass(frozen=True)
class SearchRequest:
    """The criteria of one search, as asked (the plate as typed)."""

    plate: str | None = None
    fuzzy: bool = False
    camera_id: str | None = None
    direction: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    offset: int = 0
    limit: int = 50

    def window(self, now: datetime, first_tier: timedelta) -> tuple[datetime, datetime]:
        """The time window searched: by default the first tier, up to now."""
        end = self.until or now
        return self.since or (end - first_tier), end

    def audit_query(self, window_start: datetime, window_end: datetime) -> dict[str, Any]:
        return {
            "plate": self.plate,
            "fuzzy": self.fuzzy,
            "camera_id": self.camera_id,
            "direction": self.direction,
            "since": window_start,
            "until": window_end,
            "offset": self.offset,
            "limit": self.limit,
        }


@dataclass(frozen=True)
class ReadCriteria:
    """A search as the store runs it: normalised plate or its fuzzy key, the lawful window."""

    window_start: datetime
    window_end: datetime
    plate: str | None
    plate_key: str | None
    camera_id: str | None
    direction: str | None
    offset: int
    limit: int


def search_key(plate: str, confusables: Confusables) -> str:
    """The key a read is stored under and a fuzzy search looks up: the plate normalised, each
    character replaced by its confusable class's representative (the zone's classes)."""
    return confusables.key(plate)


def fuzzy_search_finds(asked: str, plate: str, confusables: Confusables) -> bool:
    """Whether a fuzzy search for `asked` finds a read of `plate`: every position holds characters
    of one class, none added or dropped (match's fuzzy matching with unlimited substitutions)."""
    return search_key(asked, confusables) == search_key(plate, confusables)
