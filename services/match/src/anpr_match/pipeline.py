"""From a read (or a new entry's look-back) to stored, published, streamed hits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from anpr.v1 import hit_pb2
from anpr_core.bus import Bus, BusUnavailable, OutgoingRecord, Replayable
from anpr_core.db import insert_ignoring_duplicates
from anpr_core.events import Topics, from_timestamp, utcnow
from anpr_core.metrics import HITS, HITS_SUPPRESSED
from anpr_match.domain.dedupe import HitDeduplicator
from anpr_match.domain.entries import HotlistEntry, Match, SeenRead
from anpr_match.domain.index import HotlistIndex
from anpr_match.domain.recent import RecentReads, look_back, look_back_in, newest
from anpr_match.events import hit_for
from anpr_match.storage import hits

log = logging.getLogger(__name__)

_DIRECTIONS = {1: "in", 2: "out"}
# A hotlist change published this long before a replica started may not have been looked back
# by the replica that stopped (its look-backs run every ANPR_MATCH_LOOKBACK_INTERVAL_S, and wait
# while the database is away): it is looked back over the reads restored at the start too.
RESTART_OVERLAP = timedelta(seconds=60)
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
        # Entries waiting for their look-back, each with whether its change is fresh (see `fresh`).
        self._new_entries: list[tuple[HotlistEntry, bool]] = []
        # While the reads of before the start are being restored (`begin_restore`): when the
        # start was, and the fresh entries already looked back, with the earliest capture time
        # each wants, so that each older batch restored is looked back for them too.
        self._started_ms = 0
        self._restoring = False
        self._windows_restored = 0
        self._looked_back: dict[str, datetime] = {}

    @property
    def reach(self) -> timedelta:
        """How far before its entry time an entry's look-back reaches."""
        return max(self.index.lookback, self._late)

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

    def on_entry(self, entry: HotlistEntry, *, fresh: bool = True) -> None:
        """A new or changed entry (from the topic, or imported here): indexed, then queued for its
        look-back over the reads already consumed."""
        self.index.put(entry)
        self.entry_changed(entry, fresh=fresh)

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

    def entry_changed(self, entry: HotlistEntry, *, fresh: bool = True) -> None:
        """Queues an indexed entry for the look-back; cheap, so the index consumer stays fast.

        Even with no look-back hours: a read in force may have been consumed here just before
        the entry reached this replica. A change that is not `fresh` (one the replicas before
        this one's start already looked back) is looked back over the reads consumed here only.
        """
        if (fresh and (self._restoring or len(self.recent))) or self.recent.consumed:
            self._new_entries.append((entry, fresh))

    def fresh(self, published_ms: int) -> bool:
        """Whether a hotlist change published at `published_ms` needs a look-back over the reads
        restored at this replica's start: one published before it (less RESTART_OVERLAP, for the
        look-backs a stopping replica had queued but not run) had its look-back there."""
        return not published_ms or published_ms >= self._started_ms - _ms(RESTART_OVERLAP)

    async def look_back_now(self) -> int:
        """Matches queued entries against the recent reads; on failure they stay queued."""
        if not self._new_entries:
            return 0
        queued, self._new_entries = self._new_entries, []
        # The index's version of each entry: the last queued; none for one withdrawn since.
        latest: dict[str, tuple[HotlistEntry, bool]] = {}
        for entry, fresh in queued:
            earlier = latest.get(entry.entry_id)
            latest[entry.entry_id] = (entry, fresh or (earlier is not None and earlier[1]))
        live = [(entry, fresh) for entry, fresh in latest.values() if entry.entry_id in self.index]
        try:
            if not live:
                return 0
            reach = self.reach
            found = []
            for fresh in (True, False):
                entries = [entry for entry, is_fresh in live if is_fresh is fresh]
                if entries:
                    found += look_back(
                        entries,
                        self.index.lists(),
                        self.recent.since(min(e.entered_at for e in entries) - reach, restored=fresh),
                        self.index.confusables,
                        lookback=self.index.lookback,
                        late=self._late,
                    )
            if self._restoring:
                # No await since the look-back took the reads: older ones restored from now on
                # are looked back for these entries by `restore_reads`.
                self._looked_back.update({e.entry_id: e.entered_at - reach for e, fresh in live if fresh})
            return await self.raise_hits(found, from_lookback=True)
        except Exception:
            self._new_entries = queued + self._new_entries
            raise

    # Restoring the recent reads at a start (step 0, beside consuming): the reads of the
    # look-back window are read again from the reads topic, newest first, while reads are
    # consumed and entries looked back as usual. Each entry is looked back over every read once:
    # over those restored before its look-back ran by that look-back, over each window restored
    # after it by `restore_reads`.

    def begin_restore(self, started_ms: int) -> None:
        self._started_ms = started_ms
        self._restoring = True
        self._windows_restored = 0

    @property
    def restoring(self) -> bool:
        return self._restoring

    @property
    def newest_restored(self) -> bool:
        """Whether the newest window of the restore (the reads of the last minutes, which a new
        entry wants most urgently) is in: readiness waits for it, not for the older ones."""
        return not self._restoring or self._windows_restored > 0

    def end_restore(self) -> None:
        self._restoring = False
        self._looked_back.clear()

    async def restore_reads(self, reads: Sequence[SeenRead]) -> int:
        """Keeps reads from before this replica started, older than those restored so far, and
        looks them back for the fresh entries already looked back. Returns the hits raised."""
        kept = self.recent.restore(reads)
        earliest = {entry_id: at for entry_id, at in self._looked_back.items() if entry_id in self.index}
        found = look_back_in(self.index, earliest, kept) if kept and earliest else []
        while True:
            try:
                raised = await self.raise_hits(found, from_lookback=True)
                break
            except Exception:
                # The restore waits (and, on its first window, the replica stays not ready).
                log.exception("look-back over restored reads failed; retrying")
                await asyncio.sleep(1)
        self._windows_restored += 1
        return raised

    async def run_look_back(self, interval_s: float, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=interval_s)
            try:
                await self.look_back_now()
            except Exception:
                log.exception("look-back over recent reads failed; retrying")


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


async def restore_recent_reads(
    pipeline: MatchPipeline,
    bus: Replayable,
    topic: str,
    decode: Callable[[bytes], SeenRead | None],
    *,
    started_ms: int,
    skew: timedelta,
    retry_s: float = 2.0,
) -> int:
    """Rebuilds the pipeline's recent reads from the reads topic at a start; returns how many.

    A later entry looks back over reads captured up to max(look-back, late) before it, and a
    read may be published up to `skew` before its capture (a camera clock ahead): that is read
    again, newest first, until the store is full. The restore ends (`end_restore`) when done.
    """
    reach = pipeline.reach + RESTART_OVERLAP
    oldest_wanted = datetime.fromtimestamp(started_ms / 1000, UTC) - reach
    # First the last minutes (`skew`: the reads of cars likely still near), then ever older ones.
    windows = restore_windows(started_ms, _ms(reach + skew), _ms(max(skew, RESTART_OVERLAP)))
    restored = 0
    began = time.monotonic()
    try:
        for number, (since_ms, until_ms) in enumerate(windows):
            if number and not pipeline.recent.room:
                log.info("recent reads: the store is full (%d reads)", len(pipeline.recent))
                break
            while True:
                try:
                    reads = await _read_window(
                        pipeline, bus, topic, decode, since_ms, until_ms, oldest_wanted
                    )
                    break
                except BusUnavailable as error:
                    log.warning("restoring recent reads: %s; retrying", error)
                    await asyncio.sleep(retry_s)
                except Exception:
                    log.exception("restoring recent reads failed; retrying")
                    await asyncio.sleep(retry_s)
            await pipeline.restore_reads(reads)
            restored += len(reads)
            log.info(
                "recent reads: %d restored, back to %s, in %.1f s",
                restored,
                datetime.fromtimestamp(since_ms / 1000, UTC).isoformat(timespec="seconds"),
                time.monotonic() - began,
            )
    finally:
        pipeline.end_restore()
    return restored


async def _read_window(
    pipeline: MatchPipeline,
    bus: Replayable,
    topic: str,
    decode: Callable[[bytes], SeenRead | None],
    since_ms: int,
    until_ms: int | None,
    oldest_wanted: datetime,
) -> list[SeenRead]:
    kept: list[SeenRead] = []
    async for records in bus.replay(topic, since_ms, until_ms, max_records=1000):
        for record in records:
            read = decode(record.value)
            if read is not None and read.captured_at >= oldest_wanted:
                kept.append(read)
        # Only the newest the store has room for are kept: memory stays bounded by its size.
        room = pipeline.recent.room
        if len(kept) > 2 * room + 1000:
            kept = newest(kept, room)
    return kept


def _ms(span: timedelta) -> int:
    return int(span.total_seconds() * 1000)
