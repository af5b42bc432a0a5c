"""Replay of a topic's past, on the in-process bus and on the real broker: a time window of every
partition, read outside any group, ending where the topic ended when the replay began."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from anpr_core.bus import Bus, MemoryBus, Record, Replayable
from anpr_core.bus.kafka import KafkaBus
from anpr_core.events import Topics


async def publish(bus: Bus, topic: str, prefix: str, count: int) -> list[bytes]:
    values = [f"{prefix}{n}".encode() for n in range(count)]
    for n, value in enumerate(values):
        await bus.publish(topic, f"cam-{n % 7}".encode(), value)
    return values


async def moment_between() -> int:
    """A millisecond no record published before or after this call is stamped with."""
    await asyncio.sleep(0.01)
    boundary = int(time.time() * 1000)
    await asyncio.sleep(0.01)
    return boundary


async def replayed(bus: Replayable, topic: str, since_ms: int, until_ms: int | None = None) -> list[Record]:
    return [
        record async for batch in bus.replay(topic, since_ms, until_ms, max_records=7) for record in batch
    ]


def values(records: list[Record]) -> list[bytes]:
    return sorted(record.value for record in records)


async def check_windows_outside_any_group(bus: MemoryBus | KafkaBus, topic: str, group: str) -> None:
    """The shared contract, whichever bus."""
    assert isinstance(bus, Replayable)
    older = await publish(bus, topic, "old", 30)
    boundary = await moment_between()
    newer = await publish(bus, topic, "new", 40)

    assert values(await replayed(bus, topic, boundary)) == sorted(newer)
    assert values(await replayed(bus, topic, 0, boundary)) == sorted(older), "windows that meet split it"
    assert values(await replayed(bus, topic, 0)) == sorted(older + newer)
    assert await replayed(bus, topic, int(time.time() * 1000) + 60_000) == []
    assert await replayed(bus, f"{topic}.never-written", 0) == []

    # What is published once the replay has begun is not part of it: it ends where the topic ended.
    seen: list[Record] = []
    async for batch in bus.replay(topic, boundary, max_records=5):
        if not seen:
            await publish(bus, topic, "during", 10)
        seen.extend(batch)
    assert values(seen) == sorted(newer)

    # Nothing was committed: a group new to the topic still gets every record from the start.
    consumer = bus.consumer([topic], group)
    await consumer.start()
    got: list[Record] = []
    try:
        deadline = time.monotonic() + 30
        while len(got) < 80 and time.monotonic() < deadline:
            got.extend(await consumer.poll(timeout_s=0.5, max_records=500))
    finally:
        await consumer.stop()
    assert len(got) == 80


async def test_the_in_process_bus_replays_a_window_of_every_partition() -> None:
    bus = MemoryBus(partitions=4)
    await check_windows_outside_any_group(bus, "test.reads", "g")


async def test_a_replay_in_process_neither_moves_nor_joins_a_group() -> None:
    bus = MemoryBus(partitions=3)
    await publish(bus, "test.reads", "r", 12)
    member = bus.consumer(["test.reads"], "match")
    await member.start()
    first = await member.poll(timeout_s=0.01, max_records=5)
    await member.commit(first)
    assert len(await replayed(bus, "test.reads", 0)) == 12
    assert bus.pending() == 12 - len(first), "the group's commits are where the member left them"
    assert set(member.positions) == {("test.reads", n) for n in range(3)}, "no rebalance"
    await member.stop()


async def test_a_replay_in_process_skips_what_retention_trimmed_meanwhile() -> None:
    bus = MemoryBus(partitions=1, retained_per_partition=10)
    await publish(bus, "test.reads", "r", 10)
    seen: list[Record] = []
    async for batch in bus.replay("test.reads", 0, max_records=3):
        if not seen:
            await publish(bus, "test.reads", "s", 5)  # trims r0..r4; r0..r2 were already read
        seen.extend(batch)
    assert [r.value for r in seen] == [f"r{n}".encode() for n in (0, 1, 2, 5, 6, 7, 8, 9)]


@pytest.fixture
async def kafka(kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[KafkaBus]:
    topics = Topics(topic_prefix)
    bus = KafkaBus(
        kafka_bootstrap, client_id="replay-test", topics=topics.all(), compacted=topics.compacted()
    )
    await bus.start()
    yield bus
    await bus.stop()


@pytest.mark.integration
async def test_kafka_replays_a_window_of_every_partition_outside_any_group(
    kafka: KafkaBus, topic_prefix: str
) -> None:
    await check_windows_outside_any_group(kafka, Topics(topic_prefix).reads, f"{topic_prefix}group")


@pytest.mark.integration
async def test_a_kafka_replay_leaves_a_group_member_and_its_commits_alone(
    kafka: KafkaBus, topic_prefix: str
) -> None:
    topic = Topics(topic_prefix).reads
    await publish(kafka, topic, "r", 20)
    group = f"{topic_prefix}match"
    member = kafka.consumer([topic], group)
    await member.start()
    try:
        taken: list[Record] = []
        deadline = time.monotonic() + 30
        while len(taken) < 20 and time.monotonic() < deadline:
            taken.extend(await member.poll(timeout_s=0.5, max_records=500))
        assert len(taken) == 20
        await member.commit(taken[:8])
        assert len(await replayed(kafka, topic, 0)) == 20
        # Still the group's only member, still able to commit (a rebalance would fence it).
        await member.commit(taken)
    finally:
        await member.stop()
    again = kafka.consumer([topic], group)
    await again.start()
    try:
        assert await again.poll(timeout_s=2, max_records=500) == [], "the commits held"
    finally:
        await again.stop()
