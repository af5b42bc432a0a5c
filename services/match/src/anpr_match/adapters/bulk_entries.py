"""A bulk import's rows, inserted inside the caller's transaction: COPY on PostgreSQL, multi-row
INSERTs on SQLite."""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from anpr_match.adapters.tables import ENTRY_COLUMNS, SCHEMA, hotlist_entries
from anpr_match.domain.entries import HotlistEntry

_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"
# Distinct times formatted once each, up to this many per import.
_TIMES_KEPT = 10_000
# Rows an INSERT binds at once: SQLite takes 32766 parameters from 3.32 on, 999 before.
_ROWS_PER_STATEMENT = min(
    2000, (32766 if sqlite3.sqlite_version_info >= (3, 32) else 999) // len(ENTRY_COLUMNS)
)


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
        # The driver opens the transaction at the first statement SQLAlchemy sends; COPY goes to
        # the driver directly, and would commit alone as the transaction's first statement.
        await connection.exec_driver_sql("SELECT 1")
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection

        async def records() -> AsyncIterator[tuple[Any, ...]]:
            for start in range(0, len(entries), chunk):
                for e in entries[start : start + chunk]:
                    yield _entry_row(e, e.valid_from, e.valid_until, created_at)
                await asyncio.sleep(0)  # other requests and consumers run between chunks

        try:
            await driver.copy_records_to_table(
                hotlist_entries.name, schema_name=SCHEMA, columns=list(ENTRY_COLUMNS), records=records()
            )
        except Exception as error:
            # As SQLAlchemy reports the driver's failures of every other statement: a passing
            # failure is a 503, any other a 500, both problem+json.
            raise DBAPIError(f"COPY {hotlist_entries.name}", None, error) from error
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
