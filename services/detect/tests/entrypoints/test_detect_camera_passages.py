"""Smart cameras' own reads become passages too: detect takes the reads of anpr.reads.v1 that have no
passage yet, fuses them per camera by the rules of its own reads, and publishes one anpr.passages.v1
event per passage, listing its reads, under ids a redelivery gives again."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from anpr.v1 import common_pb2, dlq_pb2, passage_pb2, read_pb2
from anpr_core.auth import DevIssuer
from anpr_core.bus import Bus, MemoryBus, Record
from anpr_core.bus.kafka import KafkaBus
from anpr_core.events import Topics, new_meta, to_timestamp
from anpr_core.testing import eventually, read_topic
from anpr_detect.adapters.passage_feed import PassageFeed
from anpr_detect.adapters.plate_reading import DetectedPlate
from anpr_detect.adapters.wire import derived_event_id
from anpr_detect.bootstrap import build_app
from anpr_detect.handlers import join_camera_reads
from anpr_detect.settings import DetectSettings

pytestmark = pytest.mark.usefixtures("no_anpr_environment")

START = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)


def camera_read(
    read_id: str, plate: str, seconds: float, camera: str = "cam-smart", confidence: float = 0.9
) -> read_pb2.PlateRead:
    """A read as ingest publishes a smart camera's: the camera's text, no passage, no display form."""
    meta = new_meta("zone-1", "ingest")
    meta.event_id = read_id
    return read_pb2.PlateRead(
        meta=meta,
        camera_id=camera,
        captured_at=to_timestamp(START + timedelta(seconds=seconds)),
        direction=common_pb2.DIRECTION_IN,
        plate=plate,
        confidence=confidence,
        candidates=[read_pb2.PlateCandidate(text=plate, confidence=confidence)],
        camera_read=True,
        reader=f"camera:{camera}",
    )


def one_car() -> list[read_pb2.PlateRead]:
    """Three reads of one car, 0.4 s apart, one of them misread (B/8) by the camera; made afresh for
    each use, since joining a passage stamps a read with its passage id."""
    return [
        camera_read("0196a000-0000-7000-8000-000000000001", "1ABC234", 0.0),
        camera_read("0196a000-0000-7000-8000-000000000002", "1A8C234", 0.4, confidence=0.5),
        camera_read("0196a000-0000-7000-8000-000000000003", "1ABC234", 0.8),
    ]


def second_car() -> list[read_pb2.PlateRead]:
    return [
        camera_read("0196a000-0000-7000-8000-000000000004", "2XYZ789", 1.0),
        camera_read("0196a000-0000-7000-8000-000000000005", "2XYZ789", 1.4),
    ]


ONE_CAR_IDS = [read.meta.event_id for read in one_car()]


class NoPlates:
    def read(self, image: np.ndarray) -> list[DetectedPlate]:
        return []


@asynccontextmanager
async def detect(bus: Bus, tmp_path: Path, window_s: float, prefix: str = "") -> AsyncIterator[None]:
    settings = DetectSettings(
        data_dir=tmp_path, zone_id="zone-1", topic_prefix=prefix, max_inflight=1, passage_window_s=window_s
    )
    app = build_app(settings, bus, None, DevIssuer(tmp_path / "key.pem"), reader_factory=lambda _: NoPlates())
    async with app.router.lifespan_context(app):
        yield


async def publish_reads(bus: Bus, reads: Sequence[read_pb2.PlateRead], prefix: str = "") -> None:
    for read in reads:
        await bus.publish(Topics(prefix).reads, read.camera_id.encode(), read.SerializeToString())


def holds(bus: MemoryBus, topic: str, count: int) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return len(await read_topic(bus, topic)) >= count

    return check


def passages_of(records: Sequence[Record]) -> list[passage_pb2.Passage]:
    return [passage_pb2.Passage.FromString(record.value) for record in records]


def assert_one_car(passage: passage_pb2.Passage) -> None:
    first = ONE_CAR_IDS[0]
    assert list(passage.read_ids) == ONE_CAR_IDS
    assert passage.passage_id == f"cam-smart:{first}"
    assert passage.meta.event_id == derived_event_id(first, "passage")
    # The consensus outvotes the misread; the grammar gives the display form the camera did not send.
    assert (passage.plate, passage.formatted, passage.country) == ("1ABC234", "1-ABC-234", "BE")
    assert 0.5 < passage.confidence < 0.9
    assert passage.first_seen.ToDatetime(tzinfo=UTC) == START
    assert passage.last_seen.ToDatetime(tzinfo=UTC) == START + timedelta(seconds=0.8)
    assert (passage.camera_id, passage.direction, passage.zone) == (
        "cam-smart",
        common_pb2.DIRECTION_IN,
        "zone-1",
    )
    assert passage.meta.producer == "detect"


def test_camera_reads_without_a_passage_join_one_and_detects_own_reads_are_left_alone() -> None:
    now = [0.0]
    feed = PassageFeed(window_s=3.0, zone_id="zone-1", clock=lambda: now[0])
    own = camera_read("0196a000-0000-7000-8000-0000000000ff", "1ABC234", 0.2)
    own.camera_read, own.passage_id = False, "cam-smart:0196a000-0000-7000-8000-0000000000fe"
    car = one_car()
    assert join_camera_reads([car[0], own, *car[1:]], feed) == 3
    assert own.passage_id == "cam-smart:0196a000-0000-7000-8000-0000000000fe", (
        "detect's read keeps its passage"
    )
    assert feed.due() == []
    now[0] = 10.0
    [passage] = feed.due()
    assert_one_car(passage)


async def test_three_reads_of_one_car_at_one_camera_are_one_passage_listing_them(tmp_path: Path) -> None:
    bus = MemoryBus()
    topics = Topics()
    async with detect(bus, tmp_path, window_s=0.5):
        await publish_reads(bus, one_car())

        await eventually(holds(bus, topics.passages, 1))
    records = await read_topic(bus, topics.passages)
    assert [record.key for record in records] == [b"cam-smart"], "one passage, published once"
    assert_one_car(passages_of(records)[0])


async def test_reads_of_two_cars_are_two_passages(tmp_path: Path) -> None:
    bus = MemoryBus()
    topics = Topics()
    other_camera = camera_read("0196a000-0000-7000-8000-000000000006", "1ABC234", 0.2, camera="cam-other")
    async with detect(bus, tmp_path, window_s=0.5):
        await publish_reads(bus, [*one_car(), *second_car(), other_camera])

        await eventually(holds(bus, topics.passages, 3))
    passages = sorted(
        passages_of(await read_topic(bus, topics.passages)), key=lambda p: p.first_seen.ToNanoseconds()
    )
    assert len(passages) == 3
    first, other, second = passages
    assert_one_car(first)
    assert (other.camera_id, list(other.read_ids)) == ("cam-other", [other_camera.meta.event_id])
    assert second.plate == "2XYZ789"
    second_ids = [read.meta.event_id for read in second_car()]
    assert list(second.read_ids) == second_ids
    assert second.passage_id == f"cam-smart:{second_ids[0]}" != first.passage_id


async def test_redelivered_reads_give_the_same_passage_under_the_same_ids(tmp_path: Path) -> None:
    # Within one run: a read delivered twice joins its passage once.
    bus = MemoryBus()
    topics = Topics()
    async with detect(bus, tmp_path, window_s=0.5):
        car = one_car()
        await publish_reads(bus, [car[0], car[1], car[1], car[2]])

        await eventually(holds(bus, topics.passages, 1))
    [first_run] = passages_of(await read_topic(bus, topics.passages))
    assert_one_car(first_run)

    # Delivered again after the passage went out (a crash before the commit): the same passage, under
    # the same passage id and event id, so every sink keeps one copy.
    again = MemoryBus()
    async with detect(again, tmp_path, window_s=0.5):
        await publish_reads(again, one_car())

        await eventually(holds(again, topics.passages, 1))
    [second_run] = passages_of(await read_topic(again, topics.passages))
    assert (second_run.passage_id, second_run.meta.event_id) == (
        first_run.passage_id,
        first_run.meta.event_id,
    )
    assert list(second_run.read_ids) == list(first_run.read_ids)


async def test_reads_that_carry_a_passage_are_not_fused_again(tmp_path: Path) -> None:
    bus = MemoryBus()
    topics = Topics()
    own = camera_read("0196a000-0000-7000-8000-0000000000ff", "9QQQ999", 0.0)
    own.camera_read, own.passage_id = False, f"cam-smart:{own.meta.event_id}"
    async with detect(bus, tmp_path, window_s=0.5):
        # Same camera, so same partition: the camera read comes after detect's own read.
        await publish_reads(bus, [own, one_car()[0]])

        await eventually(holds(bus, topics.passages, 1))
    [passage] = passages_of(await read_topic(bus, topics.passages))
    assert list(passage.read_ids) == ONE_CAR_IDS[:1]


async def test_a_camera_read_without_an_id_is_dead_lettered_and_the_others_go_on(tmp_path: Path) -> None:
    bus = MemoryBus()
    topics = Topics()
    nameless = camera_read("", "1ABC234", 0.0)
    async with detect(bus, tmp_path, window_s=0.5):
        await publish_reads(bus, [nameless, *one_car()])

        await eventually(holds(bus, topics.passages, 1))
        await eventually(holds(bus, topics.dlq, 1))
    [letter] = [dlq_pb2.DeadLetter.FromString(r.value) for r in await read_topic(bus, topics.dlq)]
    assert "read without event_id or camera_id" in letter.reason
    assert letter.original_topic == topics.reads
    [passage] = passages_of(await read_topic(bus, topics.passages))
    assert_one_car(passage)


async def poll_until(
    bus: KafkaBus, topic: str, group: str, want: int, timeout_s: float = 30.0
) -> list[Record]:
    consumer = bus.consumer([topic], group)
    await consumer.start()
    got: list[Record] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(got) < want and time.monotonic() < deadline:
            got.extend(await consumer.poll(timeout_s=1.0, max_records=100))
    finally:
        await consumer.stop()
    return got


@pytest.mark.integration
async def test_camera_reads_on_kafka_become_one_passage_on_the_passages_topic(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topics = Topics(topic_prefix)
    bus = KafkaBus(
        kafka_bootstrap, client_id="detect-test", topics=topics.all(), compacted=topics.compacted()
    )
    await bus.start()
    try:
        async with detect(bus, tmp_path, window_s=0.5, prefix=topic_prefix):
            await publish_reads(bus, one_car(), topic_prefix)
            records = await poll_until(bus, topics.passages, f"{topic_prefix}passages", want=1)
        # Nothing more came at shutdown: the passage was published once.
        again = await poll_until(bus, topics.passages, f"{topic_prefix}again", want=2, timeout_s=3.0)
    finally:
        await bus.stop()
    assert [record.key for record in records] == [b"cam-smart"]
    assert len(again) == 1
    assert_one_car(passages_of(records)[0])
