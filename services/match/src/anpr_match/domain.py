"""Hotlists, their rules, the in-memory matching index, and how a read matches an entry. No I/O.

A read matches a listed plate when, character by character, it differs only by OCR-confusable
characters (0/O/D/Q, 1/I/L, 2/Z, 5/S, 8/B, 6/G by default), at most `max_substitutions` of them,
and, on lists that allow it, by one inserted or missing character. Arbitrary substitutions never
match: they are what turns a hotlist into a stream of false alarms.

When: a read can hit an entry captured from the entry's `wanted_from` (its start, or, for an entry
entered already in force, the look-back before it was entered) until its end. One rule, whichever
comes first, the read or the entry: the index applies it to reads that arrive after the entry,
the look-back applies it, with the same code, to the reads consumed before.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import re
import sys
import uuid
from array import array
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

PLATE_PATTERN = re.compile(r"^[A-Z0-9]{2,12}$")
LIST_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
MAX_PLATE_LENGTH = 12
DEFAULT_CONFUSABLE_CLASSES: tuple[str, ...] = ("0ODQ", "1IL", "2Z", "5S", "8B", "6G")
DEFAULT_TIMEZONE = "Europe/Brussels"
# Score of a match: the reading's confidence, lowered per confusable substitution and for an edit.
SUBSTITUTION_PENALTY = 0.1
EDIT_PENALTY = 0.2


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


class Direction(StrEnum):
    """Direction of travel relative to the zone, as the camera is registered."""

    IN = "in"
    OUT = "out"
    UNKNOWN = "unknown"


class Confusables:
    """Classes of characters an OCR confuses; each character maps to its class's first member."""

    def __init__(self, classes: Iterable[str] = DEFAULT_CONFUSABLE_CLASSES) -> None:
        table: dict[int, str] = {}
        self.classes: tuple[str, ...] = ()
        for raw in classes:
            group = normalise_plate(raw)
            if len(group) < 2:
                raise ValueError(f"a confusable class needs two or more letters or digits, got {raw!r}")
            for char in group:
                if ord(char) in table:
                    raise ValueError(f"character {char!r} is in more than one confusable class")
                table[ord(char)] = group[0]
            self.classes += (group,)
        self._table = table

    def canonical(self, plate: str) -> str:
        """The plate with every character replaced by its class representative."""
        return plate.translate(self._table)


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


def _uuid7_ms(entry_id: str) -> int | None:
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
    milliseconds = _uuid7_ms(entry_id)
    return None if milliseconds is None else _EPOCH + timedelta(milliseconds=milliseconds)


def _wanted_from_s(valid_from_s: float, entered_s: float, lookback_s: float) -> float:
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


def compare(
    read: str, listed: str, max_substitutions: int, allow_edit: bool, confusables: Confusables
) -> tuple[MatchKind, tuple[int, ...]] | None:
    """How `read` matches `listed` under the rules, or None. The reference the index must agree with."""
    if read == listed:
        return MatchKind.EXACT, ()
    canonical = confusables.canonical
    if len(read) == len(listed):
        if canonical(read) != canonical(listed):
            return None
        differing = tuple(i for i, (a, b) in enumerate(zip(read, listed, strict=True)) if a != b)
        return (MatchKind.CONFUSABLE, differing) if len(differing) <= max_substitutions else None
    if not allow_edit or abs(len(read) - len(listed)) != 1:
        return None
    read_is_longer = len(read) > len(listed)
    longer, shorter = (read, listed) if read_is_longer else (listed, read)
    shorter_key = canonical(shorter)
    best: tuple[int, ...] | None = None
    for removed in range(len(longer)):
        rest = longer[:removed] + longer[removed + 1 :]
        if canonical(rest) != shorter_key:
            continue
        substituted = [i for i, (a, b) in enumerate(zip(rest, shorter, strict=True)) if a != b]
        if len(substituted) > max_substitutions:
            continue
        if read_is_longer:
            positions = {removed, *substituted}
        else:
            positions = {removed, *(i if i < removed else i + 1 for i in substituted)}
        candidate = tuple(sorted(positions))
        if best is None or len(candidate) < len(best):
            best = candidate
    return None if best is None else (MatchKind.EDIT, best)


def score_of(confidence: float, kind: MatchKind, differing: Sequence[int]) -> float:
    if kind is MatchKind.EXACT:
        return float(confidence)
    penalty = SUBSTITUTION_PENALTY * len(differing) + (EDIT_PENALTY if kind is MatchKind.EDIT else 0.0)
    return max(0.0, float(confidence) * (1.0 - penalty))


def _deletions(key: str) -> set[str]:
    return {key[:i] + key[i + 1 :] for i in range(len(key))}


_Slots = int | tuple[int, ...]


def _add_slot(table: dict[int, _Slots], key: int, slot: int) -> None:
    present = table.get(key)
    if present is None:
        table[key] = slot
    elif isinstance(present, int):
        table[key] = (present, slot)
    else:
        table[key] = (*present, slot)


def _drop_slot(table: dict[int, _Slots], key: int, slot: int) -> None:
    present = table.get(key)
    if present is None:
        return
    if isinstance(present, int):
        if present == slot:
            del table[key]
        return
    rest = tuple(s for s in present if s != slot)
    table[key] = rest[0] if len(rest) == 1 else rest


def _id_key(entry_id: str) -> bytes | str:
    """Lower-case UUIDs are kept as 16 bytes rather than a 36-character string: half the memory."""
    if len(entry_id) == 36 and entry_id[8] == entry_id[13] == entry_id[18] == entry_id[23] == "-":
        compact = entry_id.replace("-", "")
        if compact.islower() or compact.isdigit():
            try:
                return bytes.fromhex(compact)
            except ValueError:
                return entry_id
    return entry_id


def _id_of(key: bytes | str) -> str:
    if isinstance(key, str):
        return key
    digits = key.hex()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


class HotlistIndex:
    """Every entry of every list, packed for matching. Each replica holds it all, rebuilt from the topic.

    Layout (1M entries in well under 300 MB): per entry a slot in parallel arrays (plate bytes,
    validity as epoch seconds, small integers for list, category, priority, action); a dict from
    the confusable-canonical plate to slots, so exact and confusable matches are one lookup; and,
    for entries on lists that allow an edit, their single-deletion keys (symmetric delete, as in
    SymSpell). Candidates from the lookups are verified with `compare`. A slot's window starts at
    its entry's `wanted_from` under the index's `lookback`.
    """

    def __init__(self, confusables: Confusables | None = None, lookback: timedelta = timedelta(0)) -> None:
        self.confusables = confusables or Confusables()
        # Each slot keeps its entry's `wanted_from` (as epoch seconds) as the start of its window.
        self.lookback = lookback
        self._lookback_s = lookback.total_seconds()
        self._rules: dict[str, ListRules] = {}
        self._pending_rules: dict[str, ListRules] = {}
        self._slot_of: dict[bytes | str, int] = {}
        self._ids: list[bytes | str | None] = []
        self._plates = bytearray()
        self._from = array("d")
        self._until = array("d")
        self._list = array("H")
        self._category = array("B")
        self._priority = array("b")
        self._action = array("I")
        self._country = array("H")
        self._free: list[int] = []
        self._list_names: list[str] = []
        self._list_number: dict[str, int] = {}
        self._categories = list(Category)
        self._category_number = {category: n for n, category in enumerate(self._categories)}
        self._actions: list[str] = []
        self._action_number: dict[str, int] = {}
        self._countries: list[str] = [""]
        self._country_number: dict[str, int] = {"": 0}
        # Keyed by the hash of the canonical plate, not the string: an int is smaller, and every
        # candidate is verified against the stored plate anyway.
        self._by_key: dict[int, _Slots] = {}
        self._edit_by_key: dict[int, _Slots] = {}
        self._by_deletion: dict[int, _Slots] = {}
        self._edit_lists: set[int] = set()

    def __len__(self) -> int:
        return len(self._slot_of)

    def __contains__(self, entry_id: object) -> bool:
        return isinstance(entry_id, str) and _id_key(entry_id) in self._slot_of

    # --- lists -------------------------------------------------------------------------------

    def rules(self, list_name: str) -> ListRules | None:
        return self._rules.get(list_name)

    def lists(self) -> list[ListRules]:
        return list(self._rules.values())

    def set_rules(self, rules: ListRules) -> None:
        number = self._list_index(rules.name)
        before = number in self._edit_lists
        self._rules[rules.name] = rules
        if rules.allow_edit and not before:
            self._edit_lists.add(number)
            for slot in self._slots_of_list(number):
                self._index_deletions(slot, add=True)
        elif before and not rules.allow_edit:
            for slot in self._slots_of_list(number):
                self._index_deletions(slot, add=False)
            self._edit_lists.discard(number)

    def _fallback_rules(self, list_name: str, slot: int) -> ListRules:
        """Rules for an entry whose list's rules have not arrived yet (topic partitions interleave)."""
        rules = self._pending_rules.get(list_name)
        if rules is None:
            rules = self._pending_rules[list_name] = ListRules(
                list_name, self._categories[self._category[slot]]
            )
        return rules

    def _slots_of_list(self, number: int) -> Iterator[int]:
        ids = self._ids
        return (slot for slot, listed in enumerate(self._list) if listed == number and ids[slot] is not None)

    def _list_index(self, name: str) -> int:
        number = self._list_number.get(name)
        if number is None:
            number = len(self._list_names)
            self._list_names.append(sys.intern(name))
            self._list_number[name] = number
        return number

    @staticmethod
    def _intern(value: str, table: list[str], numbers: dict[str, int]) -> int:
        number = numbers.get(value)
        if number is None:
            number = len(table)
            table.append(sys.intern(value))
            numbers[value] = number
        return number

    # --- entries -----------------------------------------------------------------------------

    def put(self, entry: HotlistEntry) -> None:
        # Hot when an import or a replica's start indexes a million entries: columns are appended
        # one by one and the canonical plate is computed once.
        plate = entry.plate
        if not PLATE_PATTERN.match(plate):
            raise ValueError(f"plate of entry {entry.entry_id} is not 2 to 12 letters or digits")
        list_number = self._list_number.get(entry.list_name)
        if list_number is None:
            if not LIST_NAME_PATTERN.match(entry.list_name):
                raise ValueError(f"list name of entry {entry.entry_id} is not a valid list name")
            list_number = self._list_index(entry.list_name)
        key = _id_key(entry.entry_id)
        if key in self._slot_of:
            self._remove_key(key)
        valid_from = entry.valid_from.timestamp()
        if self._lookback_s:
            entered = _uuid7_ms(entry.entry_id)
            entered_s = valid_from if entered is None else entered / 1000
            valid_from = _wanted_from_s(valid_from, entered_s, self._lookback_s)
        valid_until = math.inf if entry.valid_until is None else entry.valid_until.timestamp()
        category = self._category_number[entry.category]
        action = self._action_number.get(entry.action)
        if action is None:
            action = self._intern(entry.action, self._actions, self._action_number)
        country = self._country_number.get(entry.country)
        if country is None:
            country = self._intern(entry.country, self._countries, self._country_number)
        packed = plate.encode().ljust(MAX_PLATE_LENGTH, b"\0")
        if self._free:
            slot = self._free.pop()
            self._ids[slot] = key
            self._plates[slot * MAX_PLATE_LENGTH : (slot + 1) * MAX_PLATE_LENGTH] = packed
            values = (valid_from, valid_until, list_number, category, entry.priority, action, country)
            for column, value in zip(self._columns(), values, strict=True):
                column[slot] = value
        else:
            slot = len(self._ids)
            self._ids.append(key)
            self._plates += packed
            self._from.append(valid_from)
            self._until.append(valid_until)
            self._list.append(list_number)
            self._category.append(category)
            self._priority.append(entry.priority)
            self._action.append(action)
            self._country.append(country)
        self._slot_of[key] = slot
        canonical = self.confusables.canonical(plate)
        _add_slot(self._by_key, hash(canonical), slot)
        if list_number in self._edit_lists:
            self._index_deletions(slot, add=True, canonical=canonical)

    def _columns(self) -> tuple[array[Any], ...]:
        return (
            self._from,
            self._until,
            self._list,
            self._category,
            self._priority,
            self._action,
            self._country,
        )

    def remove(self, entry_id: str) -> None:
        self._remove_key(_id_key(entry_id))

    def _remove_key(self, key: bytes | str) -> None:
        slot = self._slot_of.pop(key, None)
        if slot is None:
            return
        self._index_deletions(slot, add=False)
        _drop_slot(self._by_key, hash(self.confusables.canonical(self._plate(slot))), slot)
        self._ids[slot] = None
        self._free.append(slot)

    def _index_deletions(self, slot: int, *, add: bool, canonical: str | None = None) -> None:
        if self._list[slot] not in self._edit_lists:
            return
        change = _add_slot if add else _drop_slot
        if canonical is None:
            canonical = self.confusables.canonical(self._plate(slot))
        change(self._edit_by_key, hash(canonical), slot)
        for deletion in _deletions(canonical):
            change(self._by_deletion, hash(deletion), slot)

    def _plate(self, slot: int) -> str:
        start = slot * MAX_PLATE_LENGTH
        return self._plates[start : start + MAX_PLATE_LENGTH].rstrip(b"\0").decode()

    def listed(self, slot: int) -> ListedEntry:
        key = self._ids[slot]
        if key is None:
            raise KeyError(slot)
        return ListedEntry(
            entry_id=_id_of(key),
            plate=self._plate(slot),
            list_name=self._list_names[self._list[slot]],
            category=self._categories[self._category[slot]],
            priority=self._priority[slot],
            action=self._actions[self._action[slot]],
            country=self._countries[self._country[slot]],
        )

    # --- matching ----------------------------------------------------------------------------

    def match(
        self,
        readings: Iterable[tuple[str, float]],
        moment: datetime,
        camera_id: str = "",
        direction: Direction = Direction.UNKNOWN,
    ) -> list[Match]:
        """Matches of any candidate reading captured at `moment`, for entries wanted then (from
        their `wanted_from` until their end) on lists whose rules apply then.

        One match per entry: the best-ranked reading that finds it.
        """
        when = moment.timestamp()
        found: dict[int, Match] = {}
        refused: set[int] = set()
        canonical = self.confusables.canonical
        by_key = self._by_key
        edit_by_key = self._edit_by_key
        edits = bool(self._edit_lists)
        candidates: dict[str, list[_Slots]] = {}
        for text, confidence in readings:
            # Reads come normalised from detect; only other input pays for normalising.
            plate = text if text.isascii() and text.isalnum() and (text.isupper() or text.isdigit()) else ""
            if not plate:
                plate = normalise_plate(text)
                if not plate:
                    continue
            key = canonical(plate)
            # Candidate readings often differ only by confusables: same key, same lookups.
            groups = candidates.get(key)
            if groups is None:
                groups = candidates[key] = self._candidates(key, by_key, edit_by_key, edits)
            for slots in groups:
                self._verify(slots, plate, confidence, when, moment, camera_id, direction, found, refused)
        return sorted(found.values(), key=lambda m: (-m.entry.priority, -m.score))

    def _candidates(
        self, key: str, by_key: dict[int, _Slots], edit_by_key: dict[int, _Slots], edits: bool
    ) -> list[_Slots]:
        """The slots whose entries may match a reading with this canonical key."""
        groups = []
        slots = by_key.get(hash(key))
        if slots is not None:
            groups.append(slots)
        if edits:
            # The read has one character too many: its deletions are keys of edit-list entries.
            for position in range(len(key)):
                slots = edit_by_key.get(hash(key[:position] + key[position + 1 :]))
                if slots is not None:
                    groups.append(slots)
            # The read misses one character: its key is a deletion of a listed key.
            slots = self._by_deletion.get(hash(key))
            if slots is not None:
                groups.append(slots)
        return groups

    def _verify(
        self,
        slots: _Slots | None,
        plate: str,
        confidence: float,
        when: float,
        moment: datetime,
        camera_id: str,
        direction: Direction,
        found: dict[int, Match],
        refused: set[int],
    ) -> None:
        if slots is None:
            return
        for slot in (slots,) if isinstance(slots, int) else slots:
            if slot in found or slot in refused:
                continue
            if not self._from[slot] <= when < self._until[slot]:
                refused.add(slot)
                continue
            list_name = self._list_names[self._list[slot]]
            rules = self._rules.get(list_name) or self._fallback_rules(list_name, slot)
            listed = self._plate(slot)
            outcome = compare(plate, listed, rules.max_substitutions, rules.allow_edit, self.confusables)
            if outcome is None:
                continue  # a later, lower-ranked reading may still match this entry
            if not rules.applies(camera_id, direction, moment):
                refused.add(slot)
                continue
            kind, differing = outcome
            found[slot] = Match(
                self.listed(slot), plate, kind, differing, score_of(confidence, kind, differing)
            )


class RecentReads:
    """A bounded store of reads, for the look-back of new entries.

    The reads this replica consumed (`add`) and, at its start, the reads of the look-back window
    read again from the reads topic (`restore`), which are older and kept before them: a restart
    or a new replica looks back as far as a replica that never stopped. Each read is kept once,
    by its event id, however often it is consumed or replayed. When full, the oldest kept goes.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._restored: deque[SeenRead] = deque()  # oldest first, all older than the consumed ones
        self._consumed: deque[SeenRead] = deque()
        self._ids: set[str] = set()

    def __len__(self) -> int:
        return len(self._restored) + len(self._consumed)

    @property
    def consumed(self) -> int:
        """How many of the reads kept this replica consumed itself."""
        return len(self._consumed)

    @property
    def room(self) -> int:
        return max(0, self.capacity - len(self))

    def add(self, read: SeenRead) -> None:
        if read.event_id in self._ids or self.capacity <= 0:
            return
        if len(self) >= self.capacity:
            oldest = (self._restored or self._consumed).popleft()
            self._ids.discard(oldest.event_id)
        self._consumed.append(read)
        self._ids.add(read.event_id)

    def restore(self, reads: Iterable[SeenRead]) -> list[SeenRead]:
        """Keeps reads from before this replica started, each older than those restored before
        (a rebuild goes newest first): the newest there is room for, oldest first. Returns the
        reads kept, none of which was here already."""
        new = {read.event_id: read for read in reads if read.event_id not in self._ids}
        kept = newest(new.values(), self.room)
        self._restored.extendleft(reversed(kept))
        self._ids.update(read.event_id for read in kept)
        return kept

    def since(self, moment: datetime, *, restored: bool = True) -> list[SeenRead]:
        """The reads captured at or after `moment`; with `restored=False`, only those consumed here."""
        kept = (self._restored, self._consumed) if restored else (self._consumed,)
        return [read for reads in kept for read in reads if read.captured_at >= moment]


def newest(reads: Iterable[SeenRead], count: int) -> list[SeenRead]:
    """The `count` reads captured last, oldest first."""
    if count <= 0:
        return []
    return sorted(heapq.nlargest(count, reads, key=_capture_order), key=_capture_order)


def _capture_order(read: SeenRead) -> tuple[datetime, str]:
    return read.captured_at, read.event_id


def look_back(
    entries: Sequence[HotlistEntry],
    rules: Iterable[ListRules],
    reads: Iterable[SeenRead],
    confusables: Confusables,
    *,
    lookback: timedelta,
    late: timedelta = timedelta(0),
) -> list[tuple[SeenRead, Match]]:
    """Matches of reads consumed before `entries` were indexed, by the rule that a read arriving
    after them meets in the index (the same code: an index of these entries under `lookback`).

    It reaches back max(lookback, late) before each entry was entered. A read arrives at most
    `late` after its capture, so any read captured later than that may come before the entry or
    after it: either way the same rule decides, and the hit id (read, entry) is the same, so the
    two paths give one hit, never none. Reads captured earlier were all consumed before the entry
    and are the look-back's alone.
    """
    fresh = HotlistIndex(confusables, lookback)
    for list_rules in rules:
        fresh.set_rules(list_rules)
    reach = max(lookback, late)
    earliest: dict[str, datetime] = {}
    for entry in entries:
        fresh.put(entry)
        earliest[entry.entry_id] = entry.entered_at - reach
    if not earliest:
        return []
    start = min(earliest.values())
    return look_back_in(fresh, earliest, (read for read in reads if read.captured_at >= start))


def look_back_in(
    index: HotlistIndex, earliest: Mapping[str, datetime], reads: Iterable[SeenRead]
) -> list[tuple[SeenRead, Match]]:
    """`look_back` for entries already in `index`: the matches of `reads` on the entries named in
    `earliest`, each for reads captured from its earliest capture time on.

    Oldest read first, so that whichever replica looks back over a passage's reads, the same
    read is its first and gives the one hit the duplicate window lets through.
    """
    found = [
        (read, match)
        for read in reads
        for match in index.match(read.readings, read.captured_at, read.camera_id, read.direction)
        if match.entry.entry_id in earliest and read.captured_at >= earliest[match.entry.entry_id]
    ]
    found.sort(key=lambda pair: _capture_order(pair[0]))
    return found


@dataclass
class HitDeduplicator:
    """One vehicle passing one camera gives one hit, not one per frame.

    A second hit on the same entry from the same camera within `window_s` of the first is
    suppressed; the same read again (a redelivery) is let through, since its hit has the same id.
    Reads are partitioned by camera, so one replica sees all of a camera's reads. A hit is
    remembered until reads captured `window_s + late_s` after it have come: a read of the same
    passage arriving up to `late_s` late (out of order) is still suppressed.
    """

    window_s: float
    late_s: float = 0.0
    _seen: OrderedDict[tuple[str, str], tuple[float, str]] = field(default_factory=OrderedDict)
    _newest: float = -math.inf

    def admit(self, entry_id: str, camera_id: str, captured_at: datetime, read_event_id: str) -> bool:
        moment = captured_at.timestamp()
        slot = (entry_id, camera_id)
        earlier = self._seen.get(slot)
        if earlier is not None and earlier[1] != read_event_id and abs(moment - earlier[0]) < self.window_s:
            return False
        if earlier is None or earlier[1] != read_event_id:
            self._seen[slot] = (moment, read_event_id)
            self._seen.move_to_end(slot)
        self._newest = max(self._newest, moment)
        self._forget_before(self._newest - self.window_s - self.late_s)
        return True

    def _forget_before(self, moment: float) -> None:
        while self._seen:
            slot, (seen_at, _read) = next(iter(self._seen.items()))
            if seen_at >= moment:
                break
            del self._seen[slot]

    def __len__(self) -> int:
        return len(self._seen)


def hit_event_id(read_event_id: str, entry_id: str) -> str:
    """The hit of one read on one entry always has the same id, so redelivery never makes a second hit."""
    digest = int.from_bytes(hashlib.sha256(f"{read_event_id}/{entry_id}".encode()).digest()[:16], "big")
    # RFC 9562 version 8 (custom) with the RFC variant; Python 3.11's UUID() cannot set version 8.
    digest = (digest & ~(0xF << 76)) | (0x8 << 76)
    digest = (digest & ~(0b11 << 62)) | (0b10 << 62)
    return str(uuid.UUID(int=digest))
