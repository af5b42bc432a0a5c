"""The database adapter on real PostgreSQL and on SQLite: idempotent sinks and UTC times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table, select

from anpr_core.db import (
    UtcDateTime,
    insert_ignoring_duplicates,
    make_engine,
    ping,
    session_factory,
)
from anpr_core.testing import create_tables

metadata = MetaData(schema="probe")
events = Table(
    "events",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("at", UtcDateTime(), nullable=False),
)


async def _exercise(url: str | None, data_dir: Path) -> None:
    engine = make_engine(url, "probe", data_dir)
    try:
        assert await ping(engine)
        await create_tables(engine, metadata, "probe")
        await create_tables(engine, metadata, "probe")  # idempotent, as a second replica would
        sessions = session_factory(engine)
        brussels = timezone(timedelta(hours=1))
        moment = datetime(2026, 11, 28, 21, 15, tzinfo=brussels)
        async with sessions.begin() as session:
            first = await insert_ignoring_duplicates(session, events, [{"event_id": "a", "at": moment}])
        async with sessions.begin() as session:
            again = await insert_ignoring_duplicates(
                session, events, [{"event_id": "a", "at": moment}, {"event_id": "b", "at": moment}]
            )
        assert (first, again) == (1, 1)
        async with sessions() as session:
            rows = (await session.execute(select(events).order_by(events.c.event_id))).all()
        assert [r.event_id for r in rows] == ["a", "b"]
        assert rows[0].at == moment and rows[0].at.tzinfo is not None
        assert rows[0].at.utcoffset() == timedelta(0)
        async with sessions() as session:
            later = (await session.execute(select(events.c.event_id).where(events.c.at > moment))).all()
        assert later == []
    finally:
        await engine.dispose()


@pytest.mark.integration
async def test_postgres_sink_is_idempotent_and_keeps_utc(database_url: str, tmp_path: Path) -> None:
    await _exercise(database_url, tmp_path)


async def test_sqlite_sink_is_idempotent_and_keeps_utc(tmp_path: Path) -> None:
    await _exercise(None, tmp_path)


async def test_naive_datetimes_are_refused(tmp_path: Path) -> None:
    engine = make_engine(None, "probe", tmp_path)
    try:
        await create_tables(engine, metadata, "probe")
        with pytest.raises(Exception, match="naive datetime"):
            async with session_factory(engine).begin() as session:
                await session.execute(events.insert().values(event_id="x", at=datetime(2026, 1, 1)))
    finally:
        await engine.dispose()
    assert datetime.now(UTC)
