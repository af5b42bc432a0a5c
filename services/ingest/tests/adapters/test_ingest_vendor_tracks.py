"""The vehicles vendor cameras track, on the real PostgreSQL: a published read is remembered per camera
and vehicle, the newest publish wins a reused id, old ones are forgotten; and the dead letters of
pushes that cannot be read reach the real Kafka with their raw bytes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr.v1 import dlq_pb2
from anpr_core.bus.kafka import KafkaBus
from anpr_core.db import make_engine
from anpr_core.events import Topics
from anpr_core.migrations import migrate
from anpr_ingest.adapters.dead_letters import VendorDeadLetters
from anpr_ingest.adapters.migrations import HISTORY
from anpr_ingest.adapters.vendor_tracks import VendorTracks

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC)


@pytest.fixture
async def engine(database_url: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, "ingest", tmp_path)
    await migrate(engine, None, HISTORY)  # as `anpr migrate ingest`
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_a_reported_vehicle_is_remembered_per_camera_until_forgotten(engine: AsyncEngine) -> None:
    tracks = VendorTracks(engine)
    since = NOW - timedelta(minutes=10)
    assert not await tracks.reported("cam-axis", "123", since)
    await tracks.record("cam-axis", "123", NOW - timedelta(minutes=30))
    assert not await tracks.reported("cam-axis", "123", since)  # a restarted counter's old vehicle
    await tracks.record("cam-axis", "123", NOW)  # the same id again: the newest publish wins
    assert await tracks.reported("cam-axis", "123", since)
    assert not await tracks.reported("cam-other", "123", since)
    assert await tracks.forget_before(since) == 0
    assert await tracks.forget_before(NOW + timedelta(seconds=1)) == 1
    assert not await tracks.reported("cam-axis", "123", since)


async def test_a_dead_letter_keeps_the_raw_push_on_kafka(kafka_bootstrap: str, topic_prefix: str) -> None:
    topics = Topics(topic_prefix)
    bus = KafkaBus(kafka_bootstrap, client_id="test-vendor-dlq")
    await bus.start()
    try:
        await bus.ensure_topics(topics.all())
        raw = b"<EventNotificationAlert><eventType>ANPR"
        await VendorDeadLetters(bus, topics, "5344").keep("cam-hik", "hikvision", raw, "text/xml", "bad_xml")
        consumer = bus.consumer([topics.dlq], topics.group("test-dlq"))
        await consumer.start()
        try:
            records = []
            for _ in range(40):
                records += await consumer.poll(timeout_s=0.5, max_records=10)
                if records:
                    break
        finally:
            await consumer.stop()
    finally:
        await bus.stop()
    [record] = records
    letter = dlq_pb2.DeadLetter()
    letter.ParseFromString(record.value)
    assert (record.key, letter.original_value, letter.original_topic) == (
        b"cam-hik",
        raw,
        "ingest:vendor:hikvision",
    )
    assert "text/xml" in letter.reason


async def test_a_vehicles_later_events_are_not_written_again_within_a_minute(engine: AsyncEngine) -> None:
    tracks = VendorTracks(engine)
    await tracks.record("cam-axis", "7", NOW)
    await tracks.record("cam-axis", "7", NOW + timedelta(seconds=2))  # its UPDATE: no second write
    assert not await tracks.reported("cam-axis", "7", NOW + timedelta(seconds=1))
    await tracks.record("cam-axis", "7", NOW + timedelta(seconds=90))
    assert await tracks.reported("cam-axis", "7", NOW + timedelta(seconds=60))
