"""Reading inside a detector's box: the crop, two-row plates, and the composed reader."""

from __future__ import annotations

import numpy as np
import pytest

from anpr_detect.adapters.images import decode_image
from anpr_detect.adapters.plate_detector import PlateBox
from anpr_detect.adapters.plate_reading import DetectedPlate
from anpr_detect.adapters.readers import DetectorPlateReader
from anpr_detect.adapters.text_lines import TextBox, region_crop, two_row_reading


def _box(text: str, x1: float, y1: float, x2: float, y2: float, score: float = 0.9) -> TextBox:
    return TextBox(text=text, score=score, x1=x1, y1=y1, x2=x2, y2=y2, height=y2 - y1)


def test_two_stacked_lines_of_equal_height_read_as_one_plate_top_first() -> None:
    lower = [_box("123", 10, 50, 70, 85, 0.8)]
    upper = [_box("AB", 12, 10, 60, 44)]
    text, score = two_row_reading([lower, upper]) or ("", 0.0)
    assert text == "AB 123"
    assert score == pytest.approx(0.8)


def test_a_legend_or_side_by_side_lines_are_not_a_two_row_plate() -> None:
    legend = [_box("CALIFORNIA", 10, 2, 90, 12)]
    plate = [_box("7ABC123", 5, 20, 95, 60)]
    assert two_row_reading([legend, plate]) is None  # heights differ too much
    left, right = [_box("AB", 0, 10, 40, 40)], [_box("123", 50, 12, 100, 42)]
    assert two_row_reading([left, right]) is None
    assert two_row_reading([plate]) is None


def test_region_crop_pads_and_scales_to_the_reading_height() -> None:
    image = np.zeros((720, 1280, 3), np.uint8)
    crop = region_crop(image, (100, 100, 200, 124))
    assert crop is not None and crop.shape[0] == 96
    assert crop.shape[1] == 348  # 116 x 32 pixels (8 and 3.6 of padding a side) scaled by 3
    assert region_crop(image, (5, 5, 6, 6)) is None
    wide = region_crop(image, (0, 0, 1280, 100))
    assert wide is not None and wide.shape[1] == 640  # capped width


class _Detector:
    def __init__(self, boxes: list[list[PlateBox]]) -> None:
        self.boxes = boxes

    def detect_batch(self, images: list[np.ndarray]) -> list[list[PlateBox]]:
        return self.boxes[: len(images)]


class _Ocr:
    """Reads a region as the text registered for its box; the whole frame as `frame_plates`."""

    def __init__(
        self, texts: dict[tuple[int, int, int, int], DetectedPlate | None], frame_plates: list[DetectedPlate]
    ):
        self.texts = texts
        self.frame_plates = frame_plates
        self.full_frame_reads = 0

    def read_region(self, image: np.ndarray, region: tuple[int, int, int, int]) -> DetectedPlate | None:
        return self.texts.get(region)

    def read(self, image: np.ndarray) -> list[DetectedPlate]:
        self.full_frame_reads += 1
        return self.frame_plates


def _plate(text: str, valid: bool, confidence: float, bbox: tuple[int, int, int, int]) -> DetectedPlate:
    return DetectedPlate(text, text, "BE" if valid else "", valid, confidence, bbox, ((text, confidence),))


def test_the_detector_reader_reads_each_box_and_ranks_valid_plates_first() -> None:
    boxes = [PlateBox((0, 0, 10, 5), 0.9), PlateBox((20, 0, 30, 5), 0.8), PlateBox((40, 0, 50, 5), 0.7)]
    ocr = _Ocr(
        {
            (0, 0, 10, 5): _plate("XX12", False, 0.95, (0, 0, 10, 5)),
            (20, 0, 30, 5): _plate("1ABC234", True, 0.7, (20, 0, 30, 5)),
            (40, 0, 50, 5): None,  # a box with nothing legible
        },
        [],
    )
    reader = DetectorPlateReader(_Detector([boxes]), ocr)  # type: ignore[arg-type]
    plates = reader.read(np.zeros((8, 60, 3), np.uint8))
    assert [p.text for p in plates] == ["1ABC234", "XX12"]
    assert ocr.full_frame_reads == 0


def test_the_text_fallback_runs_only_where_the_detector_found_nothing() -> None:
    fallback = _plate("2XYZ789", True, 0.9, (1, 1, 5, 5))
    ocr = _Ocr({}, [fallback])
    strict = DetectorPlateReader(_Detector([[]]), ocr)  # type: ignore[arg-type]
    assert strict.read(np.zeros((8, 8, 3), np.uint8)) == [] and ocr.full_frame_reads == 0
    lenient = DetectorPlateReader(_Detector([[]]), ocr, full_frame_fallback=True)  # type: ignore[arg-type]
    assert lenient.read(np.zeros((8, 8, 3), np.uint8)) == [fallback] and ocr.full_frame_reads == 1
    with pytest.raises(ValueError, match="BGR"):
        lenient.read(np.zeros((8, 8), np.uint8))


def test_a_two_row_plate_in_a_frame_is_read_as_one_plate_with_its_evidence() -> None:
    from anpr_detect.adapters.ocr import RapidOcrPlateReader
    from anpr_detect.domain.formats import format_table
    from anpr_detect_training.european import european_face, look_of
    from anpr_detect_training.synthetic import render_scene_with_box

    table = format_table()
    current = next(f for f in table.formats if f.label == "BE current (2010)")
    [variant] = table.variants_of(current)
    face = european_face(variant.rows("1HTP072"), look_of("BE", "B"))
    jpeg, box = render_scene_with_box("1HTP072", seed=11, face=face)
    plates = RapidOcrPlateReader(threads=1).read(decode_image(jpeg))
    plate = next(p for p in plates if p.text == "1HTP072")
    assert (plate.country, plate.valid, plate.format_name) == ("BE", True, "BE current (2010)")
    assert len(plate.text_probabilities) == 7 and plate.readings[0].text == "1HTP072"
    x1, y1, x2, y2 = plate.bbox
    assert x1 <= box[0] + 40 and y1 <= box[1] + 20 and x2 >= box[2] - 40 and y2 >= box[3] - 20
