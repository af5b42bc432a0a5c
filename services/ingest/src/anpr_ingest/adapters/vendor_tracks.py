"""The vehicles vendor cameras reported under their own id (ingest.vendor_tracks): whether a read of
one was published, so that Axis's LOST event, which repeats the last one, adds no passage."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from anpr_core.db import insert_ignoring_duplicates
from anpr_ingest.adapters.tables import vendor_tracks
from anpr_ingest.domain.errors import RegisterUnavailable


class VendorTracks:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def reported(self, camera_id: str, track: str, since: datetime) -> bool:
        """Whether a read of the vehicle was published since `since`; RegisterUnavailable if unknown."""
        try:
            async with self._sessions() as session:
                found = await session.execute(
                    select(vendor_tracks.c.last_at)
                    .where(vendor_tracks.c.camera_id == camera_id)
                    .where(vendor_tracks.c.track == track)
                    .where(vendor_tracks.c.last_at >= since)
                )
                return found.first() is not None
        except (SQLAlchemyError, OSError) as error:
            raise RegisterUnavailable(f"the vendor tracks did not answer: {error}") from error

    async def record(self, camera_id: str, track: str, at: datetime) -> None:
        """A read of the vehicle was published at `at` (a camera's restarted counter reuses ids:
        the newest publish wins)."""
        try:
            async with self._sessions.begin() as session:
                row = {"camera_id": camera_id, "track": track, "last_at": at}
                if not await insert_ignoring_duplicates(session, vendor_tracks, [row]):
                    await session.execute(
                        update(vendor_tracks)
                        .where(vendor_tracks.c.camera_id == camera_id)
                        .where(vendor_tracks.c.track == track)
                        .values(last_at=at)
                    )
        except (SQLAlchemyError, OSError) as error:
            raise RegisterUnavailable(f"the vendor tracks did not answer: {error}") from error

    async def forget_before(self, cutoff: datetime) -> int:
        async with self._sessions.begin() as session:
            result = await session.execute(delete(vendor_tracks).where(vendor_tracks.c.last_at < cutoff))
            return int(getattr(result, "rowcount", 0) or 0)
