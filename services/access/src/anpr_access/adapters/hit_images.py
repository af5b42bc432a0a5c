"""A stored hit of the zone and the images of the read that raised it: the hit names the one read,
so nothing here finds a read any other way."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_access.adapters.tables import hits, reads, time_bounds
from anpr_access.domain.hit_images import HitImages
from anpr_core.db import session_factory


class HitImageStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)

    async def hit_images(self, hit_id: str, zone_id: str, not_before: datetime) -> HitImages | None:
        """The hit (None when the zone has no such hit) with its read's images, if the read is stored
        and not older than `not_before`."""
        async with self._sessions() as session:
            hit = (
                await session.execute(
                    select(hits.c.read_event_id, hits.c.captured_at).where(
                        hits.c.hit_id == hit_id, hits.c.zone_id == zone_id
                    )
                )
            ).first()
            if hit is None:
                return None
            # The hit carries its read's capture time: the bounds keep the lookup to its partition.
            start, end = time_bounds(hit.captured_at, hit.captured_at)
            read = (
                await session.execute(
                    select(reads.c.plate_crop, reads.c.overview).where(
                        reads.c.event_id == hit.read_event_id,
                        reads.c.captured_at >= max(start, not_before),
                        reads.c.captured_at <= end,
                    )
                )
            ).first()
        return HitImages(
            hit_id=hit_id,
            read_event_id=hit.read_event_id,
            captured_at=hit.captured_at,
            read_stored=read is not None,
            plate_crop=bytes(read.plate_crop) if read is not None and read.plate_crop is not None else None,
            overview=bytes(read.overview) if read is not None and read.overview is not None else None,
        )
