"""What the bridge's handlers see of a record: the few fields their rules need, and the decoded
message, which only the codec (adapters/codecs.py) reads or writes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


@dataclass(frozen=True, slots=True)
class ReadView:
    event_id: str
    camera_id: str
    zone_id: str  # the zone whose camera read it ("" for none named: this zone's)
    message: Any


@dataclass(frozen=True, slots=True)
class HotlistView:
    """A record of this zone's hotlist topic: a list's rules, an entry, or an entry withdrawn."""

    record_id: str  # the entry's id, or list:<name>
    list_name: str
    category: str
    owner_zone: str  # the zone whose list it is ("" for none named: this zone's)
    message: Any
    is_rules: bool


class NeighbourKind(StrEnum):
    READ = "read"
    ENTRY = "entry"  # an entry, new, changed or withdrawn
    RULES = "rules"
    ENDED = "ended"  # the neighbour ends the sharing of its lists


@dataclass(frozen=True, slots=True)
class NeighbourRecord:
    kind: NeighbourKind
    # Every zone the record names as its own (its meta's, and the entry's source, the list's owner
    # or the ended sharing's zone): all must be the zone whose topic it came on.
    claims: frozenset[str]
    record_id: str
    message: Any


@dataclass(frozen=True, slots=True)
class CameraView:
    camera_id: str
    border: bool
    neighbour_zone: str
    retired: bool


@dataclass(frozen=True, slots=True)
class Encoded:
    """A record's value and headers, ready to publish."""

    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class SharingEnd:
    zone_id: str  # whose shared lists end
    ended_at: datetime
    reference: str
    reason: str
