"""The queries of lawful search: reads by plate, key, camera and window; their images; zone hits;
traffic counts grouped in the database."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_access.adapters.tables import hits, reads
from anpr_access.domain.records import HitRecord, ReadImages, ReadSummary
from anpr_access.domain.search import ReadCriteria
from anpr_access.domain.stats import Bucket
from anpr_core.db import is_postgres, session_factory

_SUMMARY_COLUMNS = [reads.c[f.name] for f in fields(ReadSummary) if f.name in reads.c]
_HIT_COLUMNS = [hits.c[f.name] for f in fields(HitRecord)]


class SearchStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)

    async def find_reads(self, criteria: ReadCriteria) -> list[ReadSummary]:
        """Newest first; one row more than the limit when there is a next page."""
        # The images stay in the table: a page says whether they exist, the image call returns them.
        statement = select(
            *_SUMMARY_COLUMNS,
            reads.c.plate_crop.is_not(None).label("has_crop"),
            reads.c.overview.is_not(None).label("has_overview"),
        ).where(reads.c.captured_at >= criteria.window_start, reads.c.captured_at < criteria.window_end)
        if criteria.plate_key is not None:
            statement = statement.where(reads.c.plate_key == criteria.plate_key)
        elif criteria.plate is not None:
            statement = statement.where(reads.c.plate == criteria.plate)
        if criteria.camera_id:
            statement = statement.where(reads.c.camera_id == criteria.camera_id)
        if criteria.direction:
            statement = statement.where(reads.c.direction == criteria.direction)
        statement = (
            statement.order_by(reads.c.captured_at.desc(), reads.c.event_id)
            .offset(criteria.offset)
            .limit(criteria.limit + 1)
        )
        async with self._sessions() as session:
            rows = (await session.execute(statement)).all()
        return [ReadSummary(**row._mapping) for row in rows]

    async def read_images(self, event_id: str, not_before: datetime) -> ReadImages | None:
        statement = select(reads.c.captured_at, reads.c.plate_crop, reads.c.overview).where(
            reads.c.event_id == event_id, reads.c.captured_at >= not_before
        )
        async with self._sessions() as session:
            row = (await session.execute(statement)).first()
        if row is None:
            return None
        return ReadImages(
            captured_at=row.captured_at,
            plate_crop=bytes(row.plate_crop) if row.plate_crop is not None else None,
            overview=bytes(row.overview) if row.overview is not None else None,
        )

    async def zone_hits(self, zone_id: str, since: datetime, limit: int) -> list[HitRecord]:
        statement = (
            select(*_HIT_COLUMNS)
            .where(hits.c.zone_id == zone_id, hits.c.captured_at >= since)
            .order_by(hits.c.captured_at.desc())
            .limit(limit)
        )
        async with self._sessions() as session:
            rows = (await session.execute(statement)).all()
        return [HitRecord(**row._mapping) for row in rows]

    async def traffic_counts(
        self, since: datetime, until: datetime, bucket: Bucket
    ) -> list[tuple[str, datetime, str, int]]:
        """(camera, bucket start, direction, count), grouped by the database."""
        start: Any
        if is_postgres(self._engine):
            start = func.date_trunc(bucket.value, func.timezone("UTC", reads.c.captured_at))
        else:
            pattern = "%Y-%m-%d %H:00:00" if bucket is Bucket.HOUR else "%Y-%m-%d 00:00:00"
            start = func.strftime(pattern, reads.c.captured_at)
        statement = (
            select(
                reads.c.camera_id, start.label("start"), reads.c.direction, func.count(literal_column("*"))
            )
            .where(reads.c.captured_at >= since, reads.c.captured_at < until)
            .group_by(reads.c.camera_id, start, reads.c.direction)
        )
        async with self._sessions() as session:
            grouped = (await session.execute(statement)).all()
        return [(camera, _utc(moment), direction, int(count)) for camera, moment, direction, count in grouped]


def _utc(moment: datetime | str) -> datetime:
    # SQLite returns the bucket as text, PostgreSQL as a naive UTC timestamp.
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
