"""ConsumerWorker on MemoryBus: poison goes to the DLQ, transient failures retry, nothing blocks."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest
from google.protobuf.message import DecodeError

from anpr.v1 import dlq_pb2, read_pb2
from anpr_core.bus import MemoryBus, Record
from anpr_core.consume import ConsumerWorker, Handler, PoisonMessage

TOPIC = "test.reads"
DLQ = "test.dlq"


async def read_topic(bus: MemoryBus, topic: str) -> list[Record]:
    """Everything on `topic`, read by a fresh group that commits what it read (so pending() stays honest)."""
    consumer = bus.consumer([topic], f"reader-{uuid.uuid4()}")
    await consumer.start()
    taken: list[Record] = []
    try:
        while batch := await consumer.poll(timeout_s=0.02, max_records=1000):
            taken.extend(batch)
        await consumer.commit(taken)
    finally:
        await consumer.stop()
    return taken


async def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def plate_read(plate: str) -> bytes:
    return read_pb2.PlateRead(plate=plate, camera_id="cam-1").SerializeToString()


@pytest.fixture
def bus() -> MemoryBus:
    # One partition: the order of the records is the order of processing.
    return MemoryBus(partitions=1)


@pytest.fixture
async def run_worker(bus: MemoryBus) -> AsyncIterator[Callable[..., ConsumerWorker]]:
    workers: list[ConsumerWorker] = []

    def start(handler: Handler, max_attempts: int = 5) -> ConsumerWorker:
        worker = ConsumerWorker(
            bus,
            topics=[TOPIC],
            group_id="worker-under-test",
            handler=handler,
            dlq_topic=DLQ,
            service="test",
            zone_id="5344",
            max_attempts=max_attempts,
            backoff_s=0.01,
        )
        worker.start()
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        await worker.stop()


def dead_letters(records: list[Record]) -> list[dlq_pb2.DeadLetter]:
    letters = []
    for record in records:
        letter = dlq_pb2.DeadLetter()
        letter.ParseFromString(record.value)
        letters.append(letter)
    return letters


async def test_undecodable_record_is_dead_lettered_and_the_next_is_processed(
    bus: MemoryBus, run_worker: Callable[..., ConsumerWorker]
) -> None:
    processed: list[str] = []

    async def handler(record: Record) -> None:
        read = read_pb2.PlateRead()
        read.ParseFromString(record.value)  # raises DecodeError on garbage
        processed.append(read.plate)

    garbage = b"\xff\xff\xff not a protobuf"
    await bus.publish(TOPIC, b"cam-1", garbage)
    await bus.publish(TOPIC, b"cam-1", plate_read("1ABC234"))
    worker = run_worker(handler)
    await eventually(lambda: processed == ["1ABC234"] and bus.pending() == 0)
    assert worker.healthy

    letters = dead_letters(await read_topic(bus, DLQ))
    assert len(letters) == 1
    letter = letters[0]
    assert letter.original_topic == TOPIC
    assert letter.original_partition == 0
    assert letter.original_offset == 0
    assert letter.original_key == b"cam-1"
    assert letter.original_value == garbage
    assert letter.reason.startswith(DecodeError.__name__)
    assert letter.consumer == "worker-under-test"
    assert letter.meta.event_id


async def test_refused_record_is_dead_lettered_with_its_reason(
    bus: MemoryBus, run_worker: Callable[..., ConsumerWorker]
) -> None:
    processed: list[bytes] = []

    async def handler(record: Record) -> None:
        if record.value == b"refuse me":
            raise PoisonMessage("read without event_id")
        processed.append(record.value)

    await bus.publish(TOPIC, b"a", b"first")
    await bus.publish(TOPIC, b"b", b"refuse me")
    await bus.publish(TOPIC, b"c", b"last")
    run_worker(handler)
    await eventually(lambda: processed == [b"first", b"last"] and bus.pending() == 0)

    letters = dead_letters(await read_topic(bus, DLQ))
    assert [(d.original_topic, d.original_partition, d.original_offset) for d in letters] == [(TOPIC, 0, 1)]
    assert letters[0].original_value == b"refuse me"
    assert letters[0].original_key == b"b"
    assert letters[0].reason == "PoisonMessage: read without event_id"


async def test_transient_failure_is_retried_and_succeeds_once_without_dead_letter(
    bus: MemoryBus, run_worker: Callable[..., ConsumerWorker]
) -> None:
    calls: Counter[bytes] = Counter()
    succeeded: Counter[bytes] = Counter()

    async def handler(record: Record) -> None:
        calls[record.value] += 1
        if record.value == b"flaky" and calls[b"flaky"] <= 2:
            raise ConnectionError("database down")
        succeeded[record.value] += 1

    await bus.publish(TOPIC, None, b"flaky")
    await bus.publish(TOPIC, None, b"after")
    run_worker(handler, max_attempts=5)
    await eventually(lambda: succeeded[b"after"] >= 1 and bus.pending() == 0)

    assert calls[b"flaky"] == 3
    assert succeeded[b"flaky"] == 1
    assert await read_topic(bus, DLQ) == []


async def test_a_dependency_away_for_longer_than_the_attempts_never_dead_letters_a_record(
    bus: MemoryBus, run_worker: Callable[..., ConsumerWorker]
) -> None:
    """The database away for six attempts, with max_attempts 3: the record waits, then is stored once."""
    calls: Counter[bytes] = Counter()
    stored: list[bytes] = []

    async def handler(record: Record) -> None:
        calls[record.value] += 1
        if record.value == b"read" and calls[b"read"] <= 6:
            raise OSError(111, "Connect call failed ('127.0.0.1', 5432)")
        stored.append(record.value)

    await bus.publish(TOPIC, b"k", b"read")
    await bus.publish(TOPIC, b"k", b"next")
    run_worker(handler, max_attempts=3)
    await eventually(lambda: stored == [b"read", b"next"] and bus.pending() == 0, timeout_s=30)

    assert calls[b"read"] == 7
    assert await read_topic(bus, DLQ) == []


async def test_always_failing_record_is_dead_lettered_after_max_attempts(
    bus: MemoryBus, run_worker: Callable[..., ConsumerWorker]
) -> None:
    calls: Counter[bytes] = Counter()
    succeeded: list[bytes] = []

    async def handler(record: Record) -> None:
        calls[record.value] += 1
        if record.value == b"doomed":
            raise RuntimeError("always broken")
        succeeded.append(record.value)

    await bus.publish(TOPIC, b"k", b"doomed")
    await bus.publish(TOPIC, b"k", b"next")
    run_worker(handler, max_attempts=3)
    await eventually(lambda: succeeded == [b"next"] and bus.pending() == 0)

    assert calls[b"doomed"] == 3
    letters = dead_letters(await read_topic(bus, DLQ))
    assert len(letters) == 1
    assert letters[0].original_value == b"doomed"
    assert letters[0].original_offset == 0
    assert letters[0].reason == "failed 3 times, last: RuntimeError: always broken"


async def test_worker_stops_and_leaves_uncommitted_work_for_the_next_member(bus: MemoryBus) -> None:
    seen: list[bytes] = []

    async def handler(record: Record) -> None:
        seen.append(record.value)

    worker = ConsumerWorker(
        bus, topics=[TOPIC], group_id="g", handler=handler, dlq_topic=DLQ, service="t", zone_id="z"
    )
    worker.start()
    await bus.publish(TOPIC, None, b"one")
    await eventually(lambda: seen == [b"one"] and bus.pending() == 0)
    await worker.stop()
    assert not worker.healthy

    await bus.publish(TOPIC, None, b"two")
    assert bus.pending() == 1
    successor = ConsumerWorker(
        bus, topics=[TOPIC], group_id="g", handler=handler, dlq_topic=DLQ, service="t", zone_id="z"
    )
    successor.start()
    await eventually(lambda: bus.pending() == 0)
    await successor.stop()
    assert seen == [b"one", b"two"], "committed records are not processed again"
