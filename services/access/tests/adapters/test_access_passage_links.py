"""The link between a read and its passage, on the database: made by whichever of the two is stored
second, also when both are stored at the same moment by two consumers; and a reads table of an
earlier version gets its passage_id column from migration 0002."""

from __future__ import annotations

import asyncio
import random
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select

from anpr_access.adapters.intake import IntakeStore
from anpr_access.adapters.migrations import HISTORY
from anpr_access.adapters.partitions import make_partitions_ahead
from anpr_access.adapters.tables import SCHEMA, reads
from anpr_access.domain.records import PassageRecord, ReadRecord
from anpr_core.db import is_postgres, make_engine
from anpr_core.migrations import migrate, upgrade

pytestmark = pytest.mark.usefixtures("no_anpr_environment")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def database(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("database_url")
    return url


def read(camera_id: str, at: datetime) -> ReadRecord:
    return ReadRecord(
        event_id=str(uuid.uuid4()),
        zone_id="5344",
        camera_id=camera_id,
        captured_at=at,
        direction="in",
        plate="1ABC234",
        plate_key="1A8C234",
        formatted="1-ABC-234",
        country="BE",
        format_valid=True,
        confidence=0.9,
        candidates=[],
        box=[0, 0, 0, 0],
        frame_event_id="",
        camera_read=True,
        reader="camera",
        plate_crop=None,
        overview=None,
    )


def passage_of(frames: list[ReadRecord]) -> PassageRecord:
    return PassageRecord(
        passage_id=f"{frames[0].camera_id}:{frames[0].event_id}",
        event_id=str(uuid.uuid4()),
        zone_id="5344",
        camera_id=frames[0].camera_id,
        direction="in",
        first_seen=frames[0].captured_at,
        last_seen=frames[-1].captured_at,
        plate="1ABC234",
        plate_key="1A8C234",
        formatted="1-ABC-234",
        country="BE",
        confidence=0.9,
        read_ids=tuple(f.event_id for f in frames),
    )


async def test_reads_and_passages_stored_at_once_are_all_linked(database: str | None, tmp_path: Path) -> None:
    engine = make_engine(database, "access", tmp_path)
    now = datetime.now(UTC)
    try:
        await migrate(engine, None, HISTORY)  # `anpr migrate access`
        await make_partitions_ahead(engine, now)
        rng = random.Random(3)
        cars = []
        for n in range(30):
            first = now - timedelta(minutes=n)
            cars.append([read(f"cam-{n % 4}", first + timedelta(seconds=0.4 * k)) for k in range(3)])
        # Two stores, as the reads and the passages consumers have, writing in an interleaved order.
        reads_side, passages_side = IntakeStore(engine, engine), IntakeStore(engine, engine)
        work = [reads_side.add_read(r) for frames in cars for r in frames]
        work += [passages_side.add_passage(passage_of(frames)) for frames in cars]
        rng.shuffle(work)
        await asyncio.gather(*work)
        async with engine.connect() as conn:
            links = dict((await conn.execute(select(reads.c.event_id, reads.c.passage_id))).all())
        assert links == {r.event_id: passage_of(frames).passage_id for frames in cars for r in frames}
    finally:
        await engine.dispose()


async def test_a_reads_table_of_an_earlier_version_gets_its_passage_column(
    database: str | None, tmp_path: Path
) -> None:
    engine = make_engine(database, "access", tmp_path)
    now = datetime.now(UTC)
    try:
        # The previous release's tables (revision 0001), holding a read, then `anpr migrate access`.
        assert await upgrade(engine, HISTORY, "0001") == (None, "0001")
        await make_partitions_ahead(engine, now)
        old = read("cam-0", now)
        async with engine.begin() as conn:  # the columns of 0001 only: no passage_id
            await conn.execute(reads.insert(), {**asdict(old), "stored_at": now})
        assert await migrate(engine, None, HISTORY) == ("0001", HISTORY.head)

        def columns(connection: object) -> set[str]:
            schema = SCHEMA if is_postgres(engine) else None
            return {c["name"] for c in inspect(connection).get_columns("reads", schema=schema)}

        async with engine.connect() as conn:
            assert "passage_id" in await conn.run_sync(columns)
        async with engine.connect() as conn:
            assert (
                await conn.execute(select(reads.c.passage_id).where(reads.c.event_id == old.event_id))
            ).all() == [(None,)], "a read stored before belongs to no passage"
        frames = [read("cam-1", now)]
        store = IntakeStore(engine, engine)
        await store.add_read(frames[0])
        await store.add_passage(passage_of(frames))
        async with engine.connect() as conn:
            linked = select(reads.c.passage_id).where(reads.c.event_id == frames[0].event_id)
            assert await conn.scalar(linked) == passage_of(frames).passage_id
    finally:
        await engine.dispose()
