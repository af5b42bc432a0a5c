"""Scores the plate reader against a folder of labelled photos: detection, exact reads, speed.

A folder holds images/ and manifest.jsonl, one {"image", "plate", "bbox": [x, y, w, h]} per line.
Scoring is pure (plain data in, figures out); only `load_manifest` and `evaluate` touch files.
Labelled photos are for measuring only: nothing here learns from them.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from anpr_core.plates import Confusables, normalise_plate
from anpr_detect.adapters.images import decode_image
from anpr_detect.adapters.ocr import ReaderTuning
from anpr_detect.adapters.plate_reading import DetectedPlate, PlateReader
from anpr_detect.domain.boxes import Box, intersection_over_union

__all__ = [
    "BASELINES",
    "CAUSES",
    "ImageOutcome",
    "LabelledImage",
    "character_accuracy",
    "evaluate",
    "intersection_over_union",
    "levenshtein",
    "load_manifest",
    "miss_cause",
    "score_image",
    "summarise",
]


# Reader configurations `anpr eval` can compare the service's own against.
BASELINES: dict[str, ReaderTuning] = {
    # The service's reader without the second recognition pass on tight crops.
    "no-reread": ReaderTuning(reread=False),
    # The reader before the speed work: rapidocr's one-call pipeline, long-side limit only, no arena.
    "unoptimised": ReaderTuning(detection_pixels=None, split_pipeline=False, memory_arena=False),
    # The reader before the national formats: the earlier grammar (BE, NL, FR, LU and a loose DE as
    # code, the look-alike table and the recogniser's runner-ups), no two-row plates in frames.
    "grammar": ReaderTuning(decoder="grammar", two_row_lines=False),
}

# Why an image's plate was not read exactly: nothing read at its place; read with look-alikes
# (0/O/D/Q, 1/I/L, 2/Z, 5/S, 8/B, 6/G) in place of some characters and nothing else wrong, the
# misses a format's letter and digit positions can repair; or misread otherwise.
CAUSES = ("exact", "not_found", "lookalike", "misread")
_LOOK_ALIKES = Confusables()

# A returned box counts as finding the plate from this overlap with the labelled box (PASCAL VOC).
DETECTION_IOU = 0.5


@dataclass(frozen=True)
class LabelledImage:
    image: Path
    plate: str  # normalised: A-Z and 0-9 only
    box: Box


@dataclass(frozen=True)
class ImageOutcome:
    detected: bool  # some returned box overlaps the labelled plate with IoU >= DETECTION_IOU
    exact: bool  # the text read at the labelled place (the plate overlapping it most) is the label
    exact_top: bool  # the most confident plate's text is the label
    exact_anywhere: bool  # some returned plate's text is the label
    character_accuracy: float  # of the text read at the labelled place; 0 when nothing was read there
    ms: float
    cause: str = "exact"  # one of CAUSES


def load_manifest(folder: Path, limit: int | None = None) -> list[LabelledImage]:
    """The labelled images of a folder, in manifest order; the first `limit` when given."""
    manifest = folder / "manifest.jsonl"
    if not manifest.is_file():
        raise ValueError(f"{manifest} not found: a folder needs manifest.jsonl and images/")
    labelled = []
    for number, line in enumerate(manifest.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            x, y, w, h = (int(value) for value in entry["bbox"])
            labelled.append(
                LabelledImage(
                    image=folder / "images" / str(entry["image"]),
                    plate=normalise_plate(str(entry["plate"])),
                    box=(x, y, x + w, y + h),
                )
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"{manifest}:{number}: not a manifest line ({error})") from error
        if limit is not None and len(labelled) >= limit:
            break
    return labelled


def levenshtein(a: str, b: str) -> int:
    """Edits (insert, delete, substitute) that turn a into b."""
    previous = list(range(len(b) + 1))
    for i, left in enumerate(a, start=1):
        current = [i]
        for j, right in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (left != right)))
        previous = current
    return previous[-1]


def character_accuracy(read: str, label: str) -> float:
    """1 - Levenshtein distance over the longer length; 1.0 when both are empty."""
    longest = max(len(read), len(label))
    return 1.0 if longest == 0 else 1.0 - levenshtein(read, label) / longest


def score_image(label: LabelledImage, plates: Sequence[DetectedPlate], ms: float) -> ImageOutcome:
    """One image's outcome. The read that counts is the one at the labelled place: an image may show
    other plates, and reading them first is not an error (the manifest labels one plate an image).
    Any overlap places a read there: a text box covers the characters, a label the whole plate."""
    overlaps = [intersection_over_union(plate.bbox, label.box) for plate in plates]
    best = max(range(len(plates)), key=overlaps.__getitem__, default=None)
    at_label = plates[best].text if best is not None and overlaps[best] > 0 else None
    return ImageOutcome(
        detected=any(overlap >= DETECTION_IOU for overlap in overlaps),
        exact=at_label == label.plate,
        exact_top=bool(plates) and plates[0].text == label.plate,
        exact_anywhere=any(plate.text == label.plate for plate in plates),
        character_accuracy=character_accuracy(at_label, label.plate) if at_label is not None else 0.0,
        ms=ms,
        cause=miss_cause(at_label, label.plate),
    )


def miss_cause(read: str | None, label: str) -> str:
    """One of CAUSES for the text read at the labelled place (None: nothing read there)."""
    if read is None:
        return "not_found"
    if read == label:
        return "exact"
    if len(read) == len(label) and _LOOK_ALIKES.canonical(read) == _LOOK_ALIKES.canonical(label):
        return "lookalike"
    return "misread"


def summarise(outcomes: Sequence[ImageOutcome]) -> dict[str, float]:
    """Rates over the images and the reading time per image (p50, p95)."""
    if not outcomes:
        raise ValueError("no images were scored")
    count = len(outcomes)
    times = sorted(outcome.ms for outcome in outcomes)
    return {
        "images": float(count),
        "detection_recall": round(sum(o.detected for o in outcomes) / count, 4),
        "exact_read_rate": round(sum(o.exact for o in outcomes) / count, 4),
        "exact_top_read_rate": round(sum(o.exact_top for o in outcomes) / count, 4),
        "exact_read_anywhere_rate": round(sum(o.exact_anywhere for o in outcomes) / count, 4),
        "character_accuracy": round(sum(o.character_accuracy for o in outcomes) / count, 4),
        # The exact reads' complement, by cause; with exact_read_rate they sum to 1.
        "not_found_rate": round(sum(o.cause == "not_found" for o in outcomes) / count, 4),
        "lookalike_rate": round(sum(o.cause == "lookalike" for o in outcomes) / count, 4),
        "misread_rate": round(sum(o.cause == "misread" for o in outcomes) / count, 4),
        "ms_p50": round(_percentile(times, 50), 1),
        "ms_p95": round(_percentile(times, 95), 1),
    }


def evaluate(
    readers: Sequence[PlateReader],
    labelled: Sequence[LabelledImage],
    on_image: Callable[[], None] | None = None,
) -> list[list[ImageOutcome]]:
    """Outcomes per reader, every image read once by each, serially; decoding is not timed.

    The readers take turns image by image, so a machine shared with other work slows them alike.
    `on_image` is called once each image is read by every reader (a progress bar).
    """
    outcomes: list[list[ImageOutcome]] = [[] for _ in readers]
    for label in labelled:
        image = decode_image(label.image.read_bytes())
        for reader, scored in zip(readers, outcomes, strict=True):
            started = time.perf_counter()
            plates = reader.read(image)
            scored.append(score_image(label, plates, (time.perf_counter() - started) * 1000))
        if on_image is not None:
            on_image()
    return outcomes


def _percentile(ordered: Sequence[float], q: int) -> float:
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[q - 1]
