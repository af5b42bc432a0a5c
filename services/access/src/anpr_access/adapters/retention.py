"""The retention job's SQL: a passage and its reads go together once the passage's first read is past
the cut-off; read partitions wholly past it are dropped where nothing in them is held, the rest
trimmed row by row; hits go with their reads. And the oldest read kept (for the metric)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, exists, false, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from anpr_access.adapters.coverage import held
from anpr_access.adapters.partitions import ensure_partitions, existing_partitions, lock_partitions
from anpr_access.adapters.tables import SCHEMA, hits, holds, passage_reads, passages, reads, time_bounds
from anpr_access.domain.retention import Month, plan_retention
from anpr_core.db import is_postgres

COUNTS = (
    "reads_deleted",
    "reads_kept_on_hold",
    "partitions_dropped",
    "hits_deleted",
    "passages_deleted",
    "passages_kept_on_hold",
)


async def run_retention(engine: AsyncEngine, cutoff: datetime) -> dict[str, int]:
    """Deletes passages first seen, and reads and hits captured, before `cutoff` (with every read of
    such a passage, even one captured just after), except what a legal hold keeps.

    Returns counts: reads_deleted, reads_kept_on_hold, partitions_dropped, hits_deleted,
    passages_deleted, passages_kept_on_hold.
    """
    counts = dict.fromkeys(COUNTS, 0)
    async with engine.begin() as conn:
        kept: Callable[..., ColumnElement[bool]] = held
        if is_postgres(engine):
            # A hold placed or lifted while this runs waits for it (SHARE blocks writes), so what
            # is checked here holds until the end. With no active hold (the common case) nothing
            # needs the coverage test, which looks into every month partition for each row.
            await conn.execute(text(f'LOCK TABLE "{SCHEMA}".holds IN SHARE MODE'))
            if not await conn.scalar(select(exists().where(holds.c.lifted_at.is_(None)))):
                kept = _nothing_held
            await _drop_partitions(conn, cutoff, counts, kept)
        result = await conn.execute(delete(reads).where(reads.c.captured_at < cutoff, ~kept()))
        counts["reads_deleted"] += int(result.rowcount or 0)
        # The reads of an expiring passage captured after the cut-off (a second or so) go with it.
        expiring = select(passages.c.passage_id).where(passages.c.first_seen < cutoff, ~kept(passages))
        last = _moment(
            await conn.scalar(select(func.max(passages.c.last_seen)).where(passages.c.first_seen < cutoff))
        )
        hits_gone = hits.c.captured_at < cutoff
        if last is not None and last >= cutoff:
            _, horizon = time_bounds(cutoff, last)
            result = await conn.execute(
                delete(reads).where(
                    reads.c.captured_at >= cutoff,
                    reads.c.captured_at <= horizon,
                    reads.c.passage_id.in_(expiring),
                    ~kept(),
                )
            )
            counts["reads_deleted"] += int(result.rowcount or 0)
            hits_gone = hits.c.captured_at <= horizon
        result = await conn.execute(delete(passages).where(passages.c.first_seen < cutoff, ~kept(passages)))
        counts["passages_deleted"] = int(result.rowcount or 0)
        await conn.execute(
            delete(passage_reads).where(
                passage_reads.c.first_seen < cutoff,
                ~exists().where(passages.c.passage_id == passage_reads.c.passage_id),
            )
        )
        counts["reads_kept_on_hold"] = await _count(conn, reads, reads.c.captured_at < cutoff)
        counts["passages_kept_on_hold"] = await _count(conn, passages, passages.c.first_seen < cutoff)
        hit_rows = await conn.execute(
            delete(hits).where(
                hits_gone,
                # A hit stays while its read does (a held read keeps its hits).
                ~exists().where(reads.c.event_id == hits.c.read_event_id),
            )
        )
        counts["hits_deleted"] = int(hit_rows.rowcount or 0)
    return counts


def _nothing_held(table: Table = reads) -> ColumnElement[bool]:
    return false()


async def _drop_partitions(
    conn: AsyncConnection, cutoff: datetime, counts: dict[str, int], kept: Callable[..., ColumnElement[bool]]
) -> None:
    await lock_partitions(conn)
    months = await existing_partitions(conn)
    held_months = set()
    for month in months:
        if month.end <= cutoff:
            any_held = await conn.scalar(
                select(
                    exists().where(
                        reads.c.captured_at >= month.start, reads.c.captured_at < month.end, kept()
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


async def _count(conn: AsyncConnection, table: Any, condition: Any) -> int:
    return int(await conn.scalar(select(func.count()).select_from(table).where(condition)) or 0)


def _moment(value: Any) -> datetime | None:
    if isinstance(value, str):  # SQLite aggregates lose the column type
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value if isinstance(value, datetime) else None


async def oldest_read(engine: AsyncEngine) -> datetime | None:
    async with engine.connect() as conn:
        return _moment(await conn.scalar(select(func.min(reads.c.captured_at))))


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
