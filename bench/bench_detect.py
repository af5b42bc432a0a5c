"""Plate reader speed on synthetic 1280x720 frames: the service's reader against the text reader.

The service's reader (the project's plate detector, then PP-OCR on each plate) and the baseline
(the foundation's reader: PP-OCR text detection over the whole frame) are built and timed in this
one process, taking turns frame by frame, so a machine shared with other work slows them alike.
Also measured: frames/s at detection batch sizes 1 and 16 (whole reader, and detector alone), and
through the FrameReader with two workers of one ONNX Runtime thread each (the service's default of
threads=2, max_inflight=2) reading polled batches, against one shared reader of two threads.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable

import numpy as np

from anpr_detect.adapters.frame_reader import FrameReader
from anpr_detect.adapters.images import decode_image
from anpr_detect.adapters.ocr import RapidOcrPlateReader
from anpr_detect.adapters.plate_detector import OnnxPlateDetector
from anpr_detect.adapters.plate_reading import PlateReader
from anpr_detect.adapters.readers import DEFAULT_READER_KIND, DetectorPlateReader, build_reader
from anpr_detect_training.synthetic import render_scene
from bench.common import percentile, write_result

PLATES = ["1ABC234", "2XYZ789", "1DEF456", "2GHJ123", "1KLM567", "2NPR890", "1STU012", "2VWX345"]
ROUNDS = 3


def _frames() -> list[np.ndarray]:
    return [decode_image(render_scene(plate, seed=500 + i)) for i, plate in enumerate(PLATES)]


def _serial(readers: list[PlateReader], frames: list[np.ndarray]) -> list[dict[str, float]]:
    times: list[list[float]] = [[] for _ in readers]
    for _ in range(ROUNDS):
        for frame in frames:
            for reader, spent in zip(readers, times, strict=True):
                started = time.perf_counter()
                reader.read(frame)
                spent.append(time.perf_counter() - started)
    return [
        {
            "ms_p50": round(percentile([t * 1000 for t in spent], 50), 1),
            "ms_p95": round(percentile([t * 1000 for t in spent], 95), 1),
            "frames_per_s": round(len(spent) / sum(spent), 3),
        }
        for spent in times
    ]


def _batched(frames: list[np.ndarray], batch: int) -> list[list[np.ndarray]]:
    repeated = (frames * (batch // len(frames) + 1))[: max(batch, len(frames))]
    return [repeated[i : i + batch] for i in range(0, len(repeated), batch)]


def _frames_per_s_at_batch(
    read_batch: Callable[[list[np.ndarray]], object], frames: list[np.ndarray], batch: int
) -> float:
    batches = _batched(frames, batch)
    read_batch(batches[0])  # warm: ONNX Runtime plans each new input shape once
    started = time.perf_counter()
    count = 0
    for _ in range(ROUNDS):
        for chunk in batches:
            read_batch(chunk)
            count += len(chunk)
    return round(count / (time.perf_counter() - started), 2)


async def _through_frame_reader(readers: list[PlateReader], frames: list[np.ndarray]) -> float:
    frame_reader = FrameReader(readers)
    try:
        started = time.perf_counter()
        for _ in range(ROUNDS):
            await frame_reader.read_many(frames)
        return round(ROUNDS * len(frames) / (time.perf_counter() - started), 3)
    finally:
        frame_reader.close()


def main() -> None:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    frames = _frames()
    detector_reader = DetectorPlateReader(OnnxPlateDetector(threads=2), RapidOcrPlateReader(threads=2))
    text_reader = RapidOcrPlateReader(threads=2)
    measured, baseline = _serial([detector_reader, text_reader], frames)

    detector = OnnxPlateDetector(threads=2)
    for batch in (1, 16):
        reader_rate = _frames_per_s_at_batch(detector_reader.read_batch, frames, batch)
        measured[f"frames_per_s_batch_{batch}"] = reader_rate
        measured[f"detector_frames_per_s_batch_{batch}"] = _frames_per_s_at_batch(
            detector.detect_batch, frames, batch
        )
        baseline[f"frames_per_s_batch_{batch}"] = baseline["frames_per_s"]

    workers = [build_reader("detector", threads=1) for _ in range(2)]
    measured["frames_per_s_two_workers"] = asyncio.run(_through_frame_reader(list(workers), frames))
    baseline["frames_per_s_two_workers"] = asyncio.run(_through_frame_reader([text_reader], frames))

    path = write_result(
        "detect",
        measured,
        baseline,
        notes=(
            f"{len(frames)} synthetic 1280x720 Belgian scenes, {ROUNDS} rounds, threads=2, CPU only. "
            "Metrics: the 'detector' reader (the project's YOLO plate detector on ONNX Runtime, then "
            "PP-OCR text detection and recognition on each plate's crop). Baseline: the 'text' reader "
            "(PP-OCR text detection over the whole frame at a 960x540 pixel budget, batched "
            "recognition), timed in the same process frame by frame in turn. The service runs "
            f"'{DEFAULT_READER_KIND}' (chosen by anpr eval on real photos, see the model card). "
            "frames_per_s_batch_N: the service's reader with detection batched N frames at a time "
            "(detector_*: the detector alone); the baseline has no batching, its figure is its serial "
            "one. frames_per_s_two_workers: FrameReader.read_many with two readers of one thread each "
            "vs one shared text reader of two threads. The 2-core machine was shared with other work."
        ),
    )
    sys.stdout.write(f"{path}\n{path.read_text()}")


if __name__ == "__main__":
    main()
