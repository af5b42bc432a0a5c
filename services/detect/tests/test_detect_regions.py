"""A camera's region of interest and expected plate width: detect reads only inside the region, gives
the boxes in frame pixels, and drops plates of another width; a frame without them is read whole."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image

from anpr.v1 import frame_pb2, read_pb2
from anpr_core.bus import MemoryBus
from anpr_core.events import new_meta, to_timestamp
from anpr_core.testing import read_topic
from anpr_detect.adapters.frame_reader import FrameReader, ReaderSlot
from anpr_detect.adapters.passage_feed import PassageFeed
from anpr_detect.adapters.plate_reading import DetectedPlate
from anpr_detect.adapters.readers import build_reader
from anpr_detect.adapters.wire import region_of
from anpr_detect.domain.regions import ReadingRegion
from anpr_detect.handlers import FramePorts, read_frames, read_regions
from anpr_detect_training.synthetic import render_plate

PLATE_WIDTH = 240
LEFT = ("1ABC234", (160, 420))
RIGHT = ("2XYZ789", (880, 420))
AROUND_LEFT = ((60, 330), (560, 330), (560, 620), (60, 620))


def _two_plates() -> tuple[np.ndarray, dict[str, tuple[int, int, int, int]]]:
    """A grey 1280x720 frame with two Belgian plates side by side, and where each was pasted."""
    canvas = Image.new("RGB", (1280, 720), (96, 100, 104))
    boxes = {}
    for text, (x, y) in (LEFT, RIGHT):
        plate = render_plate(text)
        plate = plate.resize((PLATE_WIDTH, round(plate.height * PLATE_WIDTH / plate.width)))
        canvas.paste(plate, (x, y))
        boxes[text] = (x, y, x + plate.width, y + plate.height)
    return np.ascontiguousarray(np.asarray(canvas)[:, :, ::-1]), boxes


@pytest.fixture(scope="module")
def frame_reader() -> Iterator[FrameReader]:
    reader = FrameReader([build_reader("text", threads=1)])
    yield reader
    reader.close()


async def _read(reader: FrameReader, region: ReadingRegion | None) -> list[DetectedPlate]:
    image, _ = _two_plates()
    (plates,) = await read_regions(reader, [image], [region])
    return plates


def _centre_inside(plate: DetectedPlate, box: tuple[int, int, int, int]) -> bool:
    x, y = (plate.bbox[0] + plate.bbox[2]) / 2, (plate.bbox[1] + plate.bbox[3]) / 2
    return box[0] <= x <= box[2] and box[1] <= y <= box[3]


async def test_a_camera_without_a_region_is_read_whole(frame_reader: FrameReader) -> None:
    plates = await _read(frame_reader, None)
    assert {p.text for p in plates} == {LEFT[0], RIGHT[0]}


async def test_only_the_plate_inside_the_region_is_read_in_frame_pixels(frame_reader: FrameReader) -> None:
    _, boxes = _two_plates()
    plates = await _read(frame_reader, ReadingRegion(AROUND_LEFT))
    assert [p.text for p in plates] == [LEFT[0]]
    assert _centre_inside(plates[0], boxes[LEFT[0]]), f"{plates[0].bbox} is not where the plate is"


async def test_plates_outside_the_expected_width_are_dropped(frame_reader: FrameReader) -> None:
    assert await _read(frame_reader, ReadingRegion(min_plate_width=PLATE_WIDTH * 2)) == []
    assert await _read(frame_reader, ReadingRegion(max_plate_width=PLATE_WIDTH // 2)) == []
    kept = await _read(frame_reader, ReadingRegion(AROUND_LEFT, PLATE_WIDTH // 2, PLATE_WIDTH * 2))
    assert [p.text for p in kept] == [LEFT[0]]


async def test_a_region_outside_the_frame_reads_nothing(frame_reader: FrameReader) -> None:
    outside = ReadingRegion(((2000, 2000), (2100, 2000), (2100, 2100)))
    assert await _read(frame_reader, outside) == []


def test_the_region_rides_on_the_frame() -> None:
    frame = frame_pb2.Frame(camera_id="cam-1")
    assert region_of(frame) is None
    frame.region.polygon.add(x=10, y=20)
    frame.region.polygon.add(x=110, y=20)
    frame.region.polygon.add(x=60, y=90)
    frame.region.min_plate_width = 40
    parsed = frame_pb2.Frame.FromString(frame.SerializeToString())
    assert region_of(parsed) == ReadingRegion(((10, 20), (110, 20), (60, 90)), 40, 0)


def test_the_region_keeps_plates_by_centre_and_width() -> None:
    triangle = ReadingRegion(((0, 0), (100, 0), (0, 100)), min_plate_width=10, max_plate_width=50)
    assert triangle.crop_box(1280, 720) == (0, 0, 101, 101)
    assert triangle.keeps((10, 10, 40, 20))
    assert not triangle.keeps((60, 60, 90, 70))  # centre beyond the hypotenuse
    assert not triangle.keeps((10, 10, 15, 20))  # narrower than 10
    assert not triangle.keeps((0, 10, 60, 20))  # wider than 50
    assert ReadingRegion().crop_box(640, 480) == (0, 0, 640, 480)
    assert ReadingRegion(((600, 400), (900, 400), (900, 900))).crop_box(640, 480) == (600, 400, 640, 480)


async def test_a_frame_with_its_camera_region_gives_reads_of_that_region_only(
    frame_reader: FrameReader,
) -> None:
    image, boxes = _two_plates()
    frame = frame_pb2.Frame(
        meta=new_meta("zone-1", "ingest"), camera_id="cam-1", captured_at=to_timestamp(datetime.now(UTC))
    )
    for x, y in AROUND_LEFT:
        frame.region.polygon.add(x=x, y=y)
    slot, bus = ReaderSlot(), MemoryBus()
    slot.set(frame_reader)
    ports = FramePorts(slot, bus, "reads", PassageFeed(3.0, "zone-1"), "zone-1", "test", with_overview=False)
    await bus.start()
    await read_frames([(frame, image)], ports)
    reads = [read_pb2.PlateRead.FromString(r.value) for r in await read_topic(bus, "reads")]
    assert [r.plate for r in reads] == [LEFT[0]]
    box = reads[0].box
    x1, y1, x2, y2 = boxes[LEFT[0]]
    assert x1 <= (box.x1 + box.x2) / 2 <= x2 and y1 <= (box.y1 + box.y2) / 2 <= y2, box
