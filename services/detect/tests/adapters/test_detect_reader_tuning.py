"""The reader's speed knobs: the detection pixel budget, and the split pipeline reading as rapidocr's."""

from __future__ import annotations

import pytest

from anpr_detect.adapters.images import decode_image
from anpr_detect.adapters.ocr import RapidOcrPlateReader, ReaderTuning, _detection_scale
from anpr_detect_training.synthetic import render_scene


@pytest.mark.parametrize(
    ("width", "height", "tuning", "scale"),
    [
        (1280, 720, ReaderTuning(), 0.75),  # 16:9: the long side and the pixel budget agree
        (1280, 1280, ReaderTuning(), 0.5625),  # square: the pixel budget shrinks it further
        (1280, 1280, ReaderTuning(detection_pixels=None), 0.75),
        (640, 480, ReaderTuning(), 1.0),  # never enlarged
        (1920, 1080, ReaderTuning(detection_long_side=640, detection_pixels=None), 1 / 3),
    ],
)
def test_detection_scale_keeps_within_the_long_side_and_the_pixel_budget(
    width: int, height: int, tuning: ReaderTuning, scale: float
) -> None:
    assert _detection_scale(width, height, tuning) == pytest.approx(scale)


def test_the_split_pipeline_reads_a_frame_as_rapidocrs_own_pipeline_does() -> None:
    image = decode_image(render_scene("1ABC234", seed=7))
    split = RapidOcrPlateReader(threads=2).read(image)
    whole = RapidOcrPlateReader(threads=2, tuning=ReaderTuning(split_pipeline=False)).read(image)
    assert [p.text for p in split] == [p.text for p in whole] == ["1ABC234"]
    assert [p.bbox for p in split] == [p.bbox for p in whole]
    assert [p.confidence for p in split] == pytest.approx([p.confidence for p in whole], abs=1e-3)
