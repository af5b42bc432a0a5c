"""The detect service fuses the reads of one vehicle into one passage: every read carries its
passage id, and each passage is published once on the passages topic, when due or at shutdown."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from prometheus_client import REGISTRY

from anpr.v1 import common_pb2, frame_pb2, passage_pb2, read_pb2
from anpr_core.auth import DevIssuer
from anpr_core.bus import Bus, MemoryBus, Record
from anpr_core.bus.kafka import KafkaBus
from anpr_core.events import Topics, new_meta, to_timestamp
from anpr_core.testing import eventually, read_topic
from anpr_detect.adapters.plate_reading import DetectedPlate
from anpr_detect.adapters.readers import READER_NAMES, ReaderKind
from anpr_detect.bootstrap import build_app
from anpr_detect.settings import DetectSettings

START = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)


pytestmark = pytest.mark.usefixtures("no_anpr_environment")


class ScriptedReader:
    """Reads what the test scripted for an image; the image says which script by its grey level."""

    def __init__(self, script: dict[int, tuple[str, str, float]]) -> None:
        self.script = script

    def read(self, image: np.ndarray) -> list[DetectedPlate]:
        text, formatted, confidence = self.script[int(image[0, 0, 0])]
        return [DetectedPlate(text, formatted, "BE", True, confidence, (1, 1, 6, 6), ((text, confidence),))]


def frame(camera: str, grey: int, seconds: float, event_id: str | None = None) -> frame_pb2.Frame:
    ok, png = cv2.imencode(".png", np.full((8, 8, 3), grey, dtype=np.uint8))
    assert ok
    meta = new_meta("zone-1", "ingest")
    if event_id is not None:
        meta.event_id = event_id
    return frame_pb2.Frame(
        meta=meta,
        camera_id=camera,
        captured_at=to_timestamp(START + timedelta(seconds=seconds)),
        content_type="image/png",
        image=png.tobytes(),
        direction=common_pb2.DIRECTION_IN,
    )


# Three frames of one car at cam-1, one misread (B/8); one car at cam-2.
SCRIPT = {
    10: ("1ABC234", "1-ABC-234", 0.9),
    11: ("1A8C234", "1-A8C-234", 0.5),
    12: ("1ABC234", "1-ABC-234", 0.8),
    20: ("2XYZ789", "2-XYZ-789", 0.7),
}
FRAMES = [frame("cam-1", 10, 0.0), frame("cam-1", 11, 0.2), frame("cam-2", 20, 0.3), frame("cam-1", 12, 0.4)]


@asynccontextmanager
async def detect(
    bus: Bus, tmp_path: Path, window_s: float, prefix: str = "", reader: ReaderKind = "text"
) -> AsyncIterator[None]:
    settings = DetectSettings(
        data_dir=tmp_path,
        zone_id="zone-1",
        topic_prefix=prefix,
        max_inflight=1,
        passage_window_s=window_s,
        reader=reader,
    )
    app = build_app(
        settings, bus, None, DevIssuer(tmp_path / "key.pem"), reader_factory=lambda _: ScriptedReader(SCRIPT)
    )
    async with app.router.lifespan_context(app):
        yield


async def publish_frames(bus: Bus, frames: Sequence[frame_pb2.Frame], prefix: str = "") -> None:
    for item in frames:
        await bus.publish(Topics(prefix).frames, item.camera_id.encode(), item.SerializeToString())


def holds(bus: MemoryBus, topic: str, count: int) -> Callable[[], Awaitable[bool]]:
    """A check for `eventually`: the topic holds at least `count` records."""

    async def check() -> bool:
        return len(await read_topic(bus, topic)) >= count

    return check


def reads_of(bus_records: list[bytes]) -> list[read_pb2.PlateRead]:
    reads = []
    for value in bus_records:
        read = read_pb2.PlateRead()
        read.ParseFromString(value)
        reads.append(read)
    return reads


def passages_of(bus_records: list[bytes]) -> list[passage_pb2.Passage]:
    passages = []
    for value in bus_records:
        passage = passage_pb2.Passage()
        passage.ParseFromString(value)
        passages.append(passage)
    return passages


def assert_fused(reads: list[read_pb2.PlateRead], passages: list[passage_pb2.Passage]) -> None:
    by_camera = {p.camera_id: p for p in passages}
    assert len(passages) == len(by_camera) == 2, "one passage per camera, each published once"
    first = by_camera["cam-1"]
    cam1_reads = [r for r in reads if r.camera_id == "cam-1"]
    assert [r.plate for r in cam1_reads] == ["1ABC234", "1A8C234", "1ABC234"]
    assert {r.passage_id for r in cam1_reads} == {first.passage_id}
    assert first.passage_id == f"cam-1:{cam1_reads[0].meta.event_id}"
    assert list(first.read_ids) == [r.meta.event_id for r in cam1_reads]
    assert (first.plate, first.formatted, first.country) == ("1ABC234", "1-ABC-234", "BE")
    assert 0.5 < first.confidence < 0.9
    assert first.first_seen.ToDatetime(tzinfo=UTC) == START
    assert first.last_seen.ToDatetime(tzinfo=UTC) == START + timedelta(seconds=0.4)
    assert (first.direction, first.zone, first.meta.producer) == (common_pb2.DIRECTION_IN, "zone-1", "detect")

    second = by_camera["cam-2"]
    [cam2_read] = [r for r in reads if r.camera_id == "cam-2"]
    assert cam2_read.passage_id == second.passage_id != first.passage_id
    assert (second.plate, list(second.read_ids)) == ("2XYZ789", [cam2_read.meta.event_id])


async def test_reads_of_one_car_share_a_passage_published_once_when_the_camera_goes_quiet(
    tmp_path: Path,
) -> None:
    bus = MemoryBus()
    topics = Topics()
    async with detect(bus, tmp_path, window_s=0.3):
        await publish_frames(bus, FRAMES)

        await eventually(holds(bus, topics.passages, 2))
    # Shutdown publishes nothing more: both passages were out already, and each goes out once.
    records = await read_topic(bus, topics.passages)
    assert sorted(r.key for r in records if r.key) == [b"cam-1", b"cam-2"]
    reads = reads_of([r.value for r in await read_topic(bus, topics.reads)])
    assert_fused(reads, passages_of([r.value for r in records]))
    # Each read carries its frame, byte for byte, as the overview image.
    frames_by_id = {frame.meta.event_id: frame.image for frame in FRAMES}
    assert all(read.overview and read.overview == frames_by_id[read.frame_event_id] for read in reads)


@pytest.mark.parametrize("reader", ["text", "detector"])
async def test_each_read_names_the_reader_that_made_it(tmp_path: Path, reader: ReaderKind) -> None:
    bus = MemoryBus()
    topics = Topics()
    async with detect(bus, tmp_path, window_s=60.0, reader=reader):
        await publish_frames(bus, FRAMES[:1])

        await eventually(holds(bus, topics.reads, 1))
    [read] = reads_of([r.value for r in await read_topic(bus, topics.reads)])
    assert read.reader == READER_NAMES[reader]
    assert READER_NAMES["text"] != READER_NAMES["detector"]


def detect_reads(camera: str) -> float:
    return REGISTRY.get_sample_value("anpr_reads_total", {"source": "detect", "camera": camera}) or 0.0


async def test_open_passages_are_published_at_shutdown(tmp_path: Path) -> None:
    bus = MemoryBus()
    topics = Topics()
    before = {camera: detect_reads(camera) for camera in ("cam-1", "cam-2")}
    async with detect(bus, tmp_path, window_s=60.0):
        await publish_frames(bus, FRAMES)

        await eventually(holds(bus, topics.reads, 4))
        assert await read_topic(bus, topics.passages) == [], "a passage a read may still join stays open"
    records = await read_topic(bus, topics.passages)
    reads = reads_of([r.value for r in await read_topic(bus, topics.reads)])
    assert_fused(reads, passages_of([r.value for r in records]))
    # The read rate is counted per camera (the dashboard's read rate per camera, its silence alerts).
    assert {camera: detect_reads(camera) - before[camera] for camera in before} == {"cam-1": 3, "cam-2": 1}


async def test_a_frame_read_again_gives_the_same_read_ids_and_joins_its_passage_once(tmp_path: Path) -> None:
    bus = MemoryBus()
    topics = Topics()
    again = frame("cam-1", 11, 0.2, event_id=FRAMES[1].meta.event_id)
    async with detect(bus, tmp_path, window_s=60.0):
        await publish_frames(bus, [*FRAMES, again])

        await eventually(holds(bus, topics.reads, 5))
    reads = reads_of([r.value for r in await read_topic(bus, topics.reads)])
    [passage, _] = sorted(
        passages_of([r.value for r in await read_topic(bus, topics.passages)]), key=lambda p: p.camera_id
    )
    redelivered = [r for r in reads if r.frame_event_id == again.meta.event_id]
    assert len(redelivered) == 2
    assert redelivered[0].meta.event_id == redelivered[1].meta.event_id
    assert len(passage.read_ids) == len(set(passage.read_ids)) == 3


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
async def test_passages_arrive_on_the_kafka_passages_topic(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    topics = Topics(topic_prefix)
    bus = KafkaBus(
        kafka_bootstrap, client_id="detect-test", topics=topics.all(), compacted=topics.compacted()
    )
    await bus.start()
    try:
        async with detect(bus, tmp_path, window_s=0.5, prefix=topic_prefix):
            await publish_frames(bus, FRAMES, topic_prefix)
            passages = await poll_until(bus, topics.passages, f"{topic_prefix}passages", want=2)
        reads = await poll_until(bus, topics.reads, f"{topic_prefix}reads", want=4)
        # Nothing more came at shutdown: each passage was published once.
        again = await poll_until(bus, topics.passages, f"{topic_prefix}again", want=3, timeout_s=3.0)
    finally:
        await bus.stop()
    assert sorted(r.key for r in passages if r.key) == [b"cam-1", b"cam-2"]
    assert len(again) == 2
    assert_fused(reads_of([r.value for r in reads]), passages_of([r.value for r in passages]))
