"""The queries of lawful search: passages (with their reads) by plate, key, camera and window; a
read's images; zone hits; traffic counts of passages grouped in the database."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, String, case, func, literal, literal_column, select, union
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_access.adapters.tables import hits, passage_reads, passages, reads, time_bounds
from anpr_access.domain.records import HitRecord, PassageView, ReadImages, ReadSummary
from anpr_access.domain.search import ReadCriteria
from anpr_access.domain.stats import Bucket
from anpr_core.db import is_postgres, session_factory

_SUMMARY_COLUMNS = [
    *(reads.c[f.name] for f in fields(ReadSummary) if f.name in reads.c),
    # The images stay in the table: a page says whether they exist, the image call returns them.
    reads.c.plate_crop.is_not(None).label("has_crop"),
    reads.c.overview.is_not(None).label("has_overview"),
]
_HIT_COLUMNS = [hits.c[f.name] for f in fields(HitRecord)]


def _matching(table: Any, at: Any, criteria: ReadCriteria) -> list[ColumnElement[bool]]:
    """The criteria as conditions on the reads or the passages table (`at`: its time column)."""
    where = [at >= criteria.window_start, at < criteria.window_end]
    if criteria.plate_key is not None:
        where.append(table.c.plate_key == criteria.plate_key)
    elif criteria.plate is not None:
        where.append(table.c.plate == criteria.plate)
    if criteria.camera_id:
        where.append(table.c.camera_id == criteria.camera_id)
    if criteria.direction:
        where.append(table.c.direction == criteria.direction)
    return where


class SearchStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)

    async def find_passages(self, criteria: ReadCriteria) -> list[PassageView]:
        """Passages whose consensus plate or one of whose reads meets the criteria, each with all its
        reads, newest first (a passage's time is its first read's); a read no stored passage claims
        comes as a passage of its own. One more than the limit when there is a next page."""
        claimed = passages.alias("claimed")
        by_passage = select(
            passages.c.passage_id,
            literal(None, String).label("read_id"),
            passages.c.first_seen.label("at"),
        ).where(*_matching(passages, passages.c.first_seen, criteria))
        at = func.coalesce(claimed.c.first_seen, reads.c.captured_at)
        by_read = (
            select(
                claimed.c.passage_id,
                case((claimed.c.passage_id.is_(None), reads.c.event_id), else_=None).label("read_id"),
                at.label("at"),
            )
            .select_from(reads.outerjoin(claimed, claimed.c.passage_id == reads.c.passage_id))
            .where(*_matching(reads, reads.c.captured_at, criteria), at >= criteria.window_start)
            .where(at < criteria.window_end)
        )
        # A branch of distinct items holds the page's among its own newest `reach`.
        reach = criteria.offset + criteria.limit + 1
        by_passage = by_passage.order_by(passages.c.first_seen.desc(), passages.c.passage_id).limit(reach)
        if criteria.plate is None and criteria.plate_key is None:
            # Camera, direction and window are the passage's own: by_passage finds every stored
            # passage, so the reads are looked at only for those no stored passage claims (each
            # its own item: the branch is distinct, and walks the camera/time index newest first).
            by_read = (
                select(
                    literal(None, String).label("passage_id"),
                    reads.c.event_id.label("read_id"),
                    reads.c.captured_at.label("at"),
                )
                .where(*_matching(reads, reads.c.captured_at, criteria), reads.c.passage_id.is_(None))
                .order_by(reads.c.captured_at.desc(), reads.c.event_id)
                .limit(reach)
            )
        found = union(select(by_passage.subquery()), select(by_read.subquery())).subquery()
        page = (
            select(found.c.passage_id, found.c.read_id, found.c.at)
            .order_by(found.c.at.desc(), func.coalesce(found.c.passage_id, found.c.read_id))
            .offset(criteria.offset)
            .limit(criteria.limit + 1)
        )
        async with self._sessions() as session:
            items = (await session.execute(page)).all()
            passage_ids = [item.passage_id for item in items if item.passage_id is not None]
            read_ids = [item.read_id for item in items if item.passage_id is None]
            stored = {p.passage_id: p for p in await self._passages(session, passage_ids)}
            members = await self._reads_of(session, stored.values())
            alone = await self._reads(
                session, read_ids, [item.at for item in items if item.passage_id is None]
            )
        views = []
        for item in items:
            if item.passage_id is not None:
                views.append(_view(stored[item.passage_id], members.get(item.passage_id, [])))
            else:
                views.append(_single(alone[item.read_id]))
        return views

    async def _passages(self, session: Any, ids: list[str]) -> list[Any]:
        if not ids:
            return []
        return list((await session.execute(select(passages).where(passages.c.passage_id.in_(ids)))).all())

    async def _reads_of(self, session: Any, stored: Any) -> dict[str, list[ReadSummary]]:
        stored = list(stored)
        if not stored:
            return {}
        start, end = time_bounds(min(p.first_seen for p in stored), max(p.last_seen for p in stored))
        statement = (
            select(passage_reads.c.passage_id.label("member_of"), *_SUMMARY_COLUMNS)
            .join(passage_reads, passage_reads.c.read_id == reads.c.event_id)
            .where(
                passage_reads.c.passage_id.in_([p.passage_id for p in stored]),
                reads.c.captured_at >= start,
                reads.c.captured_at <= end,
            )
            .order_by(reads.c.captured_at, reads.c.event_id)
        )
        grouped: dict[str, list[ReadSummary]] = defaultdict(list)
        for row in (await session.execute(statement)).all():
            values = dict(row._mapping)
            grouped[values.pop("member_of")].append(ReadSummary(**values))
        return grouped

    async def _reads(self, session: Any, ids: list[str], times: list[datetime]) -> dict[str, ReadSummary]:
        if not ids:
            return {}
        statement = select(*_SUMMARY_COLUMNS).where(
            reads.c.event_id.in_(ids), reads.c.captured_at >= min(times), reads.c.captured_at <= max(times)
        )
        return {row.event_id: ReadSummary(**row._mapping) for row in (await session.execute(statement)).all()}

    async def read_images(self, event_id: str, not_before: datetime) -> ReadImages | None:
        statement = select(
            reads.c.captured_at, reads.c.plate_crop, reads.c.overview, reads.c.passage_id
        ).where(reads.c.event_id == event_id, reads.c.captured_at >= not_before)
        async with self._sessions() as session:
            row = (await session.execute(statement)).first()
        if row is None:
            return None
        return ReadImages(
            captured_at=row.captured_at,
            plate_crop=bytes(row.plate_crop) if row.plate_crop is not None else None,
            overview=bytes(row.overview) if row.overview is not None else None,
            passage_id=row.passage_id,
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
        """(camera, bucket start, direction, passages), grouped by the database: vehicles, not reads."""
        start: Any
        if is_postgres(self._engine):
            start = func.date_trunc(bucket.value, func.timezone("UTC", passages.c.first_seen))
        else:
            pattern = "%Y-%m-%d %H:00:00" if bucket is Bucket.HOUR else "%Y-%m-%d 00:00:00"
            start = func.strftime(pattern, passages.c.first_seen)
        statement = (
            select(
                passages.c.camera_id,
                start.label("start"),
                passages.c.direction,
                func.count(literal_column("*")),
            )
            .where(passages.c.first_seen >= since, passages.c.first_seen < until)
            .group_by(passages.c.camera_id, start, passages.c.direction)
        )
        async with self._sessions() as session:
            grouped = (await session.execute(statement)).all()
        return [(camera, _utc(moment), direction, int(count)) for camera, moment, direction, count in grouped]


def _view(passage: Any, members: list[ReadSummary]) -> PassageView:
    return PassageView(
        passage_id=passage.passage_id,
        camera_id=passage.camera_id,
        direction=passage.direction,
        first_seen=passage.first_seen,
        last_seen=passage.last_seen,
        plate=passage.plate,
        formatted=passage.formatted,
        country=passage.country,
        confidence=passage.confidence,
        reads=members,
        zone_id=passage.zone_id,
    )


def _single(read: ReadSummary) -> PassageView:
    return PassageView(
        passage_id=None,
        camera_id=read.camera_id,
        direction=read.direction,
        first_seen=read.captured_at,
        last_seen=read.captured_at,
        plate=read.plate,
        formatted=read.formatted,
        country=read.country,
        confidence=read.confidence,
        reads=[read],
        zone_id=read.zone_id,
    )


def _utc(moment: datetime | str) -> datetime:
    # SQLite returns the bucket as text, PostgreSQL as a naive UTC timestamp.
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
