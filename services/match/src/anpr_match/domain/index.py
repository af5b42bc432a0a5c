"""The in-memory matching index: every entry of every list, packed, found by its canonical plate. No I/O."""

from __future__ import annotations

import math
import sys
from array import array
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from anpr_core.plates import Confusables, normalise_plate
from anpr_match.domain.entries import (
    LIST_NAME_PATTERN,
    MAX_PLATE_LENGTH,
    PLATE_PATTERN,
    Category,
    Direction,
    HotlistEntry,
    ListedEntry,
    ListRules,
    Match,
    packed_id,
    unpacked_id,
    uuid7_ms,
    wanted_from_s,
)
from anpr_match.domain.fuzzy import compare, deletions, score_of

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
        return isinstance(entry_id, str) and packed_id(entry_id) in self._slot_of

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
        key = packed_id(entry.entry_id)
        if key in self._slot_of:
            self._remove_key(key)
        valid_from = entry.valid_from.timestamp()
        if self._lookback_s:
            entered = uuid7_ms(entry.entry_id)
            entered_s = valid_from if entered is None else entered / 1000
            valid_from = wanted_from_s(valid_from, entered_s, self._lookback_s)
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
        self._remove_key(packed_id(entry_id))

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
        for deletion in deletions(canonical):
            change(self._by_deletion, hash(deletion), slot)

    def _plate(self, slot: int) -> str:
        start = slot * MAX_PLATE_LENGTH
        return self._plates[start : start + MAX_PLATE_LENGTH].rstrip(b"\0").decode()

    def listed(self, slot: int) -> ListedEntry:
        key = self._ids[slot]
        if key is None:
            raise KeyError(slot)
        return ListedEntry(
            entry_id=unpacked_id(key),
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
