"""ONNX Runtime thread spinning off (detect's default) against on (ONNX Runtime's), in one run.

Each reader kind is built twice, alike but for `session.intra_op.allow_spinning`, and the two take
turns frame by frame, so the machine's own swings slow them alike. Timed: one reader of two threads
per frame (ms, median and p95), and the service's setup on two cores, two readers of one thread each
reading polled batches through the FrameReader (frames/s).

    python -m bench.bench_detect_threads [PHOTOS_DIR] [--limit N]

PHOTOS_DIR: a folder of photos (for example ../shared/datasets/openalpr_us/images); without one,
synthetic 1280x720 Belgian scenes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import numpy as np

from anpr_detect.adapters.frame_reader import FrameReader
from anpr_detect.adapters.images import decode_image
from anpr_detect.adapters.plate_reading import PlateReader
from anpr_detect.adapters.readers import ReaderKind, build_reader
from anpr_detect_training.synthetic import render_scene
from bench.common import percentile, write_result

KINDS: tuple[ReaderKind, ...] = ("detector", "text")
BATCH = 4  # frames a polled batch hands the FrameReader


def _frames(folder: Path | None, limit: int) -> tuple[list[np.ndarray], str]:
    if folder is None:
        plates = ["1ABC234", "2XYZ789", "1DEF456", "2GHJ123", "1KLM567", "2NPR890", "1STU012", "2VWX345"]
        scenes = [decode_image(render_scene(plate, seed=500 + i)) for i, plate in enumerate(plates)]
        return scenes[:limit], f"{min(limit, len(scenes))} synthetic 1280x720 Belgian scenes"
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})[:limit]
    return [
        decode_image(p.read_bytes()) for p in paths
    ], f"the first {len(paths)} photos of {folder.resolve().parent.name}/{folder.name}"


def _serial_ms(readers: list[PlateReader], frames: list[np.ndarray]) -> list[list[float]]:
    spent: list[list[float]] = [[] for _ in readers]
    for reader in readers:
        reader.read(frames[0])  # warm: each new input shape is planned once
    for frame in frames:
        for reader, times in zip(readers, spent, strict=True):
            started = time.perf_counter()
            reader.read(frame)
            times.append((time.perf_counter() - started) * 1000)
    return spent


async def _two_workers(pairs: list[list[PlateReader]], frames: list[np.ndarray]) -> list[float]:
    """Frames/s of each pair of one-thread readers through a FrameReader, batch by batch in turn."""
    frame_readers = [FrameReader(pair) for pair in pairs]
    spent = [0.0 for _ in pairs]
    try:
        for start in range(0, len(frames), BATCH):
            batch = frames[start : start + BATCH]
            for index, frame_reader in enumerate(frame_readers):
                started = time.perf_counter()
                await frame_reader.read_many(batch)
                spent[index] += time.perf_counter() - started
    finally:
        for frame_reader in frame_readers:
            frame_reader.close()
    return [round(len(frames) / s, 2) for s in spent]


def main() -> None:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, nargs="?", default=None, metavar="PHOTOS_DIR")
    parser.add_argument("--limit", type=int, default=40)
    args = parser.parse_args()
    frames, described = _frames(args.folder, args.limit)
    measured: dict[str, float] = {}
    baseline: dict[str, float] = {}
    for kind in KINDS:
        calm, spinning = (build_reader(kind, threads=2, spinning=s) for s in (False, True))
        calm_ms, spinning_ms = _serial_ms([calm, spinning], frames)
        for figures, times in ((measured, calm_ms), (baseline, spinning_ms)):
            figures[f"{kind}_ms_p50"] = round(percentile(times, 50), 1)
            figures[f"{kind}_ms_p95"] = round(percentile(times, 95), 1)
        del calm, spinning
        pairs = [[build_reader(kind, threads=1, spinning=s) for _ in range(2)] for s in (False, True)]
        calm_rate, spinning_rate = asyncio.run(_two_workers(pairs, frames))
        measured[f"{kind}_frames_per_s_two_workers"] = calm_rate
        baseline[f"{kind}_frames_per_s_two_workers"] = spinning_rate
    path = write_result(
        "detect_threads",
        measured,
        baseline,
        notes=(
            f"{described}, CPU only, {len(os.sched_getaffinity(0))} cores. Metrics: ONNX Runtime "
            "sessions with session.intra_op.allow_spinning=0 (detect's default, ANPR_ORT_SPINNING=false); "
            "baseline: the same readers with spinning on (ONNX Runtime's default), in the same process, "
            "frame by frame in turn (ms: one reader of two threads; frames_per_s_two_workers: two "
            f"readers of one thread through the FrameReader, polled batches of {BATCH}). Reader kinds "
            "as in adapters/readers.py. The machine was shared with other work."
        ),
    )
    sys.stdout.write(f"{path}\n{path.read_text()}")


if __name__ == "__main__":
    main()
