"""The text lines a recogniser found in a frame, and which of them look like a plate.

Geometry and text only (boxes, spans of adjacent boxes, two-row plates, the crop of a detector's box):
the engine itself is driven by ocr.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from anpr_core.plates import normalise_plate
from anpr_detect.domain.ctc import CharacterReading, top_k_readings
from anpr_detect.domain.lattice import Lattice

__all__ = [
    "MIN_TEXT_HEIGHT_PX",
    "Span",
    "TextBox",
    "padded_bbox",
    "plate_like",
    "region_crop",
    "slanted_height",
    "spans_of",
    "stacked_pairs",
    "stacked_rows",
    "text_box",
    "text_lines",
    "two_row_bbox",
    "two_row_lattice",
    "two_row_reading",
]

# Readings of a span kept as candidates: the recogniser's best path and its next most probable
# strings (a character swapped for the runner-up at the same timestep).
_CTC_TOP_K = 5

# Plate text lines: "1-ABC-234" is about 5 times as wide as tall, a split piece ("ABC") about 2,
# a two-row or square plate line less; anything beyond 15 is a line of prose or a banner.
_MIN_ASPECT = 1.2
_MAX_ASPECT = 15.0
MIN_TEXT_HEIGHT_PX = 8
_MIN_PLATE_CHARACTERS = 4
_MAX_PLATE_CHARACTERS = 10

# Two boxes belong to the same plate line when they overlap vertically by this share of the smaller
# height and the gap between them is at most this many character heights. The EU band's "B" is
# printed at about half the plate characters' height, hence the loose height ratio.
_MIN_VERTICAL_OVERLAP = 0.5
_MAX_GAP_IN_HEIGHTS = 1.2
_MAX_HEIGHT_RATIO = 2.5
_MAX_BOXES_PER_LINE = 6

# A text box hugs the characters; the plate itself extends about this many character heights
# beyond them on every side.
_PLATE_PADDING_IN_HEIGHTS = 0.2


@dataclass(frozen=True)
class TextBox:
    """One rapidocr text line: its reading and its axis-aligned extent."""

    text: str
    score: float
    x1: float
    y1: float
    x2: float
    y2: float
    height: float  # along the text's own slant, not the axis-aligned extent
    characters: tuple[CharacterReading, ...] = ()  # the text's CTC readings, when known
    lattice: Lattice | None = None  # what the recogniser saw per timestep, when known

    @property
    def width(self) -> float:
        return self.x2 - self.x1


@dataclass(frozen=True)
class Span:
    """Consecutive boxes of one line read as one candidate plate."""

    boxes: tuple[TextBox, ...]

    @property
    def raw(self) -> str:
        # A space keeps the boundary, which the grammar uses (e.g. to split a German plate).
        return " ".join(box.text for box in self.boxes)

    @property
    def score(self) -> float:
        # Weighted by the characters each box contributes, so a stray one-letter box weighs little.
        weights = [max(1, len(normalise_plate(box.text))) for box in self.boxes]
        return sum(box.score * weight for box, weight in zip(self.boxes, weights, strict=True)) / sum(weights)

    @property
    def height(self) -> float:
        return max(box.height for box in self.boxes)

    @property
    def characters(self) -> tuple[CharacterReading, ...]:
        """The CTC readings of `raw`, the joining spaces certain; empty unless every box has them."""
        if not all(box.characters for box in self.boxes):
            return ()
        joined: list[CharacterReading] = []
        for index, box in enumerate(self.boxes):
            if index:
                joined.append(CharacterReading(" ", 1.0, ()))
            joined.extend(box.characters)
        return tuple(joined)

    @property
    def lattice(self) -> Lattice | None:
        """The boxes' recogniser outputs, one after the other; None unless every box has one."""
        lattices = [box.lattice for box in self.boxes]
        if any(lattice is None for lattice in lattices):
            return None
        return Lattice.joined([lattice for lattice in lattices if lattice is not None])

    def alternatives(self) -> list[tuple[str, float]]:
        """The recogniser's next most probable readings of the span: one character swapped for
        its runner-up (one, like the grammar's own look-alike repair)."""
        return top_k_readings(self.characters, k=_CTC_TOP_K, max_changes=1)[1:]

    def bounds(self) -> tuple[float, float, float, float]:
        return (
            min(box.x1 for box in self.boxes),
            min(box.y1 for box in self.boxes),
            max(box.x2 for box in self.boxes),
            max(box.y2 for box in self.boxes),
        )


def slanted_height(quad: npt.NDArray[np.float64]) -> float:
    # Corners come clockwise from top-left; the mean of the two side edges is the slanted height.
    return float(np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2


def text_box(quad: npt.NDArray[np.float64], recognised: str, score: float) -> TextBox | None:
    text = str(recognised).strip()
    characters: tuple[CharacterReading, ...] = getattr(recognised, "characters", ())
    lattice: Lattice | None = getattr(recognised, "lattice", None)
    if characters:
        # Stripped as the text is: the spaces the recogniser put at either end go.
        start = len(recognised) - len(recognised.lstrip())
        characters = characters[start : start + len(text)]
    if quad.shape != (4, 2) or not text:
        return None
    height = slanted_height(quad)
    if height < MIN_TEXT_HEIGHT_PX:
        return None
    return TextBox(
        text=text,
        score=score,
        x1=float(quad[:, 0].min()),
        y1=float(quad[:, 1].min()),
        x2=float(quad[:, 0].max()),
        y2=float(quad[:, 1].max()),
        height=float(height),
        characters=characters,
        lattice=lattice,
    )


def text_lines(boxes: Sequence[TextBox]) -> list[list[TextBox]]:
    """Group boxes into lines of adjacent boxes, left to right; every box ends up in one line."""
    lines: list[list[TextBox]] = []
    for box in sorted(boxes, key=lambda b: b.x1):
        for line in lines:
            if len(line) < _MAX_BOXES_PER_LINE and continues_line(line[-1], box):
                line.append(box)
                break
        else:
            lines.append([box])
    return lines


def continues_line(left: TextBox, right: TextBox) -> bool:
    smaller, larger = sorted((left.height, right.height))
    overlap = min(left.y2, right.y2) - max(left.y1, right.y1)
    gap = right.x1 - left.x2
    return (
        larger <= smaller * _MAX_HEIGHT_RATIO
        and overlap >= _MIN_VERTICAL_OVERLAP * min(left.y2 - left.y1, right.y2 - right.y1)
        and gap <= _MAX_GAP_IN_HEIGHTS * larger
    )


def spans_of(line: Sequence[TextBox]) -> list[Span]:
    return [
        Span(tuple(line[start:end])) for start in range(len(line)) for end in range(start + 1, len(line) + 1)
    ]


def plate_like(span: Span) -> bool:
    characters = len(normalise_plate(span.raw))
    x1, _, x2, _ = span.bounds()
    aspect = (x2 - x1) / span.height
    return (
        _MIN_PLATE_CHARACTERS <= characters <= _MAX_PLATE_CHARACTERS and _MIN_ASPECT <= aspect <= _MAX_ASPECT
    )


def padded_bbox(span: Span, width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = span.bounds()
    pad = span.height * _PLATE_PADDING_IN_HEIGHTS
    return (
        max(0, int(round(x1 - pad))),
        max(0, int(round(y1 - pad))),
        min(width, int(round(x2 + pad))),
        min(height, int(round(y2 + pad))),
    )


def two_row_reading(lines: Sequence[Sequence[TextBox]]) -> tuple[str, float] | None:
    """The two tallest lines joined top to bottom, when they are stacked and of similar height."""
    rows = _two_rows(lines)
    if rows is None:
        return None
    upper, lower = rows
    return f"{upper.raw} {lower.raw}", min(upper.score, lower.score)


def two_row_lattice(lines: Sequence[Sequence[TextBox]]) -> Lattice | None:
    """The recogniser's outputs of the two rows of two_row_reading, upper first; None without them."""
    rows = _two_rows(lines)
    if rows is None:
        return None
    upper, lower = rows[0].lattice, rows[1].lattice
    return Lattice.joined([upper, lower]) if upper is not None and lower is not None else None


def stacked_pairs(lines: Sequence[Sequence[TextBox]]) -> list[tuple[Sequence[TextBox], Sequence[TextBox]]]:
    """Pairs of lines that may be the two rows of one plate: one right above the other, of similar
    height, overlapping horizontally by half the narrower, the gap under a row's height."""
    spans = [Span(tuple(line)) for line in lines]
    pairs = []
    for upper_index, upper in enumerate(spans):
        ux1, _, ux2, uy2 = upper.bounds()
        for lower_index, lower in enumerate(spans):
            lx1, ly1, lx2, _ = lower.bounds()
            overlap = min(ux2, lx2) - max(ux1, lx1)
            if (
                upper_index != lower_index
                and 0 <= ly1 - uy2 + 0.3 * lower.height <= lower.height
                and max(upper.height, lower.height) <= 1.6 * min(upper.height, lower.height)
                and overlap >= 0.5 * min(ux2 - ux1, lx2 - lx1)
            ):
                pairs.append((lines[upper_index], lines[lower_index]))
    return pairs


def two_row_bbox(boxes: Sequence[TextBox], width: int, height: int) -> tuple[int, int, int, int]:
    """The padded box around the boxes of both rows of a two-row plate."""
    return padded_bbox(Span(tuple(boxes)), width, height)


def stacked_rows(lines: Sequence[Sequence[TextBox]]) -> tuple[tuple[TextBox, ...], tuple[TextBox, ...]]:
    """The boxes of the two rows two_row_reading reads, upper first (it must have read them)."""
    rows = _two_rows(lines)
    if rows is None:
        raise ValueError("the lines are not two stacked rows")
    return rows[0].boxes, rows[1].boxes


def _two_rows(lines: Sequence[Sequence[TextBox]]) -> tuple[Span, Span] | None:
    if len(lines) < 2:
        return None
    spans = sorted((Span(tuple(line)) for line in lines), key=lambda span: span.height, reverse=True)[:2]
    upper, lower = sorted(spans, key=lambda span: span.bounds()[1])
    if max(upper.height, lower.height) > 1.6 * min(upper.height, lower.height):
        return None
    if upper.bounds()[3] > lower.bounds()[1] + 0.3 * lower.height:
        return None  # side by side, not stacked
    return upper, lower


# A detector box is widened by these shares of its size before the text detector looks inside.
_REGION_PADDING = (0.08, 0.15)
# Crops are scaled to this height for text detection: small plates get characters of ~25 px.
_REGION_HEIGHT = 96
_REGION_MAX_WIDTH = 640


def region_crop(
    image: npt.NDArray[np.uint8], region: tuple[int, int, int, int]
) -> npt.NDArray[np.uint8] | None:
    x1, y1, x2, y2 = region
    pad_x, pad_y = (x2 - x1) * _REGION_PADDING[0], (y2 - y1) * _REGION_PADDING[1]
    left, top = max(0, int(x1 - pad_x)), max(0, int(y1 - pad_y))
    right = min(image.shape[1], int(np.ceil(x2 + pad_x)))
    bottom = min(image.shape[0], int(np.ceil(y2 + pad_y)))
    if right - left < 4 or bottom - top < 4:
        return None
    crop = image[top:bottom, left:right]
    scale = min(_REGION_HEIGHT / crop.shape[0], _REGION_MAX_WIDTH / crop.shape[1])
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    resized = cv2.resize(crop, size, interpolation=cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA)
    return np.ascontiguousarray(resized, dtype=np.uint8)
