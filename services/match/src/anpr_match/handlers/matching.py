"""Matching, the events' handlers: a read against the index, a hotlist change into it, and each new
entry's look-back over the reads consumed before it; the hits they raise are stored and published."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from anpr_core.metrics import HITS, HITS_SUPPRESSED
from anpr_match.domain.dedupe import HitDeduplicator
from anpr_match.domain.entries import HotlistEntry, ListRules, Match, SeenRead, Withdrawal
from anpr_match.domain.index import HotlistIndex
from anpr_match.domain.recent import RecentReads, look_back, look_back_in
from anpr_match.handlers.ports import HitSink

log = logging.getLogger(__name__)

# A hotlist change published this long before a replica started may not have been looked back
# by the replica that stopped (its look-backs run every ANPR_MATCH_LOOKBACK_INTERVAL_S, and wait
# while the database is away): it is looked back over the reads restored at the start too.
RESTART_OVERLAP = timedelta(seconds=60)


class MatchPipeline:
    """Matches reads against the index and raises hits: 1. dedup, 2. store, 3. publish."""

    def __init__(
        self,
        *,
        index: HotlistIndex,
        recent: RecentReads,
        dedup: HitDeduplicator,
        hits: HitSink,
        late: timedelta = timedelta(0),
    ) -> None:
        self.index = index
        self.recent = recent
        self.dedup = dedup
        self._hits = hits
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
        # 1. store the hits (idempotent on read and entry), 2. publish them, 3. the caller commits.
        await self._hits.record(admitted, from_lookback=from_lookback)
        for _read, match in admitted:
            HITS.labels(match.entry.list_name, match.kind.value).inc()
        return len(admitted)

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
                        self.recent,
                        self.index.confusables,
                        lookback=self.index.lookback,
                        late=self._late,
                        restored=fresh,
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

    async def recent_reads_ready(self) -> bool:
        """Readiness: the newest window of the restore is in (see `newest_restored`)."""
        return self.newest_restored

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


async def on_read(pipeline: MatchPipeline, read: SeenRead) -> int:
    """A read from the reads topic: kept for later entries' look-back, matched against the index;
    returns the hits raised (stored and published)."""
    return await pipeline.on_read(read)


def on_hotlist_change(
    pipeline: MatchPipeline, change: ListRules | HotlistEntry | Withdrawal, *, published_ms: int
) -> None:
    """A record of the hotlist topic, published at `published_ms`: a list's rules, an entry (new or
    changed: indexed, then queued for its look-back) or a withdrawal. Raises ValueError for an
    entry the index cannot hold."""
    if isinstance(change, ListRules):
        pipeline.index.set_rules(change)
    elif isinstance(change, Withdrawal):
        pipeline.index.remove(change.entry_id)
    else:
        pipeline.on_entry(change, fresh=pipeline.fresh(published_ms))


def _ms(span: timedelta) -> int:
    return int(span.total_seconds() * 1000)
