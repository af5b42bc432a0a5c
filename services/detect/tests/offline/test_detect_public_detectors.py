"""The public-detector baseline (platedet) as `anpr eval --baseline platedet` uses it, with a stand-in
for the package: the tests must not depend on whether it is installed."""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from anpr_detect.adapters.ocr import RapidOcrPlateReader
from anpr_detect.adapters.readers import DetectorPlateReader
from anpr_detect_eval.public_detectors import PlatedetBoxes, PublicDetectorMissing
from anpr_detect_training.synthetic import render_scene_with_box


class _FakePlatedet:
    """platedet.Platedet's surface: extract_roi(image, conf, iou, return_types=[...])."""

    answer: dict[str, Any] = {}
    seen: list[npt.NDArray[np.uint8]] = []

    def __init__(self, sess_options: Any = None, providers: Any = None) -> None:
        self.sess_options = sess_options

    def extract_roi(
        self, image: npt.NDArray[np.uint8], conf: float, iou: float, return_types: list[str]
    ) -> dict[str, Any]:
        assert return_types == ["boxes"]
        _FakePlatedet.seen.append(image)
        return _FakePlatedet.answer


@pytest.fixture
def fake_platedet(monkeypatch: pytest.MonkeyPatch) -> type[_FakePlatedet]:
    module = types.ModuleType("platedet")
    module.Platedet = _FakePlatedet  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "platedet", module)
    _FakePlatedet.seen = []
    return _FakePlatedet


def test_a_missing_package_is_a_clear_error_naming_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = importlib.import_module

    def no_platedet(name: str, package: str | None = None) -> types.ModuleType:
        if name == "platedet":
            raise ModuleNotFoundError("No module named 'platedet'")
        return real_import(name, package)

    monkeypatch.setattr(importlib, "import_module", no_platedet)
    with pytest.raises(PublicDetectorMissing, match="--no-deps platedet"):
        PlatedetBoxes(threads=1)


def test_boxes_come_back_best_first_from_an_rgb_frame(fake_platedet: type[_FakePlatedet]) -> None:
    fake_platedet.answer = {
        "boxes": {
            "boxes": np.array([[10, 10, 60, 30], [100, 50, 180, 80], [5, 5, 6, 40]], np.int32),
            "confidences": np.array([0.4, 0.9, 0.8], np.float32),
        }
    }
    frame = np.zeros((120, 200, 3), np.uint8)
    frame[..., 0] = 255  # blue in BGR
    (boxes,) = PlatedetBoxes(threads=1).detect_batch([frame])
    assert [b.box for b in boxes] == [(100, 50, 180, 80), (10, 10, 60, 30)]  # the 1 px wide box dropped
    assert boxes[0].score == pytest.approx(0.9)
    assert fake_platedet.seen[0][0, 0].tolist() == [0, 0, 255]  # handed over as RGB
    fake_platedet.answer = {}
    assert PlatedetBoxes(threads=1).detect_batch([frame]) == [[]]


def test_our_reader_reads_the_plate_in_the_public_detectors_box(fake_platedet: type[_FakePlatedet]) -> None:
    jpeg, (x1, y1, x2, y2) = render_scene_with_box("1ABC234", seed=3, country="BE")
    frame = np.asarray(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), np.uint8)
    fake_platedet.answer = {
        "boxes": {"boxes": np.array([[x1, y1, x2, y2]], np.int32), "confidences": np.array([0.95])}
    }
    reader = DetectorPlateReader(PlatedetBoxes(threads=1), RapidOcrPlateReader(threads=1))
    (plates,) = reader.read_batch([frame])
    assert plates and plates[0].text == "1ABC234"
