"""Detect's work, one named function per command and event, its ports passed in."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from anpr.v1 import frame_pb2, passage_pb2, read_pb2
from anpr_core.bus import Bus, OutgoingRecord
from anpr_core.metrics import PASSAGES, READS
from anpr_detect.adapters.frame_reader import FrameReader, ReaderSlot
from anpr_detect.adapters.images import decode_image
from anpr_detect.adapters.passage_feed import PassageFeed
from anpr_detect.adapters.plate_reading import DetectedPlate
from anpr_detect.adapters.wire import reads_for_frame, region_of
from anpr_detect.domain.regions import ReadingRegion

__all__ = [
    "FramePorts",
    "ImageReading",
    "PassagePorts",
    "ReadPorts",
    "join_camera_reads",
    "publish_due_passages",
    "publish_open_passages",
    "read_frames",
    "read_image",
    "read_regions",
]


@dataclass(frozen=True)
class ReadPorts:
    """What reading one uploaded image needs: the readers, and how much an upload may be."""

    reader: ReaderSlot
    max_upload_bytes: int
    max_image_pixels: int


@dataclass(frozen=True)
class ImageReading:
    plates: list[DetectedPlate]
    ms: float  # reading time, decoding left out


async def read_image(data: bytes, ports: ReadPorts) -> ImageReading:
    """The plates of one image, as the frames consumer would read them.

    Raises ImageTooLarge (from the header, before decoding), NotAnImage, or ReaderLoading while the
    models load.
    """
    decoded = decode_image(data, ports.max_image_pixels)
    started = time.perf_counter()
    plates = await ports.reader.get().read(decoded)
    return ImageReading(plates, round((time.perf_counter() - started) * 1000, 1))


@dataclass(frozen=True)
class FramePorts:
    """What reading the frames of the frames topic needs."""

    reader: ReaderSlot
    bus: Bus
    reads_topic: str
    passages: PassageFeed
    zone_id: str
    reader_name: str  # what each read records as its reader (PlateRead.reader)
    with_overview: bool  # each read carries its frame as the overview image


async def read_frames(frames: Sequence[tuple[frame_pb2.Frame, np.ndarray]], ports: FramePorts) -> None:
    """Reads the frames of one polled batch, spread over the readers; joins each read to its passage
    and publishes the reads (acknowledged by the broker when this returns)."""
    regions = [region_of(frame) for frame, _ in frames]
    plates_per_frame = await read_regions(ports.reader.get(), [image for _, image in frames], regions)
    outgoing: list[OutgoingRecord] = []
    per_camera: Counter[str] = Counter()
    for (frame, image), plates in zip(frames, plates_per_frame, strict=True):
        reads = reads_for_frame(
            frame,
            image,
            plates,
            ports.zone_id,
            with_overview=ports.with_overview,
            reader_name=ports.reader_name,
        )
        ports.passages.join(reads)  # in the frames' order; a read id already held is not joined again
        outgoing.extend(
            OutgoingRecord(ports.reads_topic, frame.camera_id.encode(), read.SerializeToString())
            for read in reads
        )
        per_camera[frame.camera_id] += len(reads)
    if outgoing:
        await ports.bus.publish_many(outgoing)
        for camera_id, count in per_camera.items():
            READS.labels("detect", camera_id).inc(count)


async def read_regions(
    reader: FrameReader, images: Sequence[np.ndarray], regions: Sequence[ReadingRegion | None]
) -> list[list[DetectedPlate]]:
    """Each frame read within its camera's region (the polygon's bounding box; the whole frame
    without one), its plates' boxes in frame pixels, those outside the polygon or the expected plate
    width dropped."""
    views: list[np.ndarray] = []
    placed: list[tuple[int, int, int]] = []  # frame index, crop's left and top
    for index, (image, region) in enumerate(zip(images, regions, strict=True)):
        box = (
            (0, 0, image.shape[1], image.shape[0]) if region is None else region.crop_box(*image.shape[1::-1])
        )
        if box is None:  # the region lies outside the frame: nothing to read
            continue
        x1, y1, x2, y2 = box
        views.append(image if region is None else np.ascontiguousarray(image[y1:y2, x1:x2]))
        placed.append((index, x1, y1))
    results: list[list[DetectedPlate]] = [[] for _ in images]
    for (index, left, top), plates in zip(placed, await reader.read_many(views), strict=True):
        region = regions[index]
        if region is None:
            results[index] = plates
            continue
        in_frame = [replace(p, bbox=_shifted(p.bbox, left, top)) for p in plates]
        results[index] = [p for p in in_frame if region.keeps(p.bbox)]
    return results


def _shifted(box: tuple[int, int, int, int], left: int, top: int) -> tuple[int, int, int, int]:
    return (box[0] + left, box[1] + top, box[2] + left, box[3] + top)


def join_camera_reads(reads: Iterable[read_pb2.PlateRead], passages: PassageFeed) -> int:
    """Joins the reads that belong to no passage yet to their camera's open passage, by the rules of
    detect's own reads; returns how many joined.

    Those are smart cameras' own reads (ingest publishes them without a passage, and a camera may send
    several of one car); detect's reads carry the passage they joined when made, and are left alone.
    """
    waiting = [read for read in reads if not read.passage_id and read.plate]
    passages.join(waiting)  # in the topic's order; a read id already held is not joined again
    return len(waiting)


@dataclass(frozen=True)
class PassagePorts:
    """Where closed passages go, and the feeds they close in."""

    bus: Bus
    topic: str
    feeds: tuple[PassageFeed, ...]
    # Closed, not yet on the bus: a failed publish keeps them for the next round.
    unsent: list[passage_pb2.Passage] = field(default_factory=list)


async def publish_due_passages(ports: PassagePorts) -> None:
    """Publishes the passages no read joined for the window (and any a failed round left unsent)."""
    for feed in ports.feeds:
        ports.unsent.extend(feed.due())
    await _publish_unsent(ports)


async def publish_open_passages(ports: PassagePorts) -> None:
    """At shutdown, once no read can join any more: closes every open passage and publishes it."""
    for feed in ports.feeds:
        ports.unsent.extend(feed.close_all())
    await _publish_unsent(ports)


async def _publish_unsent(ports: PassagePorts) -> None:
    if not ports.unsent:
        return
    await ports.bus.publish_many(
        [OutgoingRecord(ports.topic, p.camera_id.encode(), p.SerializeToString()) for p in ports.unsent]
    )
    PASSAGES.inc(len(ports.unsent))
    ports.unsent.clear()
