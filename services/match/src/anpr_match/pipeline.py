"""From a read (or a new entry's look-back) to stored, published, streamed hits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from anpr.v1 import hit_pb2
from anpr_core.bus import Bus, OutgoingRecord
from anpr_core.db import insert_ignoring_duplicates
from anpr_core.events import Topics, from_timestamp, utcnow
from anpr_core.metrics import HITS, HITS_SUPPRESSED
from anpr_match.domain import (
    HitDeduplicator,
    HotlistEntry,
    HotlistIndex,
    Match,
    RecentReads,
    SeenRead,
    look_back,
)
from anpr_match.events import hit_for
from anpr_match.storage import hits

log = logging.getLogger(__name__)

_DIRECTIONS = {1: "in", 2: "out"}
_KINDS = {hit_pb2.MATCH_KIND_EXACT: "exact", hit_pb2.MATCH_KIND_CONFUSABLE: "confusable", 3: "edit"}


def hit_row(hit: hit_pb2.Hit) -> dict[str, Any]:
    return {
        "hit_id": hit.meta.event_id,
        "read_event_id": hit.read_event_id,
        "entry_id": hit.hotlist_entry_id,
        "camera_id": hit.camera_id,
        "captured_at": from_timestamp(hit.captured_at),
        "plate_read": hit.plate_read,
        "plate_listed": hit.plate_listed,
        "match_kind": _KINDS.get(hit.match_kind, "exact"),
        "differing_positions": ",".join(str(p) for p in hit.differing_positions),
        "score": hit.score,
        "list_name": hit.list_name,
        "category": hit.category,
        "priority": hit.priority,
        "action": hit.action,
        "direction": _DIRECTIONS.get(hit.direction, "unknown"),
        "from_lookback": hit.from_lookback,
        "created_at": utcnow(),
    }


class HitStream:
    """Fans hits out to this replica's Server-Sent-Event subscribers.

    Fed from the hits topic, so an operator sees every replica's hits. A subscriber that falls
    `capacity` hits behind is told so (an `overflow` event) and dropped, never silently skipped.
    A hit published again (a redelivered read, a read met by both the read path and a look-back)
    has the same id and is shown once: the last `remembered` ids are kept.
    """

    def __init__(self, capacity: int = 1000, remembered: int = 10_000) -> None:
        self._capacity = capacity
        self._remembered = remembered
        self._offered: OrderedDict[str, None] = OrderedDict()
        self._subscribers: set[asyncio.Queue[dict[str, Any] | None]] = set()

    def __len__(self) -> int:
        return len(self._subscribers)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[asyncio.Queue[dict[str, Any] | None]]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(self._capacity + 1)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)

    def offer(self, hit: dict[str, Any]) -> None:
        hit_id = str(hit["hit_id"])
        if hit_id in self._offered:
            return
        self._offered[hit_id] = None
        if len(self._offered) > self._remembered:
            self._offered.popitem(last=False)
        for queue in list(self._subscribers):
            if queue.qsize() >= self._capacity:
                self._subscribers.discard(queue)
                queue.put_nowait(None)  # the one slot kept back for this
            else:
                queue.put_nowait(hit)


class MatchPipeline:
    """Matches reads against the index and raises hits: 1. dedup, 2. store, 3. publish."""

    def __init__(
        self,
        *,
        index: HotlistIndex,
        recent: RecentReads,
        dedup: HitDeduplicator,
        sessions: async_sessionmaker[AsyncSession],
        bus: Bus,
        topics: Topics,
        zone_id: str,
        late: timedelta = timedelta(0),
    ) -> None:
        self.index = index
        self.recent = recent
        self.dedup = dedup
        self._sessions = sessions
        self._bus = bus
        self._topics = topics
        self._zone_id = zone_id
        self._late = late
        self._new_entries: list[HotlistEntry] = []

    # A read and a new entry meet on exactly one of two paths, whichever comes first:
    # - the read comes after the entry is indexed: `on_read` matches it against the index;
    # - the read came before: it is in `recent`, and the entry's look-back matches it.
    # Each step below is synchronous (no await between recording and matching), so no read falls
    # between the two; both apply the index's one rule, and a read on both gives the same hit id.

    async def on_read(self, read: SeenRead) -> int:
        """A read from the topic: kept for later entries' look-back, matched against the index."""
        self.recent.add(read)
        matches = self.index.match(read.readings, read.captured_at, read.camera_id, read.direction)
        return await self.raise_hits([(read, match) for match in matches], from_lookback=False)

    def on_entry(self, entry: HotlistEntry) -> None:
        """A new or changed entry (from the topic, or imported here): indexed, then queued for its
        look-back over the reads already consumed."""
        self.index.put(entry)
        self.entry_changed(entry)

    async def raise_hits(self, found: Sequence[tuple[SeenRead, Match]], *, from_lookback: bool) -> int:
        admitted = []
        for read, match in found:
            if self.dedup.admit(match.entry.entry_id, read.camera_id, read.captured_at, read.event_id):
                admitted.append((read, match))
            else:
                HITS_SUPPRESSED.labels(match.entry.list_name).inc()
        if not admitted:
            return 0
        raised = [
            hit_for(read, match, self._zone_id, from_lookback=from_lookback) for read, match in admitted
        ]
        # 1. store the hits (idempotent on read and entry), 2. publish them, 3. the caller commits.
        async with self._sessions.begin() as session:
            await insert_ignoring_duplicates(session, hits, [hit_row(hit) for hit in raised])
        await self._bus.publish_many(
            [
                OutgoingRecord(self._topics.hits, hit.hotlist_entry_id.encode(), hit.SerializeToString())
                for hit in raised
            ]
        )
        for _read, match in admitted:
            HITS.labels(match.entry.list_name, match.kind.value).inc()
        return len(raised)

    def entry_changed(self, entry: HotlistEntry) -> None:
        """Queues an indexed entry for the look-back; cheap, so the index consumer stays fast.

        Even with no look-back hours: a read in force may have been consumed here just before
        the entry reached this replica.
        """
        if len(self.recent):
            self._new_entries.append(entry)

    async def look_back_now(self) -> int:
        """Matches queued entries against the recent reads; on failure they stay queued."""
        if not self._new_entries:
            return 0
        entries, self._new_entries = self._new_entries, []
        # The index's version of each entry: the last queued; none for one withdrawn since.
        latest = {entry.entry_id: entry for entry in entries}
        live = [entry for entry in latest.values() if entry.entry_id in self.index]
        try:
            if not live:
                return 0
            reach = max(self.index.lookback, self._late)
            found = look_back(
                live,
                self.index.lists(),
                self.recent.since(min(entry.entered_at for entry in live) - reach),
                self.index.confusables,
                lookback=self.index.lookback,
                late=self._late,
            )
            return await self.raise_hits(found, from_lookback=True)
        except Exception:
            self._new_entries = entries + self._new_entries
            raise

    async def run_look_back(self, interval_s: float, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=interval_s)
            try:
                await self.look_back_now()
            except Exception:
                log.exception("look-back over recent reads failed; retrying")
