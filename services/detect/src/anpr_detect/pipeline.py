"""Turns a frame into plate reads: inference off the event loop, bounded, then the wire events."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC

import cv2
import numpy as np

from anpr.v1 import common_pb2, frame_pb2, passage_pb2, read_pb2
from anpr_core.events import new_meta
from anpr_core.metrics import DETECT_LATENCY
from anpr_detect.adapters.images import DEFAULT_MAX_IMAGE_PIXELS, decode_image
from anpr_detect.adapters.plate_reading import DetectedPlate, PlateReader
from anpr_detect.domain.grammar import interpret
from anpr_detect.domain.passages import LivePassages, Passage, Sighting

READER_NAME = "rapidocr-ppocr"


class FrameReader:
    """Runs blocking PlateReaders in worker threads, one reader per worker, one frame per reader.

    A reader serialises its own calls, so frames only run in parallel on distinct readers: with N
    readers, at most N frames are read at once; further callers wait for a reader to come back.
    """

    def __init__(self, readers: Sequence[PlateReader]) -> None:
        if not readers:
            raise ValueError("a FrameReader needs at least one PlateReader")
        self._idle = deque(readers)
        self._workers = len(readers)
        self._executor = ThreadPoolExecutor(max_workers=len(readers), thread_name_prefix="plate-reader")
        self._slots = asyncio.Semaphore(len(readers))

    @property
    def workers(self) -> int:
        return self._workers

    async def read(self, image: np.ndarray) -> list[DetectedPlate]:
        return (await self._read_chunk([image]))[0]

    async def read_many(self, images: Sequence[np.ndarray]) -> list[list[DetectedPlate]]:
        """Frames of one polled batch: split over the readers, each reading its share as a batch.

        A reader with `read_batch` (the detector's) runs its share's detection as one network call;
        the others read their share frame by frame. Results come back in the frames' order.
        """
        if not images:
            return []
        shares = min(self._workers, len(images))
        bounds = [round(i * len(images) / shares) for i in range(shares + 1)]
        chunks = [list(images[bounds[i] : bounds[i + 1]]) for i in range(shares)]
        results = await asyncio.gather(*(self._read_chunk(chunk) for chunk in chunks))
        return [plates for chunk in results for plates in chunk]

    async def _read_chunk(self, images: list[np.ndarray]) -> list[list[DetectedPlate]]:
        async with self._slots:
            # The semaphore guarantees an idle reader; only the event loop touches the deque.
            reader = self._idle.popleft()
            try:
                started = time.perf_counter()
                loop = asyncio.get_running_loop()
                read_batch = getattr(reader, "read_batch", None)
                if read_batch is not None:
                    plates: list[list[DetectedPlate]] = await loop.run_in_executor(
                        self._executor, read_batch, images
                    )
                else:
                    plates = await loop.run_in_executor(
                        self._executor, lambda: [reader.read(i) for i in images]
                    )
                per_frame = (time.perf_counter() - started) / len(images)
                for _ in images:
                    DETECT_LATENCY.observe(per_frame)
                return plates
            finally:
                self._idle.append(reader)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def plate_crop_jpeg(image: np.ndarray, box: tuple[int, int, int, int]) -> bytes:
    x1, y1, x2, y2 = box
    height, width = image.shape[:2]
    crop = image[max(0, y1) : min(height, y2), max(0, x1) : min(width, x2)]
    if crop.size == 0:
        return b""
    ok, encoded = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return encoded.tobytes() if ok else b""


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


@dataclass
class _PassageContext:
    """What the passage event carries beyond the domain's Passage, gathered from its reads."""

    direction: common_pb2.Direction.ValueType
    display: dict[str, tuple[str, str]] = field(default_factory=dict)  # plate -> (formatted, country)


class PassageFeed:
    """Detect's passages: reads join them as they are made; each closed passage comes out once.

    One feed per service instance, fed by one consumer loop. Frames are keyed by camera, so all the
    frames of a camera reach one instance and its passages are whole. The limits: a partition moved
    to another instance mid-passage (a rebalance) splits that passage in two, the old owner closing
    what it saw and the new one starting afresh; passages still open when an instance dies without
    shutting down are lost (their reads are not). Membership goes by capture time; the monotonic
    `clock` only decides when a quiet camera's passage is due (domain/passages.py, LivePassages).
    """

    def __init__(self, window_s: float, zone_id: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._live = LivePassages(window_s)
        self._zone_id = zone_id
        self._clock = clock
        self._context: dict[str, _PassageContext] = {}

    def join(self, reads: Iterable[read_pb2.PlateRead]) -> None:
        """Puts each read into its passage and stamps it with the passage id (reads without text: none)."""
        now = self._clock()
        for read in reads:
            if not read.plate:
                continue
            read.passage_id = self._live.add(sighting_of(read), now)
            context = self._context.setdefault(read.passage_id, _PassageContext(read.direction))
            context.display.setdefault(read.plate, (read.formatted, read.country))

    def due(self) -> list[passage_pb2.Passage]:
        """Passages no read joined for the window: each is returned once, then forgotten."""
        return [self._event(passage) for passage in self._live.close_due(self._clock())]

    def close_all(self) -> list[passage_pb2.Passage]:
        """Every open passage, at shutdown."""
        return [self._event(passage) for passage in self._live.close_all()]

    def _event(self, passage: Passage) -> passage_pb2.Passage:
        context = self._context.pop(passage.passage_id, None) or _PassageContext(
            common_pb2.DIRECTION_UNSPECIFIED
        )
        formatted, country = context.display.get(passage.plate) or _display_of(passage.plate)
        meta = new_meta(self._zone_id, "detect")
        meta.event_id = derived_event_id(passage.read_ids[0], "passage")
        event = passage_pb2.Passage(
            meta=meta,
            passage_id=passage.passage_id,
            camera_id=passage.camera_id,
            plate=passage.plate,
            formatted=formatted,
            country=country,
            confidence=passage.confidence,
            read_ids=passage.read_ids,
            direction=context.direction,
            zone=self._zone_id,
        )
        event.first_seen.FromNanoseconds(round(passage.first_at * 1e9))
        event.last_seen.FromNanoseconds(round(passage.last_at * 1e9))
        return event


def _display_of(plate: str) -> tuple[str, str]:
    """The display form and country of a consensus text no read had exactly: from the grammar."""
    found = interpret([(plate, 1.0)])
    if found is None or not found.valid or found.text != plate:
        return "", ""
    return found.formatted, found.country


def decode_frame_image(frame: frame_pb2.Frame, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> np.ndarray:
    """The frame's image, decoded; ImageTooLarge (from the header) past `max_pixels`."""
    return decode_image(frame.image, max_pixels)
