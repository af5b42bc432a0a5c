"""Hotlist entries, the in-memory index, and matching of reads against it. No I/O."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

PLATE_PATTERN = re.compile(r"^[A-Z0-9]{2,12}$")


def normalise_plate(raw: str) -> str:
    return "".join(ch for ch in raw.upper() if ch.isascii() and ch.isalnum())


class Category(StrEnum):
    STOLEN_VEHICLE = "stolen_vehicle"
    WANTED_PERSON = "wanted_person"
    NO_INSURANCE = "no_insurance"
    NO_MOT = "no_mot"
    SEIZED = "seized"
    NEIGHBOUR_SIGNAL = "neighbour_signal"
    LOCAL_WATCH = "local_watch"


class MatchKind(StrEnum):
    EXACT = "exact"
    CONFUSABLE = "confusable"
    EDIT = "edit"


@dataclass(frozen=True)
class HotlistEntry:
    entry_id: str
    plate: str
    list_name: str
    category: Category
    priority: int
    action: str
    valid_from: datetime
    valid_until: datetime | None
    source_zone: str
    reason: str
    case_reference: str
    entered_by: str

    def in_force(self, moment: datetime) -> bool:
        return self.valid_from <= moment and (self.valid_until is None or moment < self.valid_until)


@dataclass(frozen=True)
class Match:
    entry: HotlistEntry
    plate_read: str
    kind: MatchKind
    differing_positions: tuple[int, ...]
    score: float


class HotlistIndex:
    """Entries by normalised plate. Every replica holds the whole list, rebuilt from the hotlist topic."""

    def __init__(self) -> None:
        self._by_plate: dict[str, dict[str, HotlistEntry]] = {}
        self._plate_of: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._plate_of)

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._plate_of

    def put(self, entry: HotlistEntry) -> None:
        self.remove(entry.entry_id)
        self._by_plate.setdefault(entry.plate, {})[entry.entry_id] = entry
        self._plate_of[entry.entry_id] = entry.plate

    def remove(self, entry_id: str) -> None:
        plate = self._plate_of.pop(entry_id, None)
        if plate is not None:
            entries = self._by_plate[plate]
            entries.pop(entry_id, None)
            if not entries:
                del self._by_plate[plate]

    def match(self, readings: Iterable[tuple[str, float]], moment: datetime) -> list[Match]:
        """Exact matches of any candidate reading (best first), for entries in force at `moment`.

        One match per entry: the best-ranked reading that finds it.
        """
        found: dict[str, Match] = {}
        for text, confidence in readings:
            for entry in self._by_plate.get(normalise_plate(text), {}).values():
                if entry.entry_id not in found and entry.in_force(moment):
                    found[entry.entry_id] = Match(entry, text, MatchKind.EXACT, (), float(confidence))
        return sorted(found.values(), key=lambda m: (-m.entry.priority, -m.score))


def hit_event_id(read_event_id: str, entry_id: str) -> str:
    """The hit of one read on one entry always has the same id, so redelivery never makes a second hit."""
    digest = int.from_bytes(hashlib.sha256(f"{read_event_id}/{entry_id}".encode()).digest()[:16], "big")
    # RFC 9562 version 8 (custom) with the RFC variant; Python 3.11's UUID() cannot set version 8.
    digest = (digest & ~(0xF << 76)) | (0x8 << 76)
    digest = (digest & ~(0b11 << 62)) | (0b10 << 62)
    return str(uuid.UUID(int=digest))
