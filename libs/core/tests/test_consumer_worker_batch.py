"""ConsumerWorker in batch mode: one handler call per poll; a failing batch falls back to one by one."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable

import pytest

from anpr.v1 import dlq_pb2
from anpr_core.bus import MemoryBus, Record
from anpr_core.consume import ConsumerWorker, PoisonMessage

TOPIC = "test.batch"
DLQ = "test.batch.dlq"


async def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def dead_letters(bus: MemoryBus) -> list[dlq_pb2.DeadLetter]:
    consumer = bus.consumer([DLQ], f"reader-{uuid.uuid4()}")
    await consumer.start()
    letters = []
    try:
        while batch := await consumer.poll(timeout_s=0.02, max_records=1000):
            for record in batch:
                letter = dlq_pb2.DeadLetter()
                letter.ParseFromString(record.value)
                letters.append(letter)
            await consumer.commit(batch)
    finally:
        await consumer.stop()
    return letters


def batch_worker(
    bus: MemoryBus, handler: Callable[[list[Record]], object], **options: object
) -> ConsumerWorker:
    return ConsumerWorker(
        bus,
        topics=[TOPIC],
        group_id="batch-under-test",
        batch_handler=handler,  # type: ignore[arg-type]
        dlq_topic=DLQ,
        service="test",
        zone_id="5344",
        backoff_s=0.01,
        **options,  # type: ignore[arg-type]
    )


async def test_the_handler_gets_each_poll_whole() -> None:
    bus = MemoryBus(partitions=1)
    for n in range(250):
        await bus.publish(TOPIC, None, str(n).encode())
    calls: list[int] = []
    seen: list[bytes] = []

    async def handler(records: list[Record]) -> None:
        calls.append(len(records))
        seen.extend(r.value for r in records)

    worker = batch_worker(bus, handler, max_records=100)
    worker.start()
    await eventually(lambda: len(seen) == 250 and bus.pending() == 0)
    await worker.stop()
    assert calls == [100, 100, 50]
    assert seen == [str(n).encode() for n in range(250)]


async def test_a_poison_record_goes_to_the_dlq_alone_and_the_rest_go_through() -> None:
    bus = MemoryBus(partitions=1)
    for value in (b"a", b"b", b"poison", b"c"):
        await bus.publish(TOPIC, b"k", value)
    stored: Counter[bytes] = Counter()
    calls: list[list[bytes]] = []

    async def handler(records: list[Record]) -> None:
        calls.append([r.value for r in records])
        if any(r.value == b"poison" for r in records):
            raise PoisonMessage("cannot be stored")
        stored.update(r.value for r in records)

    worker = batch_worker(bus, handler)
    worker.start()
    await eventually(lambda: bus.pending() == 0 and len(calls) >= 5)
    await worker.stop()
    assert calls[0] == [b"a", b"b", b"poison", b"c"]
    assert calls[1:] == [[b"a"], [b"b"], [b"poison"], [b"c"]]
    assert stored == Counter({b"a": 1, b"b": 1, b"c": 1})
    letters = await dead_letters(bus)
    assert [(d.original_offset, d.original_value) for d in letters] == [(2, b"poison")]
    assert letters[0].reason == "PoisonMessage: cannot be stored"


async def test_a_transient_failure_retries_without_losing_or_dead_lettering() -> None:
    bus = MemoryBus(partitions=1)
    for value in (b"a", b"b", b"c"):
        await bus.publish(TOPIC, None, value)
    failures = 2
    stored: list[bytes] = []

    async def handler(records: list[Record]) -> None:
        nonlocal failures
        if failures:
            failures -= 1
            raise ConnectionError("database down")
        stored.extend(r.value for r in records)

    worker = batch_worker(bus, handler)
    worker.start()
    await eventually(lambda: len(set(stored)) == 3 and bus.pending() == 0)
    await worker.stop()
    assert sorted(set(stored)) == [b"a", b"b", b"c"]
    assert await dead_letters(bus) == []


def test_a_worker_takes_exactly_one_kind_of_handler() -> None:
    async def one(record: Record) -> None:
        return None

    async def many(records: list[Record]) -> None:
        return None

    bus = MemoryBus()
    common = {"topics": [TOPIC], "group_id": "g", "dlq_topic": DLQ, "service": "t", "zone_id": "z"}
    with pytest.raises(ValueError, match="either"):
        ConsumerWorker(bus, handler=one, batch_handler=many, **common)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="either"):
        ConsumerWorker(bus, **common)  # type: ignore[arg-type]
