"""What a plate reader gives back, the interface every reader offers, and how readings are chosen.

The reader's port: the service, the CLI and the evaluation hold a PlateReader, whatever engine is behind.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from anpr_core.plates import normalise_plate
from anpr_detect.domain.interpretation import PlateInterpretation, PlateReading

__all__ = [
    "DetectedPlate",
    "PlateReader",
    "detected_plate",
    "rank",
    "source_reading",
    "without_duplicates",
    "worth_reporting",
]


@dataclass(frozen=True)
class DetectedPlate:
    text: str
    formatted: str
    country: str
    valid: bool
    confidence: float
    bbox: tuple[int, int, int, int]  # x1, y1, x2, y2 in image pixels
    candidates: tuple[tuple[str, float], ...]  # OCR readings with confidences, best first
    # The recogniser's CTC probability of each character of the reading the plate came from (its
    # first candidate), separators included; empty where the engine gave none.
    character_probabilities: tuple[float, ...] = ()
    # The recogniser's probability of each character of `text` (what reads carry as evidence; a
    # character the format put in place of a look-alike has the recogniser's own, low, figure);
    # empty where the earlier grammar read the plate.
    text_probabilities: tuple[float, ...] = ()
    # The decoder's best readings, best first (the first is `text`), at most three.
    readings: tuple[PlateReading, ...] = ()
    # Another country whose format the same text fits, when one does.
    country_runner_up: str = ""
    # The national format it was read in, e.g. "BE current (2010)"; "" when none fits.
    format_name: str = ""


class PlateReader(Protocol):
    def read(self, image: npt.NDArray[np.uint8]) -> list[DetectedPlate]:
        """Read the plates in a BGR uint8 image, as from cv2.imdecode; best first."""
        ...


def detected_plate(
    interpretation: PlateInterpretation,
    bbox: tuple[int, int, int, int],
    candidates: tuple[tuple[str, float], ...],
    character_probabilities: tuple[float, ...] = (),
) -> DetectedPlate:
    return DetectedPlate(
        text=interpretation.text,
        formatted=interpretation.formatted,
        country=interpretation.country,
        valid=interpretation.valid,
        confidence=interpretation.confidence,
        bbox=bbox,
        candidates=candidates,
        character_probabilities=character_probabilities,
        text_probabilities=interpretation.character_probabilities,
        readings=interpretation.readings,
        country_runner_up=interpretation.runner_up_country,
        format_name=interpretation.format_name,
    )


def source_reading(
    interpretation: PlateInterpretation, readings: Sequence[tuple[str, float]]
) -> tuple[str, float]:
    """The reading an interpretation came from: the first whose normalised text holds it."""
    for reading in readings:
        if interpretation.text in normalise_plate(reading[0]):
            return reading
    return readings[0]


def worth_reporting(interpretation: PlateInterpretation) -> bool:
    # An unknown format is still reported (foreign plates matter), but not a word: every plate
    # layout in use carries digits, a shop sign or a slogan usually does not.
    return interpretation.valid or any(character.isdigit() for character in interpretation.text)


def rank(interpretation: PlateInterpretation) -> tuple[bool, float, int]:
    return interpretation.valid, interpretation.confidence, len(interpretation.text)


def without_duplicates(plates: Sequence[DetectedPlate]) -> list[DetectedPlate]:
    """Best first; the same text read twice in overlapping places is one plate."""
    kept: list[DetectedPlate] = []
    for plate in sorted(plates, key=lambda p: p.confidence, reverse=True):
        if not any(other.text == plate.text and overlaps(other.bbox, plate.bbox) for other in kept):
            kept.append(plate)
    return kept


def overlaps(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])
