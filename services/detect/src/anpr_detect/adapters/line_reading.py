"""How the text lines of a frame or a plate crop become plates: along the national formats (the
table-driven decoder, what the service runs) or by the earlier grammar (kept as the baseline that
`anpr eval --baseline grammar` measures the decoder against).

Either way a line's spans (its boxes alone and joined) are read, the best kept, and a line that
fits no format gets one more recognition on a tight crop (`Reread`, the engine's business).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from anpr_detect.adapters.plate_reading import (
    DetectedPlate,
    detected_plate,
    rank,
    source_reading,
    worth_reporting,
)
from anpr_detect.adapters.text_lines import (
    Span,
    TextBox,
    padded_bbox,
    plate_like,
    spans_of,
    stacked_rows,
    two_row_lattice,
    two_row_reading,
)
from anpr_detect.domain.grammar import interpret
from anpr_detect.domain.interpretation import PlateInterpretation
from anpr_detect.domain.lattice import Lattice
from anpr_detect.domain.reading import PlateDecoder

__all__ = ["Recognised", "Reread", "TwoRows", "read_line", "read_two_rows"]

_MIN_TWO_ROW_CHARACTERS = 5


@dataclass(frozen=True)
class Recognised:
    """A second recognition of a span: its text, score and, where the engine gave it, its lattice."""

    text: str
    score: float
    lattice: Lattice | None = None


Reread = Callable[[Span], Recognised | None]


def read_line(
    line: Sequence[TextBox], size: tuple[int, int], decoder: PlateDecoder | None, reread: Reread | None
) -> DetectedPlate | None:
    """The most plausible plate among the spans of one text line, or None. `size`: the image's
    (width, height); `decoder` None: the earlier grammar; `reread` None: no second recognition."""
    if decoder is None:
        return _read_line_by_grammar(line, size, reread)
    return _read_line_by_formats(line, size, decoder, reread)


@dataclass(frozen=True)
class TwoRows:
    """Two stacked lines read as one two-row plate."""

    interpretation: PlateInterpretation
    reading: tuple[str, float]  # the rows' texts joined, upper first
    boxes: tuple[TextBox, ...]  # the boxes the plate was read from


def read_two_rows(lines: Sequence[Sequence[TextBox]], decoder: PlateDecoder | None) -> TwoRows | None:
    """The two tallest stacked lines read as one two-row plate, when that reading is valid. Along
    the formats, each row's boxes are also tried alone and in runs (a band sign or a bolt read into
    a row), the most confident valid reading kept."""
    two_rows = two_row_reading(lines)
    if two_rows is None:
        return None
    if decoder is None:
        interpretation = interpret([two_rows])
        if interpretation is None or not interpretation.valid:
            return None
        return TwoRows(interpretation, two_rows, tuple(box for line in lines for box in line))
    best: TwoRows | None = None
    upper, lower = stacked_rows(lines)
    for top in spans_of(upper):
        for bottom in spans_of(lower):
            pair = (list(top.boxes), list(bottom.boxes))
            reading = two_row_reading(pair)
            if reading is None:
                continue
            lattice = two_row_lattice(pair)
            found = decoder.read_lattice(lattice) if lattice is not None else decoder.read_text([reading])
            if found is None or not found.valid or len(found.text) < _MIN_TWO_ROW_CHARACTERS:
                continue  # every two-row layout holds five or more; fewer is two stray words
            if best is None or found.confidence > best.interpretation.confidence:
                best = TwoRows(found, reading, (*top.boxes, *bottom.boxes))
    return best


def _read_line_by_formats(
    line: Sequence[TextBox], size: tuple[int, int], decoder: PlateDecoder, reread: Reread | None
) -> DetectedPlate | None:
    best: tuple[PlateInterpretation, Span, tuple[str, float]] | None = None
    readings: list[tuple[str, float]] = []
    for span in spans_of(line):
        if not plate_like(span):
            continue
        reading = (span.raw, span.score)
        readings.append(reading)
        interpretation = _decode(decoder, reading, span.lattice)
        if interpretation is None or not worth_reporting(interpretation):
            continue
        if best is None or rank(interpretation) > rank(best[0]):
            best = (interpretation, span, reading)
    if best is None:
        return None
    interpretation, span, winning_reading = best
    if not interpretation.valid and reread is not None:
        again = reread(span)
        if again is not None:
            readings.append((again.text, again.score))
            found = _decode(decoder, (again.text, again.score), again.lattice)
            if found is not None and found.valid:
                interpretation, winning_reading = found, (again.text, again.score)
    others = sorted(
        (r for r in dict.fromkeys(readings) if r != winning_reading), key=lambda r: r[1], reverse=True
    )
    probabilities = _character_probabilities(span, winning_reading[0])
    return detected_plate(interpretation, padded_bbox(span, *size), (winning_reading, *others), probabilities)


def _decode(
    decoder: PlateDecoder, reading: tuple[str, float], lattice: Lattice | None
) -> PlateInterpretation | None:
    # The recogniser's own output where the engine gave it; the text alone otherwise.
    return decoder.read_lattice(lattice) if lattice is not None else decoder.read_text([reading])


def _read_line_by_grammar(
    line: Sequence[TextBox], size: tuple[int, int], reread: Reread | None
) -> DetectedPlate | None:
    best: tuple[PlateInterpretation, Span, tuple[str, float]] | None = None
    readings: list[tuple[str, float]] = []
    for span in spans_of(line):
        if not plate_like(span):
            continue
        reading = (span.raw, span.score)
        alternatives = span.alternatives()
        readings.extend((reading, *alternatives))
        interpretation = interpret([reading], alternatives)
        if interpretation is None or not worth_reporting(interpretation):
            continue
        if best is None or rank(interpretation) > rank(best[0]):
            best = (interpretation, span, source_reading(interpretation, [reading, *alternatives]))
    if best is None:
        return None

    interpretation, span, winning_reading = best
    if not interpretation.valid and reread is not None:
        again = reread(span)
        if again is not None:
            reread_reading = (again.text, again.score)
            readings.append(reread_reading)
            reread_interpretation = interpret([reread_reading])
            if reread_interpretation is not None and reread_interpretation.valid:
                interpretation, winning_reading = reread_interpretation, reread_reading
    others = sorted(
        (r for r in dict.fromkeys(readings) if r != winning_reading), key=lambda r: r[1], reverse=True
    )
    bbox = padded_bbox(span, *size)
    probabilities = _character_probabilities(span, winning_reading[0])
    return detected_plate(interpretation, bbox, (winning_reading, *others), probabilities)


def _character_probabilities(span: Span, reading: str) -> tuple[float, ...]:
    """Each character's CTC probability in `reading`: the best path's, or the runner-up's where
    the reading took it."""
    characters = span.characters
    if len(characters) != len(reading):
        return ()
    return tuple(
        c.probability if c.character == r else dict(c.alternatives).get(r, 0.0)
        for c, r in zip(characters, reading, strict=True)
    )
