"""FrameReader: one reader per worker, so frames really are read in parallel, and never more at once."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from anpr_detect.adapters.frame_reader import FrameReader
from anpr_detect.adapters.plate_reading import DetectedPlate
from anpr_detect.bootstrap import threads_per_reader
from anpr_detect.settings import DetectSettings

IMAGE = np.zeros((4, 4, 3), dtype=np.uint8)


class _CountingReader:
    """Records how many frames run at once, on it and overall; waits at a barrier if given one."""

    active_overall = 0
    most_overall = 0
    lock = threading.Lock()

    def __init__(self, barrier: threading.Barrier | None = None, hold_s: float = 0.0) -> None:
        self.barrier = barrier
        self.hold_s = hold_s
        self.active = 0
        self.most = 0
        self.calls = 0

    def read(self, image: np.ndarray) -> list[DetectedPlate]:
        with self.lock:
            self.active += 1
            self.calls += 1
            self.most = max(self.most, self.active)
            type(self).active_overall += 1
            type(self).most_overall = max(type(self).most_overall, type(self).active_overall)
        try:
            if self.barrier is not None:
                self.barrier.wait(timeout=5)  # raises unless the other reader runs at the same time
            threading.Event().wait(self.hold_s)
            return []
        finally:
            with self.lock:
                self.active -= 1
                type(self).active_overall -= 1


@pytest.fixture(autouse=True)
def _reset_counts() -> None:
    _CountingReader.active_overall = 0
    _CountingReader.most_overall = 0


async def test_two_readers_read_two_frames_at_the_same_time() -> None:
    barrier = threading.Barrier(2)
    readers = [_CountingReader(barrier), _CountingReader(barrier)]
    frame_reader = FrameReader(readers)
    try:
        results = await asyncio.wait_for(
            asyncio.gather(frame_reader.read(IMAGE), frame_reader.read(IMAGE)), timeout=10
        )
    finally:
        frame_reader.close()
    assert list(results) == [[], []]
    assert [reader.calls for reader in readers] == [1, 1]
    assert not barrier.broken


async def test_no_reader_ever_reads_two_frames_and_no_more_than_the_workers_run_at_once() -> None:
    readers = [_CountingReader(hold_s=0.01) for _ in range(3)]
    frame_reader = FrameReader(readers)
    assert frame_reader.workers == 3
    try:
        await asyncio.gather(*(frame_reader.read(IMAGE) for _ in range(12)))
    finally:
        frame_reader.close()
    assert sum(reader.calls for reader in readers) == 12
    assert all(reader.most == 1 for reader in readers)
    assert _CountingReader.most_overall == 3


async def test_a_failing_read_gives_its_reader_back() -> None:
    class _Broken:
        def read(self, image: np.ndarray) -> list[DetectedPlate]:
            raise ValueError("bad frame")

    frame_reader = FrameReader([_Broken()])
    try:
        for _ in range(2):  # the second call would hang if the reader were lost
            with pytest.raises(ValueError, match="bad frame"):
                await asyncio.wait_for(frame_reader.read(IMAGE), timeout=5)
    finally:
        frame_reader.close()


def test_a_frame_reader_needs_a_reader() -> None:
    with pytest.raises(ValueError, match="at least one"):
        FrameReader([])


@pytest.mark.parametrize(
    ("threads", "inflight", "each"), [(2, 1, 2), (2, 2, 1), (8, 2, 4), (1, 4, 1), (6, 4, 1)]
)
def test_readers_share_the_threads(threads: int, inflight: int, each: int) -> None:
    assert threads_per_reader(DetectSettings(threads=threads, max_inflight=inflight)) == each


class _BatchReader:
    """Reads a frame as a plate named after the frame's first pixel; records the batches it got."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def read(self, image: np.ndarray) -> list[DetectedPlate]:
        return self.read_batch([image])[0]

    def read_batch(self, images: list[np.ndarray]) -> list[list[DetectedPlate]]:
        self.batches.append(len(images))
        return [[DetectedPlate(str(int(i[0, 0, 0])), "", "", False, 0.5, (0, 0, 1, 1), ())] for i in images]


async def test_read_many_splits_a_poll_over_the_readers_in_batches_and_keeps_the_order() -> None:
    readers = [_BatchReader(), _BatchReader()]
    frame_reader = FrameReader(readers)
    try:
        frames = [np.full((2, 2, 3), n, np.uint8) for n in range(7)]
        plates = await frame_reader.read_many(frames)
        assert [p[0].text for p in plates] == [str(n) for n in range(7)]
        assert sorted(b for r in readers for b in r.batches) == [3, 4]
        assert await frame_reader.read_many([]) == []
        single = await frame_reader.read_many(frames[:1])
        assert single[0][0].text == "0"
    finally:
        frame_reader.close()


async def test_read_many_reads_frame_by_frame_with_readers_without_batches() -> None:
    readers = [_CountingReader(), _CountingReader()]
    frame_reader = FrameReader(readers)
    try:
        assert await frame_reader.read_many([IMAGE] * 5) == [[]] * 5
        assert sorted(r.calls for r in readers) == [2, 3]
    finally:
        frame_reader.close()
