"""The vehicles vendor cameras reported under their own id (ingest.vendor_tracks): whether a read of
one was published, so that Axis's LOST event, which repeats the last one, adds no passage."""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_core.db import is_postgres
from anpr_ingest.adapters.tables import vendor_tracks
from anpr_ingest.domain.errors import RegisterUnavailable

# A vehicle this replica recorded that recently is not written again (its UPDATEs follow its NEW
# within a second or two): one write per vehicle instead of one per event. Far below how long the
# vehicle is remembered (domain.vendors.mapping.TRACK_MEMORY), so the row never expires early.
REWRITE_AFTER_S = 60.0
_RECENT_MAX = 10_000


class VendorTracks:
    """On the intake's own pool (no ping per checkout, commits without waiting for the WAL flush: a
    record lost in a database crash can only make a LOST event a passage of its own)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._insert: Any = pg_insert if is_postgres(engine) else sqlite_insert
        self._recent: OrderedDict[tuple[str, str], datetime] = OrderedDict()

    async def reported(self, camera_id: str, track: str, since: datetime) -> bool:
        """Whether a read of the vehicle was published since `since`; RegisterUnavailable if unknown."""
        query = (
            select(vendor_tracks.c.last_at)
            .where(vendor_tracks.c.camera_id == camera_id)
            .where(vendor_tracks.c.track == track)
            .where(vendor_tracks.c.last_at >= since)
        )
        try:
            async with self._engine.connect() as connection:
                return (await connection.execute(query)).first() is not None
        except (SQLAlchemyError, OSError) as error:
            raise RegisterUnavailable(f"the vendor tracks did not answer: {error}") from error

    async def record(self, camera_id: str, track: str, at: datetime) -> None:
        """A read of the vehicle was published at `at`, in one statement (a camera's restarted counter
        reuses ids: the newest publish wins)."""
        written = self._recent.get((camera_id, track))
        if written is not None and 0 <= (at - written).total_seconds() < REWRITE_AFTER_S:
            return
        upsert = self._insert(vendor_tracks).values(camera_id=camera_id, track=track, last_at=at)
        upsert = upsert.on_conflict_do_update(
            index_elements=[vendor_tracks.c.camera_id, vendor_tracks.c.track],
            set_={"last_at": upsert.excluded.last_at},
        )
        try:
            async with self._engine.begin() as connection:
                await connection.execute(upsert)
        except (SQLAlchemyError, OSError) as error:
            raise RegisterUnavailable(f"the vendor tracks did not answer: {error}") from error
        self._recent[(camera_id, track)] = at
        self._recent.move_to_end((camera_id, track))
        while len(self._recent) > _RECENT_MAX:
            self._recent.popitem(last=False)

    async def forget_before(self, cutoff: datetime) -> int:
        async with self._engine.begin() as connection:
            result = await connection.execute(delete(vendor_tracks).where(vendor_tracks.c.last_at < cutoff))
            return int(getattr(result, "rowcount", 0) or 0)
