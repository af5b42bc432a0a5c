"""Stores what arrives on the bus: reads (in their month's partition), passages and hits, idempotent
on their ids, and links each read to its passage on whichever of the two arrives second."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from anpr_access.adapters.partitions import PartitionKeeper
from anpr_access.adapters.tables import hits, passage_reads, passages, reads, time_bounds
from anpr_access.domain.records import HitRecord, PassageRecord, ReadRecord
from anpr_access.domain.retention import Month
from anpr_core.db import insert_ignoring_duplicates, is_postgres, session_factory
from anpr_core.events import utcnow


def read_row(read: ReadRecord) -> dict[str, Any]:
    return {**asdict(read), "stored_at": utcnow()}


def passage_row(passage: PassageRecord) -> dict[str, Any]:
    row = asdict(passage)
    read_count = len(row.pop("read_ids"))
    return {**row, "read_count": read_count, "stored_at": utcnow()}


class IntakeStore:
    def __init__(self, engine: AsyncEngine, owner: AsyncEngine) -> None:
        self._postgres = is_postgres(engine)
        self._sessions = session_factory(engine)
        # Partitions are DDL: the owner role makes them.
        self._partitions = PartitionKeeper(owner)

    async def _serialise_camera(self, session: AsyncSession, camera_id: str) -> None:
        """A read and its passage, stored at once by two consumers (or replicas), each in a transaction
        that does not see the other's: taken one after the other, the second sees the first and links.
        On SQLite every transaction here writes first, and writers are serialised already."""
        if self._postgres:
            await session.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"access:link:{camera_id}"}
            )

    async def add_read(self, read: ReadRecord) -> int:
        """Stores the read unless it is there already, linked to its passage if that came first;
        returns how many rows were new (0 or 1). The passage id a read of detect carries is not
        taken as the link: reads.passage_id names a stored passage, so a read whose passage never
        comes (lost with a detect instance) is known as one no passage claims."""
        await self._partitions.ensure(Month.of(read.captured_at))
        async with self._sessions.begin() as session:
            await self._serialise_camera(session, read.camera_id)
            stored = await insert_ignoring_duplicates(session, reads, [read_row(read)])
            listed_in = await session.scalar(
                select(passage_reads.c.passage_id).where(passage_reads.c.read_id == read.event_id)
            )
            if listed_in is not None:
                await session.execute(
                    update(reads)
                    .where(reads.c.event_id == read.event_id, reads.c.captured_at == read.captured_at)
                    .values(passage_id=listed_in)
                )
        return stored

    async def add_passage(self, passage: PassageRecord) -> int:
        """Stores the passage and the list of its reads unless there already, and links the reads
        stored before it; returns how many passages were new (0 or 1)."""
        async with self._sessions.begin() as session:
            await self._serialise_camera(session, passage.camera_id)
            stored = await insert_ignoring_duplicates(session, passages, [passage_row(passage)])
            members = [
                {"read_id": read_id, "passage_id": passage.passage_id, "first_seen": passage.first_seen}
                for read_id in dict.fromkeys(passage.read_ids)
            ]
            await insert_ignoring_duplicates(session, passage_reads, members)
            # Only the reads this passage keeps (a read named by an earlier passage stays with it),
            # within its time bounds, so PostgreSQL looks in one or two month partitions.
            kept = select(passage_reads.c.read_id).where(passage_reads.c.passage_id == passage.passage_id)
            start, end = time_bounds(passage.first_seen, passage.last_seen)
            await session.execute(
                update(reads)
                .where(reads.c.event_id.in_(kept), reads.c.captured_at >= start, reads.c.captured_at <= end)
                .values(passage_id=passage.passage_id)
            )
        return stored

    async def add_hit(self, hit: HitRecord) -> int:
        async with self._sessions.begin() as session:
            return await insert_ignoring_duplicates(session, hits, [{**asdict(hit), "stored_at": utcnow()}])
