"""Scoring the reader against a labelled folder: the pure figures, and a real run on synthetic plates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anpr_detect.adapters.ocr import RapidOcrPlateReader
from anpr_detect.adapters.plate_reading import DetectedPlate
from anpr_detect_eval.scoring import (
    BASELINES,
    LabelledImage,
    character_accuracy,
    evaluate,
    intersection_over_union,
    levenshtein,
    load_manifest,
    miss_cause,
    score_image,
    summarise,
)
from anpr_detect_training.synthetic import render_scene_with_box

plates = st.text(alphabet="ABCDEFGHJKLMNPRSTXYZ0123456789", max_size=9)


def _plate(text: str, bbox: tuple[int, int, int, int]) -> DetectedPlate:
    return DetectedPlate(text, text, "BE", True, 0.9, bbox, ((text, 0.9),))


@given(plates, plates)
def test_levenshtein_is_a_distance_bounded_by_the_longer_text(a: str, b: str) -> None:
    distance = levenshtein(a, b)
    assert distance == levenshtein(b, a)
    assert (distance == 0) == (a == b)
    assert abs(len(a) - len(b)) <= distance <= max(len(a), len(b))
    assert 0.0 <= character_accuracy(a, b) <= 1.0


def test_levenshtein_counts_single_edits() -> None:
    assert levenshtein("1ABC234", "1A8C234") == 1  # substitution
    assert levenshtein("1ABC234", "1ABC2345") == 1  # insertion
    assert levenshtein("1ABC234", "ABC234") == 1  # deletion
    assert character_accuracy("1A8C234", "1ABC234") == pytest.approx(6 / 7)


def test_intersection_over_union_of_known_boxes() -> None:
    assert intersection_over_union((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert intersection_over_union((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert intersection_over_union((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0


def test_score_image_scores_the_read_at_the_labelled_place() -> None:
    label = LabelledImage(Path("x.jpg"), "1ABC234", (100, 100, 200, 140))
    # Another plate read first (more confident) is not an error: the read at the label counts.
    outcome = score_image(
        label, [_plate("XYZ999", (0, 0, 50, 20)), _plate("1ABC234", (102, 98, 204, 142))], 12.0
    )
    assert (outcome.detected, outcome.exact, outcome.exact_top, outcome.exact_anywhere) == (
        True,
        True,
        False,
        True,
    )
    assert outcome.character_accuracy == 1.0
    # A misread at the label is wrong even when the right text turns up elsewhere.
    misread = score_image(
        label, [_plate("1A8C234", (110, 105, 190, 135)), _plate("1ABC234", (300, 300, 350, 320))], 12.0
    )
    assert (misread.exact, misread.exact_top, misread.exact_anywhere) == (False, False, True)
    assert misread.character_accuracy == pytest.approx(6 / 7)
    # A text box over the characters only (IoU under 0.5) still places the read at the label.
    tight = score_image(label, [_plate("1ABC234", (130, 112, 170, 128))], 12.0)
    assert (tight.detected, tight.exact) == (False, True)
    # Nothing at the label: nothing was read there.
    elsewhere = score_image(label, [_plate("1ABC234", (300, 300, 350, 320))], 12.0)
    assert (elsewhere.exact, elsewhere.exact_top, elsewhere.character_accuracy) == (False, True, 0.0)
    missed = score_image(label, [], 5.0)
    assert (missed.detected, missed.exact, missed.exact_anywhere, missed.character_accuracy) == (
        False,
        False,
        False,
        0.0,
    )
    summary = summarise([outcome, misread, missed])
    assert summary["detection_recall"] == pytest.approx(2 / 3, abs=1e-4)
    assert summary["exact_read_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert summary["exact_top_read_rate"] == 0.0
    assert summary["exact_read_anywhere_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert summary["ms_p95"] <= 12.0


def test_load_manifest_turns_width_height_into_corners_and_refuses_bad_lines(tmp_path: Path) -> None:
    (tmp_path / "manifest.jsonl").write_text(
        json.dumps({"image": "a.jpg", "plate": "ab-12 cd", "bbox": [10, 20, 30, 40]}) + "\n"
    )
    [label] = load_manifest(tmp_path)
    assert label == LabelledImage(tmp_path / "images" / "a.jpg", "AB12CD", (10, 20, 40, 60))
    (tmp_path / "manifest.jsonl").write_text('{"image": "a.jpg"}\n')
    with pytest.raises(ValueError, match="manifest.jsonl:1"):
        load_manifest(tmp_path)
    with pytest.raises(ValueError, match="not found"):
        load_manifest(tmp_path / "missing")


def write_synthetic_set(folder: Path, scenes: list[tuple[str, str, int]]) -> None:
    """A labelled folder in the real sets' format, made of synthetic scenes."""
    (folder / "images").mkdir(parents=True)
    lines = []
    for index, (plate, country, seed) in enumerate(scenes):
        image, (x1, y1, x2, y2) = render_scene_with_box(plate, seed=seed, country=country)
        name = f"{index}.jpg"
        (folder / "images" / name).write_bytes(image)
        lines.append(json.dumps({"image": name, "plate": plate, "bbox": [x1, y1, x2 - x1, y2 - y1]}))
    (folder / "manifest.jsonl").write_text("\n".join(lines) + "\n")


def test_evaluate_reads_a_synthetic_labelled_folder(tmp_path: Path) -> None:
    write_synthetic_set(tmp_path, [("1ABC234", "BE", 101), ("AB123CD", "FR", 13)])
    labelled = load_manifest(tmp_path, limit=2)
    service, baseline = evaluate(
        [RapidOcrPlateReader(threads=2), RapidOcrPlateReader(threads=2, tuning=BASELINES["no-reread"])],
        labelled,
    )
    for outcomes in (service, baseline):
        summary = summarise(outcomes)
        assert summary["images"] == 2
        assert summary["detection_recall"] == 1.0
        assert summary["exact_read_rate"] == 1.0
        assert summary["character_accuracy"] == 1.0
        assert 0 < summary["ms_p50"] <= summary["ms_p95"]


def test_a_miss_is_told_by_its_cause() -> None:
    assert miss_cause("1ABC234", "1ABC234") == "exact"
    assert miss_cause(None, "1ABC234") == "not_found"
    # Look-alikes in place of characters, and nothing else wrong: what a format can repair.
    assert miss_cause("1A8C234", "1ABC234") == "lookalike"
    assert miss_cause("BA123K0", "BA123KO") == "lookalike"
    assert miss_cause("1ABC23", "1ABC234") == "misread"  # a character lost
    assert miss_cause("1AXC234", "1ABC234") == "misread"


def test_the_summary_splits_the_misses_by_cause() -> None:
    label = LabelledImage(Path("x.jpg"), "1ABC234", (100, 100, 200, 140))
    outcomes = [
        score_image(label, [_plate("1ABC234", (100, 100, 200, 140))], 1.0),
        score_image(label, [_plate("1A8C234", (100, 100, 200, 140))], 1.0),
        score_image(label, [_plate("1ABC23", (100, 100, 200, 140))], 1.0),
        score_image(label, [], 1.0),
    ]
    summary = summarise(outcomes)
    assert [summary[k] for k in ("exact_read_rate", "lookalike_rate", "misread_rate", "not_found_rate")] == [
        0.25,
        0.25,
        0.25,
        0.25,
    ]


def test_the_grammar_baseline_is_the_reader_before_the_formats() -> None:
    assert (BASELINES["grammar"].decoder, BASELINES["grammar"].two_row_lines) == ("grammar", False)
