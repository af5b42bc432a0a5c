"""Writes synthetic training scenes as an ultralytics YOLO dataset (images/, labels/, data.yaml).

No torch here: the main test suite checks the labels; the training script
(services/detect/training/train_detector.py, in its own environment) consumes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from anpr_detect_training.scenes import TrainingScene, render_training_scene

__all__ = ["DatasetSummary", "existing_dataset", "label_lines", "seeds", "write_dataset"]

# Plates narrower than this once the frame is scaled to the training size teach nothing but noise.
_MIN_LABEL_PX = 4


@dataclass(frozen=True)
class DatasetSummary:
    root: Path
    images: dict[str, int]  # split -> image count
    plates: dict[str, int]  # split -> labelled plate count


def label_lines(scene: TrainingScene, image_width: int, image_height: int) -> list[str]:
    """YOLO labels, one line per plate: class 0, centre and size normalised to the image."""
    frame_height, frame_width = scene.image.shape[:2]
    sx, sy = image_width / frame_width, image_height / frame_height
    lines = []
    for plate in scene.plates:
        x1, y1, x2, y2 = plate.box
        if (x2 - x1) * sx < _MIN_LABEL_PX or (y2 - y1) * sy < _MIN_LABEL_PX / 2:
            continue
        cx, cy = (x1 + x2) / 2 / frame_width, (y1 + y2) / 2 / frame_height
        w, h = (x2 - x1) / frame_width, (y2 - y1) / frame_height
        lines.append(f"0 {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}")
    return lines


def _write_one(job: tuple[Path, str, int, int]) -> int:
    root, split, seed, long_side = job
    scene = render_training_scene(seed)
    height, width = scene.image.shape[:2]
    scale = min(1.0, long_side / max(width, height))
    size = (round(width * scale), round(height * scale))
    image = cv2.resize(scene.image, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else scene.image
    name = f"{seed:08d}"
    cv2.imwrite(str(root / "images" / split / f"{name}.jpg"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    lines = label_lines(scene, *size)
    (root / "labels" / split / f"{name}.txt").write_text("".join(line + "\n" for line in lines))
    return len(lines)


def write_dataset(
    root: Path, splits: Mapping[str, Iterable[int]], *, long_side: int, processes: int = 1
) -> DatasetSummary:
    """Render the seeds of each split into root; images are stored at the training size."""
    jobs: list[tuple[Path, str, int, int]] = []
    for split, seeds in splits.items():
        (root / "images" / split).mkdir(parents=True, exist_ok=True)
        (root / "labels" / split).mkdir(parents=True, exist_ok=True)
        jobs.extend((root, split, seed, long_side) for seed in seeds)
    if processes > 1:
        with ProcessPoolExecutor(processes) as pool:
            counts = list(pool.map(_write_one, jobs, chunksize=16))
    else:
        counts = [_write_one(job) for job in jobs]
    images: dict[str, int] = {}
    plates: dict[str, int] = {}
    for (_, split, _, _), count in zip(jobs, counts, strict=True):
        images[split] = images.get(split, 0) + 1
        plates[split] = plates.get(split, 0) + count
    names = "\n".join(f"{split}: images/{split}" for split in splits)
    (root / "data.yaml").write_text(f"path: {root.resolve()}\n{names}\nnames:\n  0: plate\n")
    return DatasetSummary(root=root, images=images, plates=plates)


def existing_dataset(root: Path, splits: dict[str, list[int]]) -> DatasetSummary | None:
    """The dataset already written in root for exactly these seeds, or None."""
    if not (root / "data.yaml").is_file():
        return None
    images: dict[str, int] = {}
    plates: dict[str, int] = {}
    for split, split_seeds in splits.items():
        labels = [root / "labels" / split / f"{seed:08d}.txt" for seed in split_seeds]
        written = [root / "images" / split / f"{seed:08d}.jpg" for seed in split_seeds]
        if not all(path.is_file() for path in (*labels, *written)):
            return None
        if len(list((root / "images" / split).iterdir())) != len(split_seeds):
            return None
        images[split] = len(split_seeds)
        plates[split] = sum(len(path.read_text().splitlines()) for path in labels)
    return DatasetSummary(root=root, images=images, plates=plates)


def seeds(start: int, count: int) -> list[int]:
    return list(np.arange(start, start + count, dtype=np.int64).tolist())
