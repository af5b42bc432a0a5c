"""Turns a frame into plate reads: inference off the event loop, bounded, then the wire events."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC

import cv2
import numpy as np

from anpr.v1 import common_pb2, frame_pb2, read_pb2
from anpr_core.events import new_meta
from anpr_core.metrics import DETECT_LATENCY
from anpr_detect.adapters.ocr import DetectedPlate, PlateReader, decode_image
from anpr_detect.domain.passages import Sighting

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
        async with self._slots:
            # The semaphore guarantees an idle reader; only the event loop touches the deque.
            reader = self._idle.popleft()
            try:
                started = time.perf_counter()
                loop = asyncio.get_running_loop()
                plates = await loop.run_in_executor(self._executor, reader.read, image)
                DETECT_LATENCY.observe(time.perf_counter() - started)
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


def reads_for_frame(
    frame: frame_pb2.Frame, image: np.ndarray, plates: list[DetectedPlate], zone_id: str
) -> list[read_pb2.PlateRead]:
    reads = []
    for plate in plates:
        reads.append(
            read_pb2.PlateRead(
                meta=new_meta(zone_id, "detect"),
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
                reader=READER_NAME,
            )
        )
    return reads


def sightings_of(reads: Iterable[read_pb2.PlateRead]) -> list[Sighting]:
    """Reads from the wire as passage sightings, for offline passage runs (passages_for)."""
    return [
        Sighting(
            read_id=read.meta.event_id,
            camera_id=read.camera_id,
            plate=read.plate,
            confidence=read.confidence,
            at=read.captured_at.ToDatetime(tzinfo=UTC).timestamp(),
        )
        for read in reads
        if read.plate
    ]


def decode_frame_image(frame: frame_pb2.Frame) -> np.ndarray:
    return decode_image(frame.image)
