"""Match's tables (schema `match`): hotlists and their rules, entries as entered, hits as raised."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
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
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from anpr_core.db import UtcDateTime
from anpr_match.domain.entries import Category, Direction, HotlistEntry, ListRules

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

# The column order of a bulk import row (see `store_new_entries`).
ENTRY_COLUMNS: tuple[str, ...] = tuple(c.name for c in hotlist_entries.columns)
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"
# Distinct times formatted once each, up to this many per import.
_TIMES_KEPT = 10_000
# Rows an INSERT binds at once: SQLite takes 32766 parameters from 3.32 on, 999 before.
_ROWS_PER_STATEMENT = min(
    2000, (32766 if sqlite3.sqlite_version_info >= (3, 32) else 999) // len(ENTRY_COLUMNS)
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


async def store_new_entries(
    session: AsyncSession, entries: Sequence[HotlistEntry], created_at: datetime, chunk: int = 20_000
) -> None:
    """Inserts new entries inside the caller's transaction.

    On PostgreSQL through COPY, the fastest bulk path. On SQLite through the driver's executemany,
    with times already in the text UtcDateTime stores there (naive UTC): a file's entries share
    few distinct times, so each is formatted once rather than once a row.
    """
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection

        async def records() -> AsyncIterator[tuple[Any, ...]]:
            for start in range(0, len(entries), chunk):
                for e in entries[start : start + chunk]:
                    yield _entry_row(e, e.valid_from, e.valid_until, created_at)
                await asyncio.sleep(0)  # other requests and consumers run between chunks

        await driver.copy_records_to_table(
            hotlist_entries.name, schema_name=SCHEMA, columns=list(ENTRY_COLUMNS), records=records()
        )
        return
    texts: dict[datetime, str] = {}

    def text_of(moment: datetime | None) -> str | None:
        if moment is None:
            return None
        found = texts.get(moment)
        if found is None:
            found = moment.astimezone(UTC).strftime(_SQLITE_TIME)
            if len(texts) < _TIMES_KEPT:
                texts[moment] = found
        return found

    created = text_of(created_at)
    # Dirty pages stay in memory until the commit rather than being written to the WAL, read back
    # and written again as the indexes grow (a third of the time of a million rows).
    await connection.exec_driver_sql("PRAGMA cache_spill = OFF")
    try:
        await _insert_sqlite_rows(connection, entries, text_of, created, chunk)
    finally:
        await connection.exec_driver_sql("PRAGMA cache_spill = ON")


async def _insert_sqlite_rows(
    connection: AsyncConnection,
    entries: Sequence[HotlistEntry],
    text_of: Callable[[datetime | None], str | None],
    created: str | None,
    chunk: int,
) -> None:
    width = len(ENTRY_COLUMNS)
    for start in range(0, len(entries), chunk):
        values = [
            value
            for e in entries[start : start + chunk]
            for value in _entry_row(e, text_of(e.valid_from), text_of(e.valid_until), created)
        ]
        step = _ROWS_PER_STATEMENT * width
        full = len(values) - len(values) % step
        if full:
            await connection.exec_driver_sql(
                _sqlite_insert(_ROWS_PER_STATEMENT),
                [tuple(values[at : at + step]) for at in range(0, full, step)],
            )
        if full < len(values):
            await connection.exec_driver_sql(
                _sqlite_insert((len(values) - full) // width), tuple(values[full:])
            )


@functools.lru_cache(maxsize=8)
def _sqlite_insert(rows: int) -> str:
    """An INSERT of `rows` rows at once.

    SQLite's thread then takes Python's lock once a statement rather than once a row, so the
    event loop (publishing the same entries) runs beside it instead of each waiting for the other.
    """
    row = f"({', '.join('?' for _ in ENTRY_COLUMNS)})"
    return (
        f"INSERT INTO {hotlist_entries.name} ({', '.join(ENTRY_COLUMNS)}) "  # noqa: S608 - our own names
        f"VALUES {', '.join(row for _ in range(rows))}"
    )


def _entry_row(entry: HotlistEntry, valid_from: Any, valid_until: Any, created_at: Any) -> tuple[Any, ...]:
    """A new entry's row in ENTRY_COLUMNS order, with its times as the dialect takes them."""
    return (
        entry.entry_id,
        entry.plate,
        entry.country,
        entry.list_name,
        entry.category.value,
        entry.priority,
        entry.action,
        valid_from,
        valid_until,
        entry.source_zone,
        entry.reason,
        entry.case_reference,
        entry.entered_by,
        created_at,
        False,
    )
