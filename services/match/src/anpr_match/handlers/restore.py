"""A starting replica's look-back store, rebuilt: the reads of before its start read again from the
reads topic, newest window first, while it consumes and looks back as usual."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from anpr_core.bus import BusUnavailable, Replayable
from anpr_match.domain.entries import SeenRead
from anpr_match.domain.recent import newest, restore_windows
from anpr_match.handlers.matching import RESTART_OVERLAP, MatchPipeline

log = logging.getLogger(__name__)


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
