"""Match's tables (schema `match`): hotlist entries as entered, and hits as raised."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Boolean, Column, Float, Integer, MetaData, String, Table, UniqueConstraint, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from anpr_core.db import UtcDateTime
from anpr_match.domain import Category, HotlistEntry

SCHEMA = "match"
metadata = MetaData(schema=SCHEMA)

hotlist_entries = Table(
    "hotlist_entries",
    metadata,
    Column("entry_id", String(36), primary_key=True),
    Column("plate", String(16), nullable=False, index=True),
    Column("country", String(2), nullable=False, default=""),
    Column("list_name", String(64), nullable=False),
    Column("category", String(32), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("action", String(200), nullable=False),
    Column("valid_from", UtcDateTime(), nullable=False),
    Column("valid_until", UtcDateTime(), nullable=True),
    Column("source_zone", String(32), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("case_reference", String(100), nullable=False),
    Column("entered_by", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
)

hits = Table(
    "hits",
    metadata,
    Column("hit_id", String(36), primary_key=True),
    Column("read_event_id", String(36), nullable=False),
    Column("entry_id", String(36), nullable=False),
    Column("camera_id", String(64), nullable=False),
    Column("captured_at", UtcDateTime(), nullable=False, index=True),
    Column("plate_read", String(16), nullable=False),
    Column("plate_listed", String(16), nullable=False),
    Column("match_kind", String(16), nullable=False),
    Column("score", Float, nullable=False),
    Column("list_name", String(64), nullable=False),
    Column("category", String(32), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("action", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("read_event_id", "entry_id", name="hits_one_per_read_and_entry"),
)


def entry_of(mapping: Mapping[Any, Any]) -> HotlistEntry:
    fields = {k: v for k, v in mapping.items() if k in HotlistEntry.__dataclass_fields__}
    fields["category"] = Category(fields["category"])
    return HotlistEntry(**fields)


async def load_entries(sessions: async_sessionmaker[AsyncSession]) -> list[HotlistEntry]:
    """Entries in the database, for warming the index before the hotlist topic is replayed.

    In the embedded mode the in-process topic starts empty at every run while SQLite keeps the
    entries; on Kafka the topic replay that follows brings the same entries again (idempotent).
    """
    async with sessions() as session:
        rows = (
            await session.execute(select(hotlist_entries).where(hotlist_entries.c.deleted.is_(False)))
        ).all()
    return [entry_of(row._mapping) for row in rows]
