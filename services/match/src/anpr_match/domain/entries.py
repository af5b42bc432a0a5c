"""Hotlists, their rules and entries, and what matching sees of a read. No I/O.

When: a read can hit an entry captured from the entry's `wanted_from` (its start, or, for an entry
entered already in force, the look-back before it was entered) until its end. One rule, whichever
comes first, the read or the entry: the index applies it to reads that arrive after the entry,
the look-back applies it, with the same code, to the reads consumed before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

PLATE_PATTERN = re.compile(r"^[A-Z0-9]{2,12}$")
LIST_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MAX_PLATE_LENGTH = 12
DEFAULT_TIMEZONE = "Europe/Brussels"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


class Direction(StrEnum):
    """Direction of travel relative to the zone, as the camera is registered."""

    IN = "in"
    OUT = "out"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ListRules:
    """One hotlist and the rules its entries match by."""

    name: str
    category: Category
    max_substitutions: int = 1
    allow_edit: bool = False
    directions: frozenset[Direction] = frozenset()
    active_from: time | None = None
    active_until: time | None = None
    timezone: str = DEFAULT_TIMEZONE
    camera_ids: frozenset[str] = frozenset()
    description: str = ""
    # A neighbour zone's list, shared under an agreement (anpr_share): it changes only when that
    # zone changes it, and ends with the agreement. "": this zone's own.
    owner_zone: str = ""

    def __post_init__(self) -> None:
        if not LIST_NAME_PATTERN.match(self.name):
            raise ValueError("a list name has 1 to 64 lower-case letters, digits, '_', '.' or '-'")
        if not 0 <= self.max_substitutions <= 3:
            raise ValueError("max_substitutions must be between 0 and 3")
        if (self.active_from is None) != (self.active_until is None):
            raise ValueError("give both active_from and active_until, or neither")
        if self.active_from is not None and self.active_from == self.active_until:
            raise ValueError("active_from and active_until must differ (leave both out for all day)")
        ZoneInfo(self.timezone)  # raises for an unknown zone

    def applies(self, camera_id: str, direction: Direction, moment: datetime) -> bool:
        """Whether a read from this camera, in this direction, at this moment, may hit the list.

        A read of unknown direction passes a direction rule: a missed hit costs more than a false one.
        """
        if self.camera_ids and camera_id not in self.camera_ids:
            return False
        if self.directions and direction is not Direction.UNKNOWN and direction not in self.directions:
            return False
        if self.active_from is not None and self.active_until is not None:
            local = moment.astimezone(ZoneInfo(self.timezone)).time().replace(tzinfo=None)
            if self.active_from < self.active_until:
                return self.active_from <= local < self.active_until
            return local >= self.active_from or local < self.active_until  # wraps past midnight
        return True


def rules_fields(rules: ListRules) -> dict[str, Any]:
    """A list's rules as flat text fields: how they are stored, and audited with each change."""
    return {
        "name": rules.name,
        "category": rules.category.value,
        "max_substitutions": rules.max_substitutions,
        "allow_edit": rules.allow_edit,
        "directions": ",".join(sorted(d.value for d in rules.directions)),
        "active_from": rules.active_from.strftime("%H:%M") if rules.active_from else None,
        "active_until": rules.active_until.strftime("%H:%M") if rules.active_until else None,
        "timezone": rules.timezone,
        "camera_ids": ",".join(sorted(rules.camera_ids)),
        "description": rules.description,
        "owner_zone": rules.owner_zone,
    }


# A neighbour's lists are named after it, apart from this zone's, whose names may not start so.
PARTNER_LIST_PREFIX = "zone-"


def partner_list_name(zone_id: str, name: str) -> str:
    """The name here of a list a neighbour zone shares: zone-<zone>.<its name>. ValueError when that
    is longer than a list name may be."""
    named = f"{PARTNER_LIST_PREFIX}{zone_id}.{name}"
    if not LIST_NAME_PATTERN.match(named):
        raise ValueError(f"zone {zone_id}'s list {name!r} cannot be named here ({named!r} is no list name)")
    return named


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
    country: str = ""

    def in_force(self, moment: datetime) -> bool:
        return self.valid_from <= moment and (self.valid_until is None or moment < self.valid_until)

    @property
    def entered_at(self) -> datetime:
        """When the entry was entered: its id's time (see `entered_at`), else its start."""
        return entered_at(self.entry_id) or self.valid_from


def uuid7_ms(entry_id: str) -> int | None:
    if len(entry_id) != 36 or entry_id[14] != "7" or entry_id[19] not in "89abAB" or entry_id[8] != "-":
        return None
    try:
        return int(entry_id[:8] + entry_id[9:13], 16)
    except ValueError:
        return None


def entered_at(entry_id: str) -> datetime | None:
    """The time in an entry's id, where the id is a UUIDv7; None for any other id.

    Match gives every entry it enters (REST or CSV) a UUIDv7 made at that moment, so this is the
    entry time: the same on every replica, in the database, and after every later change, which
    the record on the topic (that of the last change) could not give.
    """
    milliseconds = uuid7_ms(entry_id)
    return None if milliseconds is None else _EPOCH + timedelta(milliseconds=milliseconds)


def wanted_from_s(valid_from_s: float, entered_s: float, lookback_s: float) -> float:
    if valid_from_s > entered_s:
        return valid_from_s  # entered for a later start: wanted from that start only
    return min(valid_from_s, entered_s - lookback_s)


def wanted_from(entry: HotlistEntry, lookback: timedelta) -> datetime:
    """The earliest capture time a read can hit `entry` at.

    Its start; but an entry entered in force (or with a start in the past) is also wanted for the
    `lookback` before it was entered: the car that passed just before it was made is found.
    """
    entered = entry.entered_at
    if entry.valid_from > entered:
        return entry.valid_from
    return min(entry.valid_from, entered - lookback)


@dataclass(frozen=True, slots=True)
class Withdrawal:
    """An entry taken off its list: no read matches it any more."""

    entry_id: str


@dataclass(frozen=True, slots=True)
class SharingEnded:
    """A neighbour zone's shared lists end at `ended_at` (its agreement revoked, ended or narrowed)."""

    zone_id: str
    ended_at: datetime


@dataclass(frozen=True, slots=True)
class ListedEntry:
    """What a hit needs of an entry; built only for matches, the index keeps entries packed."""

    entry_id: str
    plate: str
    list_name: str
    category: Category
    priority: int
    action: str
    country: str


@dataclass(frozen=True, slots=True)
class SeenRead:
    """A read as matching needs it: who saw what, where, when, and every candidate reading."""

    event_id: str
    camera_id: str
    captured_at: datetime
    direction: Direction
    readings: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class Match:
    entry: ListedEntry
    plate_read: str
    kind: MatchKind
    # 0-based positions in the listed plate where the read differed (for an inserted character:
    # the listed position it was read before).
    differing_positions: tuple[int, ...]
    score: float


def packed_id(entry_id: str) -> bytes | str:
    """An id as kept in memory: a lower-case UUID as 16 bytes rather than a 36-character string
    (half the memory), any other id as it is."""
    if len(entry_id) == 36 and entry_id[8] == entry_id[13] == entry_id[18] == entry_id[23] == "-":
        compact = entry_id.replace("-", "")
        if compact.islower() or compact.isdigit():
            try:
                return bytes.fromhex(compact)
            except ValueError:
                return entry_id
    return entry_id


def unpacked_id(key: bytes | str) -> str:
    """The id `packed_id` kept."""
    if isinstance(key, str):
        return key
    digits = key.hex()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"
