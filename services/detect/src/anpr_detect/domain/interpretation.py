"""What the plate reading concludes about one reading: the plate, its country and the evidence.

Shared by the table-driven decoder (reading.py) and the earlier grammar (grammar.py, kept as the
baseline `anpr eval` measures against). Pure data.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["PlateInterpretation", "PlateReading"]


@dataclass(frozen=True)
class PlateReading:
    """One of the reader's best readings, for operators and matching to weigh."""

    text: str  # normalised: A-Z0-9
    formatted: str  # display form; the text itself when no format fits
    country: str  # "" when no format fits
    probability: float  # its share among the decoder's readings, 0..1


@dataclass(frozen=True)
class PlateInterpretation:
    text: str  # normalised: upper-case, only A-Z0-9, e.g. "1ABC234"
    formatted: str  # national display form, e.g. "1-ABC-234"
    country: str  # ISO 3166 alpha-2 or "" when unknown
    valid: bool  # matched a known national format
    confidence: float  # 0..1, the reading confidence times the format fit
    # The evidence (the table-driven decoder fills it; the earlier grammar leaves it empty):
    # the recogniser's probability of each character of `text`,
    character_probabilities: tuple[float, ...] = ()
    # the best readings, best first (the first is this one), at most three,
    readings: tuple[PlateReading, ...] = ()
    # another country whose format the same text fits, when one does,
    runner_up_country: str = ""
    # and the format it was read in, e.g. "BE current (2010)".
    format_name: str = ""
