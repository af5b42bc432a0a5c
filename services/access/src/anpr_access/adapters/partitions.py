"""The month partitions of `access.reads` on PostgreSQL: made ahead, made on demand, listed.

Partitions are DDL, so these run on the owner role's engine; they are the data's lifecycle, not the
schema's history (migrations/ makes the partitioned table). SQLite (embedded) has no partitions.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from anpr_access.adapters.tables import SCHEMA
from anpr_access.domain.retention import Month, months_ahead
from anpr_core.db import is_postgres


async def make_partitions_ahead(engine: AsyncEngine, now: datetime, months_ahead_count: int = 2) -> None:
    """The partitions of this month and the next `months_ahead_count` (PostgreSQL; nothing on SQLite)."""
    await ensure_partitions(engine, months_ahead(now, months_ahead_count))


async def ensure_partitions(engine: AsyncEngine, months: list[Month]) -> None:
    if not is_postgres(engine):
        return
    async with engine.begin() as conn:
        # Replicas (and the retention job) may create the same partition at once.
        await lock_partitions(conn)
        for month in months:
            await conn.execute(
                text(
                    f'CREATE TABLE IF NOT EXISTS "{SCHEMA}"."{month.partition}" PARTITION OF '  # noqa: S608
                    f"\"{SCHEMA}\".reads FOR VALUES FROM ('{month.start.isoformat()}') "
                    f"TO ('{month.end.isoformat()}')"
                )
            )


async def lock_partitions(conn: AsyncConnection) -> None:
    """Serialises partition changes across replicas until the transaction ends."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('access:partitions'))"))


async def existing_partitions(conn: AsyncConnection) -> list[Month]:
    rows = await conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
            "WHERE p.relname = 'reads' AND n.nspname = :schema"
        ),
        {"schema": SCHEMA},
    )
    return [m for (name,) in rows if (m := Month.from_partition(name)) is not None]


class PartitionKeeper:
    """Makes sure of a month's partition once per replica: a late or replayed read may need an old one."""

    def __init__(self, owner: AsyncEngine) -> None:
        self._owner = owner
        self._made: set[Month] = set()

    async def ensure(self, month: Month) -> None:
        if month not in self._made:
            await ensure_partitions(self._owner, [month])
            self._made.add(month)
