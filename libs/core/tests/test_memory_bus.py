"""MemoryBus: Kafka's contract for one process (keyed order, groups, commits, redelivery)."""

from __future__ import annotations

import uuid
from collections import defaultdict

from anpr_core.bus import MemoryBus, Record
from anpr_core.bus.memory import MemoryConsumer

TOPIC = "test.topic"


async def drain(consumer: MemoryConsumer, *, timeout_s: float = 0.05) -> list[Record]:
    """Polls until a poll comes back empty."""
    taken: list[Record] = []
    while batch := await consumer.poll(timeout_s=timeout_s, max_records=1000):
        taken.extend(batch)
    return taken


async def publish_numbered(bus: MemoryBus, count: int, keys: int = 7, prefix: str = "v") -> list[bytes]:
    values = []
    for n in range(count):
        value = f"{prefix}{n}".encode()
        await bus.publish(TOPIC, f"key-{n % keys}".encode(), value)
        values.append(value)
    return values


async def started(bus: MemoryBus, group: str, topics: list[str] | None = None) -> MemoryConsumer:
    consumer = bus.consumer(topics or [TOPIC], group)
    await consumer.start()
    return consumer


async def test_records_of_one_key_arrive_in_publish_order_within_one_partition() -> None:
    bus = MemoryBus(partitions=4)
    await publish_numbered(bus, 200, keys=9)
    consumer = await started(bus, "g")
    records = await drain(consumer)
    await consumer.stop()

    assert len(records) == 200
    by_key: dict[bytes, list[Record]] = defaultdict(list)
    for record in records:
        assert record.key is not None
        by_key[record.key].append(record)
    assert len(by_key) == 9
    for key, keyed in by_key.items():
        assert len({r.partition for r in keyed}) == 1, f"key {key!r} spread over partitions"
        numbers = [int(r.value[1:]) for r in keyed]
        assert numbers == sorted(numbers), f"key {key!r} out of order"
        offsets = [r.offset for r in keyed]
        assert offsets == sorted(offsets)


async def test_two_members_of_one_group_split_partitions_and_see_every_record_once() -> None:
    bus = MemoryBus(partitions=4)
    first = await started(bus, "g")
    second = await started(bus, "g")
    assert first.positions and second.positions
    assert set(first.positions).isdisjoint(second.positions)
    assert set(first.positions) | set(second.positions) == {(TOPIC, p) for p in range(4)}

    values = await publish_numbered(bus, 120)
    got_first = await drain(first)
    got_second = await drain(second)
    await first.stop()
    await second.stop()

    assert got_first and got_second
    assert {r.partition for r in got_first}.isdisjoint({r.partition for r in got_second})
    seen = [r.value for r in got_first + got_second]
    assert sorted(seen) == sorted(values)
    assert len(seen) == len(set(seen))


async def test_uncommitted_records_of_a_stopped_member_go_to_the_other_member() -> None:
    bus = MemoryBus(partitions=4)
    quitter = await started(bus, "g")
    stayer = await started(bus, "g")
    values = await publish_numbered(bus, 60)

    stayer_records = await drain(stayer)
    await stayer.commit(stayer_records)
    quitter_records = await drain(quitter)
    assert quitter_records, "the quitter must own some partitions"
    await quitter.stop()  # without committing

    redelivered = await drain(stayer)
    await stayer.stop()
    # The other member gets exactly what was not committed: the quitter's records, not its own again.
    assert sorted(r.value for r in redelivered) == sorted(r.value for r in quitter_records)
    assert sorted(r.value for r in stayer_records + redelivered) == sorted(values)


async def test_uncommitted_records_are_redelivered_to_a_new_member() -> None:
    bus = MemoryBus()
    values = await publish_numbered(bus, 30)
    crashed = await started(bus, "g")
    assert len(await drain(crashed)) == 30
    await crashed.stop()

    newcomer = await started(bus, "g")
    again = await drain(newcomer)
    await newcomer.stop()
    assert sorted(r.value for r in again) == sorted(values)


async def test_committed_records_are_not_redelivered() -> None:
    bus = MemoryBus()
    await publish_numbered(bus, 30)
    member = await started(bus, "g")
    records = await drain(member)
    await member.commit(records)
    await member.stop()

    newcomer = await started(bus, "g")
    assert await drain(newcomer) == []
    await bus.publish(TOPIC, b"k", b"fresh")
    fresh = await drain(newcomer)
    await newcomer.stop()
    assert [r.value for r in fresh] == [b"fresh"]


async def test_partially_committed_batch_redelivers_only_the_rest() -> None:
    bus = MemoryBus(partitions=1)
    await publish_numbered(bus, 10)
    member = await started(bus, "g")
    records = await drain(member)
    await member.commit(records[:4])
    await member.stop()

    newcomer = await started(bus, "g")
    rest = await drain(newcomer)
    await newcomer.stop()
    assert [r.value for r in rest] == [r.value for r in records[4:]]


async def test_each_group_sees_every_record() -> None:
    bus = MemoryBus()
    values = await publish_numbered(bus, 50)
    alpha = await started(bus, "alpha")
    beta = await started(bus, "beta")
    alpha_records = await drain(alpha)
    await alpha.commit(alpha_records)
    beta_records = await drain(beta)
    await alpha.stop()
    await beta.stop()
    assert sorted(r.value for r in alpha_records) == sorted(values)
    assert sorted(r.value for r in beta_records) == sorted(values)


async def test_a_member_sees_records_published_while_it_waits() -> None:
    bus = MemoryBus()
    member = await started(bus, "g")
    assert await member.poll(timeout_s=0.01, max_records=10) == []
    await bus.publish(TOPIC, None, b"late")
    records = await member.poll(timeout_s=1.0, max_records=10)
    await member.stop()
    assert [r.value for r in records] == [b"late"]


async def test_pending_counts_uncommitted_records_and_reaches_zero_after_commits() -> None:
    bus = MemoryBus(partitions=3)
    assert bus.pending() == 0
    member = await started(bus, "g")
    await publish_numbered(bus, 25)
    assert bus.pending() == 25

    records = await drain(member)
    assert bus.pending() == 25, "polling is not committing"
    await member.commit(records[:10])
    assert bus.pending() == 15
    await member.commit(records)
    assert bus.pending() == 0

    # A second group counts on its own, even between its members' restarts.
    other = await started(bus, f"other-{uuid.uuid4()}")
    assert bus.pending() == 25
    await other.stop()
    assert bus.pending() == 25
    again = await started(bus, other.group_id)
    await again.commit(await drain(again))
    await again.stop()
    await member.stop()
    assert bus.pending() == 0


async def test_a_departed_member_can_no_longer_commit() -> None:
    """Like Kafka: once a member has left, its commit must not move the group past records it gave up."""
    bus = MemoryBus(partitions=1)
    await publish_numbered(bus, 5)
    zombie = await started(bus, "g")
    records = await drain(zombie)
    await zombie.stop()
    await zombie.commit(records)  # too late: it no longer owns the partition

    newcomer = await started(bus, "g")
    redelivered = await drain(newcomer)
    await newcomer.stop()
    assert [r.value for r in redelivered] == [r.value for r in records]


async def test_topic_names_are_those_published_or_subscribed_to() -> None:
    bus = MemoryBus()
    assert await bus.topic_names() == set()
    await bus.publish(TOPIC, b"k", b"v")
    await bus.consumer(["other.topic"], "g").start()
    assert await bus.topic_names() == {TOPIC, "other.topic"}
