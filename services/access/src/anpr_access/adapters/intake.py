"""Stores what arrives on the bus: reads (in their month's partition) and hits, idempotent on ids."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_access.adapters.partitions import PartitionKeeper
from anpr_access.adapters.tables import hits, reads
from anpr_access.domain.records import HitRecord, ReadRecord
from anpr_access.domain.retention import Month
from anpr_core.db import insert_ignoring_duplicates, session_factory
from anpr_core.events import utcnow


def read_row(read: ReadRecord) -> dict[str, Any]:
    return {**asdict(read), "stored_at": utcnow()}


class IntakeStore:
    def __init__(self, engine: AsyncEngine, owner: AsyncEngine) -> None:
        self._sessions = session_factory(engine)
        # Partitions are DDL: the owner role makes them.
        self._partitions = PartitionKeeper(owner)

    async def add_read(self, read: ReadRecord) -> int:
        """Stores the read unless it is there already; returns how many rows were new (0 or 1)."""
        await self._partitions.ensure(Month.of(read.captured_at))
        async with self._sessions.begin() as session:
            return await insert_ignoring_duplicates(session, reads, [read_row(read)])

    async def add_hit(self, hit: HitRecord) -> int:
        async with self._sessions.begin() as session:
            return await insert_ignoring_duplicates(session, hits, [{**asdict(hit), "stored_at": utcnow()}])
