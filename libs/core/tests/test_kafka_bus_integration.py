"""KafkaBus against the real broker: durable publish, groups, commit-after-processing, DLQ."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from anpr.v1 import dlq_pb2, read_pb2
from anpr_core.bus import Consumer, Record
from anpr_core.bus.kafka import KafkaBus
from anpr_core.consume import ConsumerWorker, PoisonMessage
from anpr_core.events import Topics, new_meta

pytestmark = pytest.mark.integration


async def _poll_until(consumer: Consumer, want: int, timeout_s: float = 30.0) -> list[Record]:
    got: list[Record] = []
    deadline = time.monotonic() + timeout_s
    while len(got) < want and time.monotonic() < deadline:
        got.extend(await consumer.poll(timeout_s=1.0, max_records=500))
    return got


@pytest.fixture
async def bus(kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[KafkaBus]:
    topics = Topics(topic_prefix)
    kafka = KafkaBus(kafka_bootstrap, client_id="test", topics=topics.all(), compacted=topics.compacted())
    await kafka.start()
    yield kafka
    await kafka.stop()


async def test_records_keep_per_key_order_and_arrive_once(bus: KafkaBus, topic_prefix: str) -> None:
    topic = Topics(topic_prefix).reads
    for n in range(30):
        await bus.publish(topic, f"cam-{n % 3}".encode(), str(n).encode())
    consumer = bus.consumer([topic], f"{topic_prefix}order")
    await consumer.start()
    try:
        records = await _poll_until(consumer, 30)
    finally:
        await consumer.stop()
    assert sorted(int(r.value) for r in records) == list(range(30))
    for camera in ("cam-0", "cam-1", "cam-2"):
        values = [int(r.value) for r in records if r.key == camera.encode()]
        assert values == sorted(values), f"{camera} out of order"


async def test_uncommitted_records_are_redelivered_and_committed_ones_are_not(
    bus: KafkaBus, topic_prefix: str
) -> None:
    topic = Topics(topic_prefix).frames
    group = f"{topic_prefix}redeliver"
    for n in range(5):
        await bus.publish(topic, b"cam", str(n).encode())

    first = bus.consumer([topic], group)
    await first.start()
    seen = await _poll_until(first, 5)
    await first.stop()  # stopped before committing: a crash between processing and commit
    assert len(seen) == 5

    second = bus.consumer([topic], group)
    await second.start()
    again = await _poll_until(second, 5)
    assert sorted(r.value for r in again) == sorted(r.value for r in seen)
    await second.commit(again)
    await second.stop()

    await bus.publish(topic, b"cam", b"late")
    third = bus.consumer([topic], group)
    await third.start()
    after_commit = await _poll_until(third, 1)
    await asyncio.sleep(0.5)
    after_commit.extend(await third.poll(timeout_s=1.0, max_records=100))
    await third.stop()
    assert [r.value for r in after_commit] == [b"late"]


async def test_poison_record_goes_to_the_dlq_and_consumption_goes_on(
    bus: KafkaBus, topic_prefix: str
) -> None:
    topics = Topics(topic_prefix)
    good = read_pb2.PlateRead(meta=new_meta("5344", "test"), camera_id="cam-1", plate="1ABC234")
    await bus.publish(topics.reads, b"cam-1", b"\xff\xfe this is not a protobuf \x00\x01")
    await bus.publish(topics.reads, b"cam-1", good.SerializeToString())
    await bus.publish(topics.reads, b"cam-1", read_pb2.PlateRead(camera_id="cam-1").SerializeToString())

    processed: list[str] = []

    async def handler(record: Record) -> None:
        read = read_pb2.PlateRead()
        read.ParseFromString(record.value)
        if not read.meta.event_id:
            raise PoisonMessage("read without event_id")
        processed.append(read.plate)

    worker = ConsumerWorker(
        bus,
        topics=[topics.reads],
        group_id=f"{topic_prefix}match",
        handler=handler,
        dlq_topic=topics.dlq,
        service="test",
        zone_id="5344",
    )
    worker.start()
    dlq = bus.consumer([topics.dlq], f"{topic_prefix}dlq-reader")
    await dlq.start()
    try:
        letters = await _poll_until(dlq, 2)
    finally:
        await dlq.stop()
        await worker.stop()
    assert processed == ["1ABC234"]
    decoded = []
    for record in letters:
        letter = dlq_pb2.DeadLetter()
        letter.ParseFromString(record.value)
        decoded.append(letter)
    assert len(decoded) == 2
    assert {letter.original_topic for letter in decoded} == {topics.reads}
    reasons = " | ".join(letter.reason for letter in decoded)
    assert "DecodeError" in reasons and "without event_id" in reasons
    assert any(letter.original_value.startswith(b"\xff\xfe") for letter in decoded)
    assert all(letter.meta.event_id and letter.consumer == f"{topic_prefix}match" for letter in decoded)


async def test_ping_reports_a_live_broker(bus: KafkaBus) -> None:
    assert await bus.ping()


async def test_topic_names_lists_the_topics_that_exist(bus: KafkaBus, topic_prefix: str) -> None:
    names = await bus.topic_names()
    assert set(Topics(topic_prefix).all()) <= names
    assert f"{topic_prefix}never.made" not in names
