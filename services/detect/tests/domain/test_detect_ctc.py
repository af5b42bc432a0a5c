"""CTC decoding with per-character probabilities and top-k readings (pure, no model)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from anpr_detect.domain.ctc import CharacterReading, greedy_characters, top_k_readings

ALPHABET = ["blank", "0", "1", "A", "B", "O"]


def timesteps(*rows: dict[str, float]) -> npt.NDArray[np.float32]:
    """One row per timestep; classes not named share what is left."""
    table = np.zeros((len(rows), len(ALPHABET)), np.float32)
    for t, row in enumerate(rows):
        rest = (1.0 - sum(row.values())) / (len(ALPHABET) - len(row))
        table[t] = rest
        for name, p in row.items():
            table[t, ALPHABET.index(name)] = p
    return table


def test_greedy_path_drops_blanks_and_repeats_and_keeps_each_characters_probability() -> None:
    probabilities = timesteps(
        {"A": 0.9},
        {"A": 0.8},  # the same run: one A
        {"blank": 0.95},
        {"A": 0.7},  # after a blank: a second A
        {"O": 0.55, "0": 0.4},
        {"1": 0.99},
    )
    characters = greedy_characters(probabilities, ALPHABET)
    assert "".join(c.character for c in characters) == "AAO1"
    assert [round(c.probability, 2) for c in characters] == [0.9, 0.7, 0.55, 0.99]
    (alternative, probability), *_ = characters[2].alternatives
    assert alternative == "0" and probability == pytest.approx(0.4)
    assert all(p >= 0.05 for c in characters for _, p in c.alternatives)  # noise is not an alternative


def test_top_k_starts_with_the_best_path_and_swaps_the_least_certain_characters_first() -> None:
    characters = (
        CharacterReading("A", 0.95, (("4", 0.03),)),
        CharacterReading("O", 0.55, (("0", 0.4),)),
        CharacterReading("1", 0.7, (("I", 0.25),)),
    )
    readings = top_k_readings(characters, k=4)
    assert [text for text, _ in readings] == ["AO1", "A01", "AOI", "A0I"]
    assert readings[0][1] == pytest.approx((0.95 + 0.55 + 0.7) / 3)
    assert readings[1][1] == pytest.approx((0.95 + 0.4 + 0.7) / 3)


def test_max_changes_bounds_how_far_a_reading_strays() -> None:
    characters = tuple(CharacterReading("O", 0.5, (("0", 0.45),)) for _ in range(4))
    for text, _ in top_k_readings(characters, k=20, max_changes=1):
        assert sum(a != b for a, b in zip(text, "OOOO", strict=True)) <= 1
    assert len(top_k_readings(characters, k=20, max_changes=1)) == 5  # the best and four single swaps


def test_nothing_read_gives_no_readings() -> None:
    assert top_k_readings((), k=5) == []
    assert greedy_characters(timesteps({"blank": 0.9}, {"blank": 0.9}), ALPHABET) == ()


@given(st.lists(st.tuples(st.sampled_from("AB01O"), st.floats(0.3, 1.0)), min_size=1, max_size=8))
def test_readings_are_distinct_best_first_and_the_first_is_the_best_path(
    picks: list[tuple[str, float]],
) -> None:
    characters = tuple(CharacterReading(c, p, (("0" if c != "0" else "O", (1 - p) * 0.9),)) for c, p in picks)
    readings = top_k_readings(characters, k=6)
    texts = [text for text, _ in readings]
    assert texts[0] == "".join(c for c, _ in picks)
    assert len(set(texts)) == len(texts)
    assert all(len(text) == len(picks) for text in texts)


def test_the_reader_keeps_each_characters_probability_of_the_reading_it_used() -> None:
    import cv2

    from anpr_detect.adapters.ocr import RapidOcrPlateReader
    from anpr_detect_training.synthetic import render_scene_with_box

    jpeg, _ = render_scene_with_box("1ABC234", seed=3, country="BE")
    frame = np.asarray(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), np.uint8)
    [plate, *_] = RapidOcrPlateReader(threads=1).read(frame)
    assert plate.text == "1ABC234"
    reading = plate.candidates[0][0]
    assert len(plate.character_probabilities) == len(reading)
    assert all(0.0 < p <= 1.0 for p in plate.character_probabilities)


def test_the_capture_keeps_the_engines_texts_and_adds_the_characters() -> None:
    from anpr_detect.adapters.ocr import _CtcCapture

    class EngineDecoder:
        character = ALPHABET

        def __call__(self, preds: object, return_word_box: bool = False, **kwargs: object) -> object:
            return [("AO1", 0.8), ("something else", 0.5)], []

    probabilities = np.stack([timesteps({"A": 0.9}, {"O": 0.55, "0": 0.4}, {"1": 0.99})] * 2)
    lines, words = _CtcCapture(EngineDecoder())(probabilities)
    assert [(str(text), score) for text, score in lines] == [("AO1", 0.8), ("something else", 0.5)]
    assert [c.character for c in lines[0][0].characters] == ["A", "O", "1"]
    assert lines[1][0].characters == ()  # the decode disagrees with the best path: nothing claimed
