"""The detector's synthetic training scenes and the YOLO dataset written from them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from anpr_detect_training.scenes import TrainingScene, plate_fonts, render_training_scene
from anpr_detect_training.training_data import existing_dataset, label_lines, write_dataset


@pytest.fixture(scope="module")
def scenes() -> list[TrainingScene]:
    return [render_training_scene(seed) for seed in range(30)]


def test_a_scene_is_deterministic_for_its_seed() -> None:
    first, again, other = render_training_scene(7), render_training_scene(7), render_training_scene(8)
    assert np.array_equal(first.image, again.image) and first.plates == again.plates
    assert not np.array_equal(first.image, other.image) or first.plates != other.plates


def test_scenes_vary_plates_count_size_and_layout_with_boxes_inside_the_frame(
    scenes: list[TrainingScene],
) -> None:
    counts = Counter(len(scene.plates) for scene in scenes)
    assert counts[0] >= 1, "some frames must teach the model that there is no plate"
    assert sum(n for c, n in counts.items() if c >= 2) >= 3, "several plates per scene"
    kinds = {plate.kind for scene in scenes for plate in scene.plates}
    assert {"BE"} <= kinds and any(kind.startswith("generic") for kind in kinds) and len(kinds) >= 5
    widths = []
    for scene in scenes:
        height, width = scene.image.shape[:2]
        assert scene.image.dtype == np.uint8 and scene.image.shape[2] == 3
        for plate in scene.plates:
            x1, y1, x2, y2 = plate.box
            assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
            widths.append(x2 - x1)
    assert min(widths) < 80 and max(widths) > 250, "distant and close plates"


def test_a_plate_box_holds_the_plate_and_not_the_background(scenes: list[TrainingScene]) -> None:
    # A plate face carries strong character edges: a box on the plate is busier than the frame.
    contrasts = []
    for scene in scenes:
        grey = cv2.cvtColor(scene.image, cv2.COLOR_RGB2GRAY).astype(np.float32)
        edges = np.abs(cv2.Laplacian(grey, cv2.CV_32F))
        for plate in scene.plates:
            x1, y1, x2, y2 = plate.box
            if x2 - x1 >= 60:
                contrasts.append(float(edges[y1:y2, x1:x2].mean() / (edges.mean() + 1e-6)))
    assert contrasts and float(np.median(contrasts)) > 1.2


def test_fonts_come_from_the_machine_and_exclude_symbol_faces() -> None:
    fonts = plate_fonts()
    assert fonts, "no TrueType font found: the scenes would all use Pillow's default face"
    assert all(font.is_file() for font in fonts)
    assert not any("math" in font.name.lower() or "oblique" in font.name.lower() for font in fonts)


def test_labels_are_normalised_centre_size_lines_of_class_zero(scenes: list[TrainingScene]) -> None:
    scene = next(s for s in scenes if len(s.plates) >= 2)
    height, width = scene.image.shape[:2]
    lines = label_lines(scene, width // 2, height // 2)
    assert 1 <= len(lines) <= len(scene.plates)
    for line in lines:
        fields = line.split()
        assert fields[0] == "0" and len(fields) == 5
        cx, cy, w, h = map(float, fields[1:])
        assert 0 < cx < 1 and 0 < cy < 1 and 0 < w <= 1 and 0 < h <= 1


def test_write_dataset_lays_out_images_labels_and_data_yaml(tmp_path: Path) -> None:
    summary = write_dataset(tmp_path, {"train": [1, 2, 3], "val": [100]}, long_side=320)
    assert summary.images == {"train": 3, "val": 1}
    for split, seeds in (("train", [1, 2, 3]), ("val", [100])):
        for seed in seeds:
            image = cv2.imread(str(tmp_path / "images" / split / f"{seed:08d}.jpg"))
            assert image is not None and max(image.shape[:2]) == 320
            labels = (tmp_path / "labels" / split / f"{seed:08d}.txt").read_text().splitlines()
            assert len(labels) == len(
                label_lines(render_training_scene(seed), image.shape[1], image.shape[0])
            )
    assert summary.plates["train"] == sum(
        len((tmp_path / "labels" / "train" / f"{seed:08d}.txt").read_text().splitlines())
        for seed in (1, 2, 3)
    )
    data = (tmp_path / "data.yaml").read_text()
    assert "train: images/train" in data and "val: images/val" in data and "0: plate" in data


def test_an_existing_dataset_is_reused_only_for_the_same_seeds(tmp_path: Path) -> None:
    assert existing_dataset(tmp_path, {"train": [1]}) is None
    written = write_dataset(tmp_path, {"train": [1, 2], "val": [100]}, long_side=256)
    assert existing_dataset(tmp_path, {"train": [1, 2], "val": [100]}) == written
    assert existing_dataset(tmp_path, {"train": [1, 2, 3], "val": [100]}) is None
    assert existing_dataset(tmp_path, {"train": [1], "val": [100]}) is None
