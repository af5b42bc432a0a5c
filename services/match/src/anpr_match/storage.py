"""Match's tables (schema `match`): hotlists and their rules, entries as entered, hits as raised."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from anpr_core.db import UtcDateTime
from anpr_match.domain import Category, Direction, HotlistEntry, ListRules

SCHEMA = "match"
metadata = MetaData(schema=SCHEMA)

hotlists = Table(
    "hotlists",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("category", String(32), nullable=False),
    Column("max_substitutions", Integer, nullable=False),
    Column("allow_edit", Boolean, nullable=False),
    # Comma-separated; empty = any.
    Column("directions", String(16), nullable=False, default=""),
    Column("active_from", String(5), nullable=True),
    Column("active_until", String(5), nullable=True),
    Column("timezone", String(64), nullable=False),
    Column("camera_ids", Text, nullable=False, default=""),
    Column("description", String(500), nullable=False, default=""),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

hotlist_entries = Table(
    "hotlist_entries",
    metadata,
    Column("entry_id", String(36), primary_key=True),
    Column("plate", String(16), nullable=False, index=True),
    Column("country", String(2), nullable=False, default=""),
    Column("list_name", String(64), nullable=False, index=True),
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

# The column order of a bulk import row (see `import_rows`).
ENTRY_COLUMNS: tuple[str, ...] = tuple(c.name for c in hotlist_entries.columns)
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"

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
    # Comma-separated 0-based positions in the listed plate.
    Column("differing_positions", String(64), nullable=False, default=""),
    Column("score", Float, nullable=False),
    Column("list_name", String(64), nullable=False),
    Column("category", String(32), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("action", String(200), nullable=False),
    Column("direction", String(8), nullable=False, default="unknown"),
    Column("from_lookback", Boolean, nullable=False, default=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # The operator's verdict: confirmed, false_alarm or not_seen; null until acknowledged.
    Column("ack_outcome", String(16), nullable=True),
    Column("ack_reason", String(500), nullable=True),
    Column("ack_by", String(200), nullable=True),
    Column("ack_at", UtcDateTime(), nullable=True),
    UniqueConstraint("read_event_id", "entry_id", name="hits_one_per_read_and_entry"),
    Index("hits_by_list_and_camera", "list_name", "camera_id"),
)


def entry_of(mapping: Mapping[Any, Any]) -> HotlistEntry:
    fields = {k: v for k, v in mapping.items() if k in HotlistEntry.__dataclass_fields__}
    fields["category"] = Category(fields["category"])
    return HotlistEntry(**fields)


def rules_row(rules: ListRules) -> dict[str, Any]:
    return {
        "name": rules.name,
        "category": rules.category.value,
        "max_substitutions": rules.max_substitutions,
        "allow_edit": rules.allow_edit,
        "directions": ",".join(sorted(d.value for d in rules.directions)),
        "active_from": rules.active_from.strftime("%H:%M") if rules.active_from else None,
        "active_until": rules.active_until.strftime("%H:%M") if rules.active_until else None,
        "timezone": rules.timezone,
        "camera_ids": ",".join(sorted(rules.camera_ids)),
        "description": rules.description,
    }


def rules_of(mapping: Mapping[Any, Any]) -> ListRules:
    return ListRules(
        name=mapping["name"],
        category=Category(mapping["category"]),
        max_substitutions=mapping["max_substitutions"],
        allow_edit=mapping["allow_edit"],
        directions=frozenset(Direction(d) for d in mapping["directions"].split(",") if d),
        active_from=time.fromisoformat(mapping["active_from"]) if mapping["active_from"] else None,
        active_until=time.fromisoformat(mapping["active_until"]) if mapping["active_until"] else None,
        timezone=mapping["timezone"],
        camera_ids=frozenset(c for c in mapping["camera_ids"].split(",") if c),
        description=mapping["description"],
    )


async def load_rules(sessions: async_sessionmaker[AsyncSession]) -> list[ListRules]:
    async with sessions() as session:
        rows = (await session.execute(select(hotlists))).all()
    return [rules_of(row._mapping) for row in rows]


async def load_entries(sessions: async_sessionmaker[AsyncSession]) -> list[HotlistEntry]:
    """Entries in the database, for warming the index in the embedded mode.

    There the in-process topic starts empty at every run while SQLite keeps the entries. On
    Kafka every replica rebuilds its index from the compacted topic alone.
    """
    async with sessions() as session:
        rows = (
            await session.execute(select(hotlist_entries).where(hotlist_entries.c.deleted.is_(False)))
        ).all()
    return [entry_of(row._mapping) for row in rows]


async def import_rows(session: AsyncSession, rows: Sequence[tuple[Any, ...]], chunk: int = 20_000) -> None:
    """Inserts entry rows (in ENTRY_COLUMNS order) inside the caller's transaction.

    On PostgreSQL through COPY, the fastest bulk path; elsewhere in chunks of executemany.
    """
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        await driver.copy_records_to_table(
            hotlist_entries.name, schema_name=SCHEMA, columns=list(ENTRY_COLUMNS), records=rows
        )
        return
    # SQLite through the driver's executemany, in the storage format UtcDateTime uses (naive UTC).
    statement = (
        f"INSERT INTO {hotlist_entries.name} ({', '.join(ENTRY_COLUMNS)}) "  # noqa: S608 - our own names
        f"VALUES ({', '.join('?' for _ in ENTRY_COLUMNS)})"
    )
    for start in range(0, len(rows), chunk):
        await connection.exec_driver_sql(statement, [_sqlite_row(row) for row in rows[start : start + chunk]])


def _sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(
        value.astimezone(UTC).strftime(_SQLITE_TIME) if isinstance(value, datetime) else value
        for value in row
    )
