"""Batched publish-once intake on the real PostgreSQL: intakes that arrive together share one dedupe
transaction, each still gets its own answer, and a publish without an acknowledgement keeps its own
claim, unconfirmed: a resend is published again under the same event id, never answered as stored."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_core.bus import BusUnavailable
from anpr_core.db import make_engine
from anpr_core.migrations import migrate
from anpr_ingest.adapters.dedupe import IntakeClaims, IntakeDedupe
from anpr_ingest.adapters.migrations import HISTORY
from anpr_ingest.adapters.publish_once import IntakeBatcher, PublishUnconfirmed
from anpr_ingest.adapters.tables import intake_dedupe
from anpr_ingest.domain.errors import DedupeUnavailable
from anpr_ingest.domain.intake import Intake, IntakeEntry

NOW = datetime.now(UTC)


class GatedBus:
    """Records what it takes; holds every publish until the gate opens, refuses the values in `refuse`."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.published: list[bytes] = []
        self.refuse: set[bytes] = set()

    async def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        await self.gate.wait()
        if value in self.refuse:
            raise BusUnavailable("broker did not acknowledge")
        self.published.append(value)


class CountingDedupe(IntakeDedupe):
    """The real dedupe table, counting its transactions and the batch sizes."""

    def __init__(self, engine: AsyncEngine) -> None:
        super().__init__(engine)
        self.batches: list[int] = []

    @asynccontextmanager
    async def claim_batch(self, entries: Sequence[IntakeEntry]) -> AsyncIterator[IntakeClaims]:
        self.batches.append(len(entries))
        async with super().claim_batch(entries) as claims:
            yield claims


@pytest.fixture
async def engine(database_url: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, "ingest", tmp_path)
    await migrate(engine, None, HISTORY)  # as `anpr migrate ingest`
    try:
        yield engine
    finally:
        await engine.dispose()


def intake(name: str, captured_at: datetime = NOW) -> Intake:
    """A frame of camera cam-1 whose content (and so digest) is `name`; a fresh event id each time."""
    entry = IntakeEntry("cam-1", captured_at, name.ljust(64, "0"), str(uuid.uuid4()), NOW)
    return Intake(entry, "frames", b"cam-1", name.encode())


async def test_intakes_arriving_together_share_one_claim_and_each_gets_its_answer(
    engine: AsyncEngine,
) -> None:
    bus = GatedBus()
    dedupe = CountingDedupe(engine)
    batcher = IntakeBatcher(dedupe, bus, max_batch=64, max_in_flight=1)
    first = asyncio.ensure_future(batcher.submit(intake("a")))
    await asyncio.sleep(0.2)  # the first batch holds the only slot, waiting for the broker
    later = [intake(name) for name in "bcde"]
    rest = [asyncio.ensure_future(batcher.submit(i)) for i in later]
    await asyncio.sleep(0)
    bus.gate.set()
    assert await asyncio.gather(first, *rest) == [None] * 5
    assert dedupe.batches == [1, 4]
    assert sorted(bus.published) == [b"a", b"b", b"c", b"d", b"e"]
    # Committed: the same frames again are duplicates, answered with their first event ids.
    assert await batcher.submit(intake("c")) == later[1].entry.event_id


async def test_the_same_frame_twice_at_once_is_published_once(engine: AsyncEngine) -> None:
    bus = GatedBus()
    batcher = IntakeBatcher(IntakeDedupe(engine), bus, max_batch=64, max_in_flight=4)
    one, other = intake("a"), intake("a")
    answers = asyncio.gather(batcher.submit(one), batcher.submit(other))
    await asyncio.sleep(0.2)
    bus.gate.set()
    assert list(await answers) == [None, one.entry.event_id]
    assert bus.published == [b"a"]


async def test_a_refused_publish_leaves_only_its_own_claim_unconfirmed(engine: AsyncEngine) -> None:
    bus = GatedBus()
    bus.refuse = {b"b"}
    dedupe = CountingDedupe(engine)
    batcher = IntakeBatcher(dedupe, bus, max_batch=64, max_in_flight=1)
    blocker = asyncio.ensure_future(batcher.submit(intake("z")))
    await asyncio.sleep(0.2)
    sent = [intake(name) for name in "abc"]
    answers = asyncio.gather(*(batcher.submit(i) for i in sent), return_exceptions=True)
    await asyncio.sleep(0)
    bus.gate.set()
    results = await answers
    await blocker
    assert dedupe.batches == [1, 3]
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], BusUnavailable)
    assert isinstance(results[1], PublishUnconfirmed) and results[1].event_id == sent[1].entry.event_id
    assert sorted(bus.published) == [b"a", b"c", b"z"]
    assert await claims_of(engine) == {"a": True, "b": False, "c": True, "z": True}
    # The camera's retry of the refused frame is taken; the others are duplicates.
    bus.refuse = set()
    assert await batcher.submit(intake("b")) is None
    assert await batcher.submit(intake("a")) == sent[0].entry.event_id


async def test_an_old_frame_at_another_time_is_another_frame(engine: AsyncEngine) -> None:
    bus = GatedBus()
    bus.gate.set()
    batcher = IntakeBatcher(IntakeDedupe(engine), bus, max_batch=64, max_in_flight=2)
    assert await batcher.submit(intake("a")) is None
    assert await batcher.submit(intake("a", NOW + timedelta(seconds=1))) is None
    assert bus.published == [b"a", b"a"]


async def test_nothing_is_published_when_the_dedupe_table_does_not_answer(tmp_path: Path) -> None:
    engine = make_engine(None, "ingest", tmp_path)  # no schema: every claim fails
    bus = GatedBus()
    bus.gate.set()
    try:
        batcher = IntakeBatcher(IntakeDedupe(engine), bus, max_batch=64, max_in_flight=2)
        with pytest.raises(DedupeUnavailable):
            await batcher.submit(intake("a"))
        assert bus.published == []
    finally:
        await engine.dispose()


async def claims_of(engine: AsyncEngine) -> dict[str, bool]:
    """The dedupe table: each frame's content (its digest's name) and whether Kafka acknowledged it."""
    async with engine.connect() as connection:
        rows = (await connection.execute(select(intake_dedupe.c.sha256, intake_dedupe.c.published))).all()
    return {sha256.rstrip("0"): published for sha256, published in rows}


class LateAckBus(GatedBus):
    """Takes every record (it is in Kafka), but acknowledges none while `late` is set: a timeout."""

    late = True

    async def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        await super().publish(topic, key, value, headers)
        if self.late:
            raise BusUnavailable("Kafka did not acknowledge the record within 10.0s")


async def test_an_unacknowledged_publish_keeps_its_claim_and_its_resend_goes_out_under_the_same_id(
    engine: AsyncEngine,
) -> None:
    bus = LateAckBus()
    bus.gate.set()
    batcher = IntakeBatcher(IntakeDedupe(engine), bus, max_batch=64, max_in_flight=2)
    first = intake("a")
    with pytest.raises(PublishUnconfirmed) as unconfirmed:
        await batcher.submit(first)
    assert unconfirmed.value.event_id == first.entry.event_id
    assert await claims_of(engine) == {"a": False}  # kept, not released: it may be in Kafka
    bus.late = False
    resend = Intake(first.entry, first.topic, first.key, first.value)
    assert await batcher.submit(resend) is None  # published again, not taken for a stored one
    assert await claims_of(engine) == {"a": True}
    assert await batcher.submit(resend) == first.entry.event_id  # now a duplicate
    assert bus.published == [b"a", b"a"]  # twice in Kafka, one event id: the sinks keep one


async def test_two_replicas_resending_an_unconfirmed_frame_at_once_publish_it_once(
    database_url: str, tmp_path: Path, engine: AsyncEngine
) -> None:
    """Each replica with its own connection pool on the same table: one takes the unconfirmed claim
    over (its row locked until its publish is acknowledged); the other waits, then finds it stored."""
    late = LateAckBus()
    late.gate.set()
    first = intake("a")
    with pytest.raises(PublishUnconfirmed):
        await IntakeBatcher(IntakeDedupe(engine), late, max_batch=64, max_in_flight=1).submit(first)
    other_engine = make_engine(database_url, "ingest", tmp_path)
    try:
        buses = [GatedBus(), GatedBus()]
        replicas = [
            IntakeBatcher(IntakeDedupe(e), bus, max_batch=64, max_in_flight=1)
            for e, bus in zip((engine, other_engine), buses, strict=True)
        ]
        answers = asyncio.gather(*(replica.submit(first) for replica in replicas))
        await asyncio.sleep(0.3)  # both claims issued; one holds the row, the other waits on it
        for bus in buses:
            bus.gate.set()
        assert sorted(await answers, key=str) == sorted([None, first.entry.event_id], key=str)
        assert sorted(len(bus.published) for bus in buses) == [0, 1]
        assert await claims_of(engine) == {"a": True}
    finally:
        await other_engine.dispose()


async def test_a_dedupe_table_of_the_earlier_version_gets_its_column_and_its_rows_count_as_stored(
    engine: AsyncEngine,
) -> None:
    """On PostgreSQL, a database an unversioned release before 442a33f made: `anpr migrate ingest`
    adopts it and adds the column in place; rows written before were all acknowledged ones."""
    async with engine.begin() as connection:
        await connection.execute(text("ALTER TABLE ingest.intake_dedupe DROP COLUMN published"))
        await connection.execute(text("DROP TABLE ingest.alembic_version"))
        await connection.execute(
            text(
                "INSERT INTO ingest.intake_dedupe (camera_id, captured_at, sha256, event_id, created_at) "
                "VALUES ('cam-1', :at, :sha, 'old-event-id', :at)"
            ),
            {"at": NOW, "sha": "a".ljust(64, "0")},
        )
    assert await migrate(engine, None, HISTORY) == (None, HISTORY.head)
    assert await migrate(engine, None, HISTORY) == (HISTORY.head, HISTORY.head)
    assert await claims_of(engine) == {"a": True}
    bus = GatedBus()
    bus.gate.set()
    batcher = IntakeBatcher(IntakeDedupe(engine), bus, max_batch=64, max_in_flight=1)
    assert await batcher.submit(intake("a")) == "old-event-id"
    assert bus.published == []
