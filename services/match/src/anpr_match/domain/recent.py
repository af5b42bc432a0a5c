"""The look-back's store of recent reads, and the look-back itself: the reads an entry meets when it
comes after them. No I/O."""

from __future__ import annotations

import functools
import heapq
import struct
import sys
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

from anpr_core.plates import Confusables
from anpr_match.domain.entries import (
    Direction,
    HotlistEntry,
    ListRules,
    Match,
    SeenRead,
    packed_id,
    unpacked_id,
)
from anpr_match.domain.index import HotlistIndex

# A read as the store keeps it: what matching needs and no more, in as few objects as hold it
# exactly (measured over 200,000 reads: ~630 bytes a read as a SeenRead, ~300 as this). Its event
# id (16 bytes for a UUID), its camera (one string per camera), its direction, its numbers (the
# capture time in microseconds since the epoch, then each reading's confidence) in one bytes
# object, and its readings' texts in one string.
_Kept = tuple[bytes | str, str, Direction, bytes, str | tuple[str, ...]]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_CAPTURED = struct.Struct("<q")
_TEXTS = "\x1f"  # between two readings' texts, where no text holds it


@functools.lru_cache(maxsize=16)
def _numbers(readings: int) -> struct.Struct:
    return struct.Struct(f"<q{readings}d")


def _microseconds(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def _kept(read: SeenRead) -> _Kept:
    texts = tuple(text for text, _ in read.readings)
    joined = _TEXTS.join(texts) if not any(_TEXTS in text for text in texts) else texts
    numbers = _numbers(len(texts)).pack(_microseconds(read.captured_at), *(c for _, c in read.readings))
    return (packed_id(read.event_id), sys.intern(read.camera_id), read.direction, numbers, joined)


def _readings(kept: _Kept) -> tuple[tuple[str, float], ...]:
    numbers, texts = kept[3], kept[4]
    count = len(numbers) // 8 - 1
    if not count:
        return ()
    confidences = _numbers(count).unpack(numbers)[1:]
    return tuple(zip(texts.split(_TEXTS) if isinstance(texts, str) else texts, confidences, strict=True))


def _seen(kept: _Kept) -> SeenRead:
    (captured,) = _CAPTURED.unpack_from(kept[3])
    moment = _EPOCH + captured * _MICROSECOND
    return SeenRead(unpacked_id(kept[0]), kept[1], moment, kept[2], _readings(kept))


class RecentReads:
    """A bounded store of reads, for the look-back of new entries.

    The reads this replica consumed (`add`) and, at its start, the reads of the look-back window
    read again from the reads topic (`restore`), which are older and kept before them: a restart
    or a new replica looks back as far as a replica that never stopped. Each read is kept once,
    by its event id, however often it is consumed or replayed. When full, the oldest kept goes.
    Reads are kept packed (`_Kept`) and given back as SeenRead.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._restored: deque[_Kept] = deque()  # oldest first, all older than the consumed ones
        self._consumed: deque[_Kept] = deque()
        self._ids: set[bytes | str] = set()

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
        if self.capacity <= 0:
            return
        kept = _kept(read)
        if kept[0] in self._ids:
            return
        if len(self) >= self.capacity:
            oldest = (self._restored or self._consumed).popleft()
            self._ids.discard(oldest[0])
        self._consumed.append(kept)
        self._ids.add(kept[0])

    def restore(self, reads: Iterable[SeenRead]) -> list[SeenRead]:
        """Keeps reads from before this replica started, each older than those restored before
        (a rebuild goes newest first): the newest there is room for, oldest first. Returns the
        reads kept, none of which was here already."""
        new = {read.event_id: read for read in reads if packed_id(read.event_id) not in self._ids}
        kept = newest(new.values(), self.room)
        packed = [_kept(read) for read in kept]
        self._restored.extendleft(reversed(packed))
        self._ids.update(read[0] for read in packed)
        return kept

    def since(self, moment: datetime, *, restored: bool = True) -> list[SeenRead]:
        """The reads captured at or after `moment`; with `restored=False`, only those consumed here."""
        start = _microseconds(moment)
        kept = (self._restored, self._consumed) if restored else (self._consumed,)
        unpack = _CAPTURED.unpack_from
        return [_seen(read) for reads in kept for read in reads if unpack(read[3])[0] >= start]

    def matches(
        self,
        index: HotlistIndex,
        earliest: Mapping[str, datetime],
        moment: datetime,
        *,
        restored: bool = True,
    ) -> list[tuple[SeenRead, Match]]:
        """`look_back_in` over the reads captured at or after `moment` (with `restored=False`,
        those consumed here only), each unpacked only as far as matching needs: a read becomes
        a SeenRead when it matches."""
        start = _microseconds(moment)
        unpack, match = _CAPTURED.unpack_from, index.match
        found = []
        for reads in (self._restored, self._consumed) if restored else (self._consumed,):
            for read in reads:
                (captured,) = unpack(read[3])
                if captured < start:
                    continue
                at = _EPOCH + captured * _MICROSECOND
                for matched in match(_readings(read), at, read[1], read[2]):
                    entry_id = matched.entry.entry_id
                    if entry_id in earliest and at >= earliest[entry_id]:
                        found.append((_seen(read), matched))
        found.sort(key=lambda pair: _capture_order(pair[0]))
        return found


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
    reads: Iterable[SeenRead] | RecentReads,
    confusables: Confusables,
    *,
    lookback: timedelta,
    late: timedelta = timedelta(0),
    restored: bool = True,
) -> list[tuple[SeenRead, Match]]:
    """Matches of reads consumed before `entries` were indexed, by the rule that a read arriving
    after them meets in the index (the same code: an index of these entries under `lookback`).
    `reads` may be the store itself (with `restored` as in RecentReads.since), scanned packed.

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
    if isinstance(reads, RecentReads):
        return reads.matches(fresh, earliest, start, restored=restored)
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


def restore_windows(started_ms: int, reach_ms: int, first_ms: int) -> list[tuple[int, int | None]]:
    """The time windows a restore reads, newest first: the last `first_ms` before the start (up
    to the topic's end), then each window reaching twice as far back as the one before, until
    `reach_ms` back."""
    oldest = started_ms - reach_ms
    windows: list[tuple[int, int | None]] = []
    until: int | None = None
    length = max(1, first_ms)
    while True:
        since = max(oldest, started_ms - length)
        windows.append((since, until))
        if since <= oldest:
            return windows
        until, length = since, length * 2
