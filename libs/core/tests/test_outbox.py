"""The outbox on SQLite (embedded) and on real PostgreSQL: staged with the change, published in
order, at least once; a relay that dies between publish and mark publishes again, and an
idempotent consumer keeps one copy."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from sqlalchemy import Column, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from anpr_core.bus import MemoryBus, OutgoingRecord, Record
from anpr_core.db import insert_ignoring_duplicates, make_engine
from anpr_core.outbox import Outbox, OutboxRelay
from anpr_core.testing import create_tables

SCHEMA = "outboxtest"
TOPIC = "test.outbox"


class Crash(BaseException):
    """The relay's process dying: not an Exception, nothing catches it."""


class CrashAfterPublish:
    """A bus that publishes, then kills the relay before it can mark the rows sent."""

    def __init__(self, inner: MemoryBus) -> None:
        self._inner = inner

    async def publish_many(self, records: Sequence[OutgoingRecord]) -> None:
        await self._inner.publish_many(records)
        raise Crash

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


class Service:
    """A tiny service: hotlist entries, each change staged as an event in the same transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.metadata = MetaData(schema=SCHEMA)
        self.entries = Table("entries", self.metadata, Column("plate", String(16), primary_key=True))
        # The consumer's idempotent sink, keyed on the event id.
        self.seen = Table("seen", self.metadata, Column("event_id", String(36), primary_key=True))
        self.outbox = Outbox(self.metadata)
        self.engine = engine
        self.sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(engine, expire_on_commit=False)

    async def add(self, plate: str, *, fail: bool = False) -> str:
        event_id = str(uuid.uuid4())
        async with self.sessions.begin() as session:
            await session.execute(self.entries.insert().values(plate=plate))
            await self.outbox.stage(session, TOPIC, plate.encode(), event_id.encode())
            if fail:
                raise RuntimeError("the change failed after staging")
        return event_id

    async def consume(self, records: list[Record]) -> int:
        async with self.sessions.begin() as session:
            return await insert_ignoring_duplicates(
                session, self.seen, [{"event_id": r.value.decode()} for r in records]
            )

    async def count(self, table: Table) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def read_all(bus: MemoryBus) -> list[Record]:
    consumer = bus.consumer([TOPIC], f"reader-{uuid.uuid4()}")
    await consumer.start()
    taken: list[Record] = []
    try:
        while batch := await consumer.poll(timeout_s=0.02, max_records=10_000):
            taken.extend(batch)
    finally:
        await consumer.stop()
    return taken


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def backend(request: pytest.FixtureRequest) -> str | None:
    """None for SQLite, else a fresh PostgreSQL database."""
    url: str | None = request.getfixturevalue("database_url") if request.param == "postgresql" else None
    return url


@pytest.fixture
async def service(backend: str | None, tmp_path: Path) -> AsyncIterator[Service]:
    engine = make_engine(backend, SCHEMA, tmp_path)
    created = Service(engine)
    await create_tables(engine, created.metadata, SCHEMA)
    try:
        yield created
    finally:
        await engine.dispose()


async def test_staged_events_are_published_in_order_and_marked_sent(service: Service) -> None:
    bus = MemoryBus(partitions=1)
    ids = [await service.add(f"1ABC{n:03d}") for n in range(25)]
    relay = OutboxRelay(service.engine, service.outbox, bus, service="test", batch=10)
    assert await service.outbox.pending(service.engine) == 25
    assert await relay.drain() == 25
    assert [r.value.decode() for r in await read_all(bus)] == ids
    assert await service.outbox.pending(service.engine) == 0
    assert await relay.drain() == 0, "nothing is published twice in normal operation"


async def test_a_change_that_rolls_back_stages_nothing(service: Service) -> None:
    bus = MemoryBus(partitions=1)
    kept = await service.add("1ABC001")
    with pytest.raises(RuntimeError):
        await service.add("1ABC002", fail=True)
    await OutboxRelay(service.engine, service.outbox, bus, service="test").drain()
    assert [r.value.decode() for r in await read_all(bus)] == [kept]
    assert await service.count(service.entries) == 1


async def test_a_relay_dying_between_publish_and_mark_publishes_again_and_the_consumer_dedupes(
    service: Service,
) -> None:
    bus = MemoryBus(partitions=1)
    ids = [await service.add(f"1ABC{n:03d}") for n in range(5)]
    doomed = OutboxRelay(service.engine, service.outbox, CrashAfterPublish(bus), service="test")  # type: ignore[arg-type]
    with pytest.raises(Crash):
        await doomed.relay_once()
    assert await service.outbox.pending(service.engine) == 5, "the mark was never committed"

    await OutboxRelay(service.engine, service.outbox, bus, service="test").drain()
    delivered = await read_all(bus)
    assert [r.value.decode() for r in delivered] == ids + ids, "at least once: published twice"
    assert await service.consume(delivered) == 5
    assert await service.count(service.seen) == 5
    assert await service.outbox.pending(service.engine) == 0


async def test_the_background_relay_publishes_what_is_staged(service: Service) -> None:
    bus = MemoryBus(partitions=1)
    relay = OutboxRelay(service.engine, service.outbox, bus, service="test", interval_s=5.0)
    relay.start()
    try:
        event_id = await service.add("1ABC001")
        relay.wake()
        for _ in range(200):
            if await service.outbox.pending(service.engine) == 0:
                break
            await asyncio.sleep(0.01)
    finally:
        await relay.stop()
    assert [r.value.decode() for r in await read_all(bus)] == [event_id]


async def test_a_bulk_stage_keeps_order_and_headers_and_rolls_back_whole(service: Service) -> None:
    bus = MemoryBus(partitions=1)
    marked = (("schild-kind", b"list"), ("schild-indexed-by", bytes(range(256))))
    records = [
        OutgoingRecord(TOPIC, f"k{n}".encode(), str(uuid.uuid4()).encode(), marked if n % 2 else ())
        for n in range(2500)
    ]
    with pytest.raises(RuntimeError):
        async with service.sessions.begin() as session:
            await service.outbox.stage_many(session, records[:10], chunk=3)
            raise RuntimeError("the change failed after staging")
    assert await service.outbox.pending(service.engine) == 0
    async with service.sessions.begin() as session:
        await service.outbox.stage_many(session, records, chunk=1000)
        await service.outbox.stage(session, TOPIC, b"last", b"one more", headers=marked)
    relay = OutboxRelay(service.engine, service.outbox, bus, service="test", batch=700)
    assert await relay.drain() == 2501
    published = await read_all(bus)
    assert [(r.key, r.value, r.headers) for r in published] == [
        *((r.key, r.value, r.headers) for r in records),
        (b"last", b"one more", marked),
    ]


@pytest.mark.integration
async def test_several_relays_on_postgresql_publish_each_row_once_in_order(
    database_url: str, tmp_path: Path
) -> None:
    engines = [make_engine(database_url, SCHEMA, tmp_path) for _ in range(3)]
    service = Service(engines[0])
    await create_tables(engines[0], service.metadata, SCHEMA)
    bus = MemoryBus(partitions=1)
    try:
        ids = []
        for start in range(0, 300, 50):
            async with service.sessions.begin() as session:
                for _ in range(start, start + 50):
                    event_id = str(uuid.uuid4())
                    await service.outbox.stage(session, TOPIC, b"one-key", event_id.encode())
                    ids.append(event_id)
        relays = [OutboxRelay(engine, service.outbox, bus, service="test", batch=20) for engine in engines]

        async def run(relay: OutboxRelay) -> None:
            while await service.outbox.pending(service.engine):
                await relay.relay_once()
                await asyncio.sleep(0)

        await asyncio.gather(*(run(relay) for relay in relays))
        assert [r.value.decode() for r in await read_all(bus)] == ids
    finally:
        for engine in engines:
            await engine.dispose()
