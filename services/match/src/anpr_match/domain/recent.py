"""The look-back's store of recent reads, and the look-back itself: the reads an entry meets when it
comes after them. No I/O."""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from anpr_core.plates import Confusables
from anpr_match.domain.entries import HotlistEntry, ListRules, Match, SeenRead
from anpr_match.domain.index import HotlistIndex


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
