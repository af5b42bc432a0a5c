"""Runs the blocking plate readers off the event loop: one worker thread per reader, bounded; and the
slot that holds them once their models are loaded."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from anpr_core.metrics import DETECT_LATENCY
from anpr_detect.adapters.plate_reading import DetectedPlate, PlateReader

__all__ = ["FrameReader", "ReaderLoading", "ReaderSlot"]


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


class ReaderLoading(RuntimeError):
    """The models are still loading: no frame or image can be read yet."""


class ReaderSlot:
    """Holds the FrameReader once the models are loaded at start-up."""

    def __init__(self) -> None:
        self._reader: FrameReader | None = None

    def set(self, reader: FrameReader | None) -> None:
        self._reader = reader

    def get(self) -> FrameReader:
        if self._reader is None:
            raise ReaderLoading("the plate reader is still loading")
        return self._reader

    def ready(self) -> bool:
        return self._reader is not None

    async def loaded(self) -> bool:
        """For readiness: whether the models are loaded."""
        return self.ready()
