"""The retention job's SQL: month partitions dropped whole where nothing in them is held, the rest
trimmed row by row, hits deleted with their reads; and the oldest read kept (for the metric)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, exists, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_access.adapters.partitions import ensure_partitions, existing_partitions, lock_partitions
from anpr_access.adapters.tables import SCHEMA, held, hits, reads
from anpr_access.domain.retention import Month, plan_retention
from anpr_core.db import is_postgres


async def run_retention(engine: AsyncEngine, cutoff: datetime) -> dict[str, int]:
    """Deletes reads and hits captured before `cutoff`, except rows under a legal hold.

    Returns counts: reads_deleted, reads_kept_on_hold, partitions_dropped, hits_deleted.
    """
    counts = {"reads_deleted": 0, "reads_kept_on_hold": 0, "partitions_dropped": 0, "hits_deleted": 0}
    async with engine.begin() as conn:
        if is_postgres(engine):
            await lock_partitions(conn)
            months = await existing_partitions(conn)
            held_months = set()
            for month in months:
                if month.end <= cutoff:
                    any_held = await conn.scalar(
                        select(
                            exists().where(
                                reads.c.captured_at >= month.start, reads.c.captured_at < month.end, held()
                            )
                        )
                    )
                    if any_held:
                        held_months.add(month)
            plan = plan_retention(months, cutoff, held_months)
            for month in plan.drop:
                # Counting first keeps the audit event truthful; a month is one index-only scan.
                count = await conn.scalar(text(f'SELECT count(*) FROM "{SCHEMA}"."{month.partition}"'))  # noqa: S608
                await conn.execute(text(f'DROP TABLE "{SCHEMA}"."{month.partition}"'))
                counts["reads_deleted"] += int(count or 0)
                counts["partitions_dropped"] += 1
        result = await conn.execute(delete(reads).where(reads.c.captured_at < cutoff, ~held()))
        counts["reads_deleted"] += int(result.rowcount or 0)
        counts["reads_kept_on_hold"] = int(
            await conn.scalar(select(func.count()).select_from(reads).where(reads.c.captured_at < cutoff))
            or 0
        )
        hit_rows = await conn.execute(
            delete(hits).where(
                hits.c.captured_at < cutoff,
                # A hit stays while its read does (a held read keeps its hits).
                ~exists().where(reads.c.event_id == hits.c.read_event_id),
            )
        )
        counts["hits_deleted"] = int(hit_rows.rowcount or 0)
    return counts


async def oldest_read(engine: AsyncEngine) -> datetime | None:
    async with engine.connect() as conn:
        value = await conn.scalar(select(func.min(reads.c.captured_at)))
    if isinstance(value, str):  # SQLite aggregates lose the column type
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value if isinstance(value, datetime) else None


class RetentionStore:
    """The retention job's port on the owner role's engine (partitions are DDL)."""

    def __init__(self, owner: AsyncEngine) -> None:
        self._owner = owner

    async def ensure_partitions(self, months: list[Month]) -> None:
        await ensure_partitions(self._owner, months)

    async def delete_expired(self, cutoff: datetime) -> dict[str, int]:
        return await run_retention(self._owner, cutoff)

    async def oldest_read(self) -> datetime | None:
        return await oldest_read(self._owner)
