"""Detect's wire codecs: a frame's plates to PlateRead events, reads to passage sightings, stable ids."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable
from datetime import UTC

import cv2
import numpy as np

from anpr.v1 import common_pb2, frame_pb2, read_pb2
from anpr_core.events import new_meta
from anpr_detect.adapters.images import DEFAULT_MAX_IMAGE_PIXELS, decode_image
from anpr_detect.adapters.plate_reading import DetectedPlate
from anpr_detect.domain.passages import Sighting
from anpr_detect.domain.regions import ReadingRegion

__all__ = [
    "READER_NAME",
    "decode_frame_image",
    "derived_event_id",
    "plate_crop_jpeg",
    "reads_for_frame",
    "region_of",
    "sighting_of",
    "sightings_of",
]

READER_NAME = "rapidocr-ppocr"


def plate_crop_jpeg(image: np.ndarray, box: tuple[int, int, int, int]) -> bytes:
    x1, y1, x2, y2 = box
    height, width = image.shape[:2]
    crop = image[max(0, y1) : min(height, y2), max(0, x1) : min(width, x2)]
    if crop.size == 0:
        return b""
    ok, encoded = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return encoded.tobytes() if ok else b""


def region_of(frame: frame_pb2.Frame) -> ReadingRegion | None:
    """The camera's region of interest and plate width the frame carries; None: the whole frame."""
    if not frame.HasField("region"):
        return None
    region = frame.region
    return ReadingRegion(
        tuple((point.x, point.y) for point in region.polygon),
        region.min_plate_width,
        region.max_plate_width,
    )


def derived_event_id(parent_event_id: str, name: str) -> str:
    """A UUIDv7-shaped event id that is the same whenever `parent_event_id` and `name` are.

    A frame read again (redelivered after a crash) gives its reads the same ids, and so their
    passage the same id: sinks, idempotent on ids, keep one copy. The time bits are the parent's
    when it is a UUIDv7, so the ids stay time-ordered.
    """
    digest = hashlib.sha256(f"{parent_event_id}\x00{name}".encode()).digest()
    try:
        parent = uuid.UUID(parent_event_id)
        unix_ms = parent.int >> 80 if parent.version == 7 else int.from_bytes(digest[10:16], "big")
    except ValueError:
        unix_ms = int.from_bytes(digest[10:16], "big")
    rand = int.from_bytes(digest[:10], "big")
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def reads_for_frame(
    frame: frame_pb2.Frame,
    image: np.ndarray,
    plates: list[DetectedPlate],
    zone_id: str,
    *,
    with_overview: bool = True,
    reader_name: str = READER_NAME,
) -> list[read_pb2.PlateRead]:
    reads = []
    for index, plate in enumerate(plates):
        meta = new_meta(zone_id, "detect")
        meta.event_id = derived_event_id(frame.meta.event_id, f"read/{index}")
        reads.append(
            read_pb2.PlateRead(
                meta=meta,
                camera_id=frame.camera_id,
                captured_at=frame.captured_at,
                direction=frame.direction,
                plate=plate.text,
                formatted=plate.formatted,
                country=plate.country,
                format_valid=plate.valid,
                confidence=plate.confidence,
                candidates=[read_pb2.PlateCandidate(text=t, confidence=c) for t, c in plate.candidates],
                box=common_pb2.Box(x1=plate.bbox[0], y1=plate.bbox[1], x2=plate.bbox[2], y2=plate.bbox[3]),
                frame_event_id=frame.meta.event_id,
                camera_read=False,
                plate_crop=plate_crop_jpeg(image, plate.bbox),
                reader=reader_name,
                # The camera's own bytes, not a re-encoding: boxes keep their meaning, no extra loss.
                overview=frame.image if with_overview else b"",
                character_probabilities=plate.text_probabilities,
                readings=[
                    read_pb2.PlateReading(
                        text=r.text, formatted=r.formatted, country=r.country, probability=r.probability
                    )
                    for r in plate.readings
                ],
                country_runner_up=plate.country_runner_up,
                plate_format=plate.format_name,
            )
        )
    return reads


def sighting_of(read: read_pb2.PlateRead) -> Sighting:
    return Sighting(
        read_id=read.meta.event_id,
        camera_id=read.camera_id,
        plate=read.plate,
        confidence=read.confidence,
        at=read.captured_at.ToDatetime(tzinfo=UTC).timestamp(),
    )


def sightings_of(reads: Iterable[read_pb2.PlateRead]) -> list[Sighting]:
    """Reads from the wire as passage sightings, for offline passage runs (passages_for)."""
    return [sighting_of(read) for read in reads if read.plate]


def decode_frame_image(frame: frame_pb2.Frame, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
    """The frame's image, decoded; ImageTooLarge (from the header) past `max_pixels`."""
    return decode_image(frame.image, max_pixels)
