"""Number plate grammar: which OCR readings are plausible plates, and of which country.

Pure functions, no I/O. The OCR engine reads characters; this module decides what those characters
mean as a registration: it normalises the reading, matches it against the published national
formats (Belgium first, then the neighbouring countries whose vehicles a Belgian zone sees most),
repairs look-alike characters only where a format demands a letter or a digit, and drops a single
leading artefact such as the EU band read as a letter.

An unknown format is never forced into a known one: it comes back with ``valid=False``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from anpr_detect.domain.interpretation import PlateInterpretation

__all__ = [
    "LOOK_ALIKE_PAIRS",
    "PLATE_FORMATS",
    "PlateFormat",
    "PlateInterpretation",
    "interpret",
]

# Shortest normalised reading worth interpreting at all; shorter ones are noise.
_MIN_READING_LENGTH = 2

# Character classes used in the layouts below. A layout is written as the plate is displayed, with
# one class letter per character and the national separators in place, e.g. "N-LLL-DDD".
_DIGITS = frozenset("0123456789")
_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_CLASSES: dict[str, frozenset[str]] = {
    "D": _DIGITS,
    "N": frozenset("123456789"),  # BE index digit: never 0
    "L": _LETTERS,
    # BE category index letters (2010 series): G tractor, M/W motorcycle, O oldtimer, Q/U trailer,
    # S moped, T taxi, Z trade (dealer) plate.
    "C": frozenset("GMOQSTUWZ"),
    # NL sidecodes use consonants only, without C, M, Q and W, so that no words can be spelled.
    "K": frozenset("BDFGHJKLNPRSTVXZ"),
    # FR SIV never uses I, O or U, which are too easily confused with 1, 0 and V.
    "F": _LETTERS - frozenset("IOU"),
}
_SEPARATORS = frozenset("- ")


@dataclass(frozen=True)
class PlateFormat:
    """One published national plate layout with a fixed number of characters."""

    country: str  # ISO 3166 alpha-2
    name: str
    layout: str  # class letters (see _CLASSES) and display separators, e.g. "N-LLL-DDD"
    fit: float  # how strongly a match supports the reading (distinctive formats score higher)
    # Whether a look-alike repair may produce this layout. Not for layouts whose own characters are
    # look-alikes (the BE index letters G, O, S, Z) nor for weak ones: a repair towards them would
    # turn a correctly read foreign plate ("MAB1234", "GWT-2180") into a Belgian or LU one.
    repairable: bool = True

    @property
    def length(self) -> int:
        return sum(1 for symbol in self.layout if symbol not in _SEPARATORS)

    def allowed(self) -> tuple[frozenset[str], ...]:
        return tuple(_CLASSES[symbol] for symbol in self.layout if symbol not in _SEPARATORS)

    def boundaries(self) -> frozenset[int]:
        """Character positions at which the display form has a separator."""
        positions: set[int] = set()
        count = 0
        for symbol in self.layout:
            if symbol in _SEPARATORS:
                positions.add(count)
            else:
                count += 1
        return frozenset(positions)

    def display(self, text: str) -> str:
        """Lay out a normalised text of the right length in this format's display form."""
        characters = iter(text)
        return "".join(symbol if symbol in _SEPARATORS else next(characters) for symbol in self.layout)


# The fixed-length national formats, Belgium first. Fit values rank overlapping interpretations of
# the same reading (e.g. "ABC123" is both the BE 1973 layout and a German one).
PLATE_FORMATS: tuple[PlateFormat, ...] = (
    PlateFormat("BE", "current (2010)", "N-LLL-DDD", 1.0),
    PlateFormat("BE", "1973-2008", "LLL-DDD", 0.95),
    PlateFormat("BE", "category (2010)", "C-LLL-DDD", 0.9, repairable=False),
    PlateFormat("BE", "2008-2010", "DDD-LLL", 0.9),
    PlateFormat("FR", "SIV (2009)", "FF-DDD-FF", 0.95),
    PlateFormat("NL", "sidecode 4", "KK-DD-KK", 0.9),
    PlateFormat("NL", "sidecode 5", "KK-KK-DD", 0.9),
    PlateFormat("NL", "sidecode 6", "DD-KK-KK", 0.9),
    PlateFormat("NL", "sidecode 7", "DD-KKK-D", 0.9),
    PlateFormat("NL", "sidecode 8", "D-KKK-DD", 0.9),
    PlateFormat("NL", "sidecode 9", "KK-DDD-K", 0.9),
    PlateFormat("NL", "sidecode 10", "K-DDD-KK", 0.9),
    PlateFormat("NL", "sidecode 11", "KKK-DD-K", 0.9),
    PlateFormat("LU", "letters and digits", "LL DDDD", 0.7, repairable=False),
    # Purely numeric LU plates look like any other number in a scene, hence the low fit.
    PlateFormat("LU", "numeric", "DDDD", 0.5, repairable=False),
    PlateFormat("LU", "numeric", "DDDDD", 0.5, repairable=False),
)

# German plates ("B-AB 1234") are a district code of 1-3 letters, 1-2 letters and 1-4 digits, at
# most 8 characters. Without the separators the split is ambiguous, so a bare match only scores
# _GERMAN_FIT; when the reading kept the separators the split is known and scores higher.
_GERMAN_BARE = re.compile(r"^([A-Z]{2,5})([0-9]{1,4})$")
_GERMAN_MAX_LENGTH = 8
_GERMAN_FIT = 0.6
_GERMAN_SPLIT_FIT = 0.75

# Look-alike pairs that OCR confuses on plate fonts. Applied only where a format demands the other
# kind of character and only when no format matches the reading as it is; each repair costs
# confidence.
_LETTER_FOR_DIGIT = {"0": "O", "1": "I", "5": "S", "8": "B", "2": "Z", "6": "G"}
_DIGIT_FOR_LETTER = {letter: digit for digit, letter in _LETTER_FOR_DIGIT.items()}
# The same pairs, unordered: two readings one such swap apart may be the same plate.
LOOK_ALIKE_PAIRS: frozenset[frozenset[str]] = frozenset(frozenset(pair) for pair in _LETTER_FOR_DIGIT.items())
_CORRECTION_PENALTY = 0.85
# One repair per reading: with two, almost any 7-character reading can be bent into the BE current
# layout ("BAB1234" would become "8-ABI-234"), which is forcing, not reading.
_MAX_CORRECTIONS = 1

# Dropping a leading character (the EU band read as part of the plate) costs confidence, so that it
# only wins when the kept text fits nothing, or only a weak or repaired format. The Belgian band code
# "B" is the likeliest artefact and costs less: "BABC123" is the 1973 layout behind the band rather
# than "8-ABC-123" with a repaired index digit. Any other character costs more, so that a repaired
# current reading ("IABC234" -> "1-ABC-234", fit 0.85) beats dropping the "I" (0.95 x 0.85).
_BAND_ARTEFACT_PENALTY = 0.9
_ARTEFACT_PENALTY = 0.85
_BAND_CODE = "B"
# What a dropped character may be and what must be left. The band and the frame are read as a
# letter, never as a digit; and what is left must fit a distinctive layout (BE, FR, NL), not a
# loose one. Otherwise any 7-character foreign plate would lose its first character to fit the
# 6-character layouts: "4GLS168" is not "GLS-168" behind an artefact, nor "BGB3282" a LU "GB 3282".
_ARTEFACT_CHARACTERS = _LETTERS
_ARTEFACT_MIN_FORMAT_FIT = 0.9

# An unrecognised reading is still reported (foreign plates matter too) but with a lower confidence.
_UNKNOWN_FIT = 0.5


@dataclass(frozen=True)
class _FormatMatch:
    text: str
    formatted: str
    country: str
    fit: float  # the format's fit after any repair penalty
    corrections: int = 0
    format_fit: float = 0.0  # the format's own fit, before penalties


def interpret(
    candidates: Sequence[tuple[str, float]], alternatives: Sequence[tuple[str, float]] = ()
) -> PlateInterpretation | None:
    """Pick the most plausible plate among OCR candidate readings (best first).

    Every candidate is matched against the national formats; the valid interpretation with the
    highest confidence wins, earlier candidates winning ties. When none is valid, the first usable
    reading is returned as is, unvalidated. Returns None when no reading has at least two
    alphanumerics.

    `alternatives` are the recogniser's runner-up readings (a character swapped for the class it
    nearly chose). They are repairs by another name, so they are held to a repair's rules: tried
    only when no candidate is valid, only against layouts a repair may produce, as they are (no
    further repair, no dropped character), at a repair's cost.
    """
    best_valid: PlateInterpretation | None = None
    first_unknown: PlateInterpretation | None = None
    for raw, reading_confidence in candidates:
        interpretation = _interpret_reading(raw, _clamp(reading_confidence))
        if interpretation is None:
            continue
        if interpretation.valid:
            if best_valid is None or interpretation.confidence > best_valid.confidence:
                best_valid = interpretation
        elif first_unknown is None:
            first_unknown = interpretation
    if best_valid is None:
        for raw, reading_confidence in alternatives:
            alternative = _interpret_alternative(raw, _clamp(reading_confidence))
            if alternative is not None and (
                best_valid is None or alternative.confidence > best_valid.confidence
            ):
                best_valid = alternative
    return best_valid if best_valid is not None else first_unknown


def _interpret_alternative(raw: str, reading_confidence: float) -> PlateInterpretation | None:
    tokens = _tokens(raw)
    text = "".join(tokens)
    boundaries = _boundaries(tokens)
    best: _FormatMatch | None = None
    for plate_format in PLATE_FORMATS:
        if not plate_format.repairable:
            continue
        match = _match_fixed(text, plate_format, boundaries)
        if match is not None and match.corrections == 0 and (best is None or match.fit > best.fit):
            best = match
    if best is None:
        return None
    return _valid(best, reading_confidence * best.fit * _CORRECTION_PENALTY)


def _interpret_reading(raw: str, reading_confidence: float) -> PlateInterpretation | None:
    tokens = _tokens(raw)
    text = "".join(tokens)
    if len(text) < _MIN_READING_LENGTH:
        return None

    kept = _best_match(text, tokens)
    dropped = (
        _best_match(text[1:], _without_first_character(tokens))
        if len(text) > 2 and text[0] in _ARTEFACT_CHARACTERS
        else None
    )
    if dropped is not None and dropped.format_fit < _ARTEFACT_MIN_FORMAT_FIT:
        dropped = None
    kept_fit = kept.fit if kept is not None else 0.0
    artefact_penalty = _BAND_ARTEFACT_PENALTY if text[0] == _BAND_CODE else _ARTEFACT_PENALTY
    if dropped is not None and dropped.fit * artefact_penalty > kept_fit:
        return _valid(dropped, reading_confidence * dropped.fit * artefact_penalty)
    if kept is not None:
        return _valid(kept, reading_confidence * kept.fit)
    return PlateInterpretation(
        text=text,
        formatted=text,
        country="",
        valid=False,
        confidence=reading_confidence * _UNKNOWN_FIT,
    )


def _valid(match: _FormatMatch, confidence: float) -> PlateInterpretation:
    return PlateInterpretation(
        text=match.text,
        formatted=match.formatted,
        country=match.country,
        valid=True,
        confidence=_clamp(confidence),
    )


def _best_match(text: str, tokens: Sequence[str]) -> _FormatMatch | None:
    """The best-fitting format for a normalised text.

    A direct match of a fixed national format always beats a repaired one: "AB1234" is the LU layout
    as read, not the BE 1973 layout with a "1" repaired into an "I". Only when nothing matches as read
    do look-alike repairs compete, alongside the loose German layout.
    """
    reading_boundaries = _boundaries(tokens)
    direct: _FormatMatch | None = None
    repaired: _FormatMatch | None = None
    for plate_format in PLATE_FORMATS:
        match = _match_fixed(text, plate_format, reading_boundaries)
        if match is None:
            continue
        # Strictly greater: the table order (Belgium first) breaks ties.
        if match.corrections == 0:
            if direct is None or match.fit > direct.fit:
                direct = match
        elif repaired is None or match.fit > repaired.fit:
            repaired = match
    if direct is not None:
        return direct
    german = _match_german(text, tokens)
    if german is not None and (repaired is None or german.fit > repaired.fit):
        return german
    return repaired


def _match_fixed(
    text: str, plate_format: PlateFormat, reading_boundaries: frozenset[int]
) -> _FormatMatch | None:
    if len(text) != plate_format.length:
        return None
    repaired: list[str] = []
    corrections = 0
    for character, allowed in zip(text, plate_format.allowed(), strict=True):
        if character in allowed:
            repaired.append(character)
            continue
        substitute = _DIGIT_FOR_LETTER.get(character) or _LETTER_FOR_DIGIT.get(character)
        if substitute is None or substitute not in allowed:
            return None
        repaired.append(substitute)
        corrections += 1
    if corrections and (
        corrections > _MAX_CORRECTIONS
        or not plate_format.repairable
        # Separators the reading shows where the layout has none are evidence against the layout:
        # "MTW-5608" is not "M-TWS-608" repaired.
        or not reading_boundaries <= plate_format.boundaries()
    ):
        return None
    corrected = "".join(repaired)
    return _FormatMatch(
        text=corrected,
        formatted=plate_format.display(corrected),
        country=plate_format.country,
        fit=plate_format.fit * _CORRECTION_PENALTY**corrections,
        corrections=corrections,
        format_fit=plate_format.fit,
    )


def _match_german(text: str, tokens: Sequence[str]) -> _FormatMatch | None:
    # No look-alike repair here: the layout is too loose for a repair to be evidence of anything.
    bare = _GERMAN_BARE.match(text)
    if bare is None or len(text) > _GERMAN_MAX_LENGTH:
        return None
    split = _german_split(tokens)
    if split is not None:
        district, letters, digits = split
        return _FormatMatch(
            text, f"{district}-{letters} {digits}", "DE", _GERMAN_SPLIT_FIT, format_fit=_GERMAN_SPLIT_FIT
        )
    letters, digits = bare.group(1), bare.group(2)
    return _FormatMatch(text, f"{letters} {digits}", "DE", _GERMAN_FIT, format_fit=_GERMAN_FIT)


_GERMAN_DISTRICT = re.compile(r"^[A-Z]{1,3}$")
_GERMAN_LETTERS = re.compile(r"^[A-Z]{1,2}$")
_GERMAN_DIGITS = re.compile(r"^[0-9]{1,4}$")
_GERMAN_LETTERS_DIGITS = re.compile(r"^([A-Z]{1,2})([0-9]{1,4})$")


def _german_split(tokens: Sequence[str]) -> tuple[str, str, str] | None:
    """District, letters and digits when the reading's own separators make the split unambiguous."""
    if len(tokens) == 3:
        district, letters, digits = tokens
        if (
            _GERMAN_DISTRICT.match(district)
            and _GERMAN_LETTERS.match(letters)
            and _GERMAN_DIGITS.match(digits)
        ):
            return district, letters, digits
    if len(tokens) == 2:
        district, rest = tokens
        letters_digits = _GERMAN_LETTERS_DIGITS.match(rest)
        if _GERMAN_DISTRICT.match(district) and letters_digits is not None:
            return district, letters_digits.group(1), letters_digits.group(2)
    return None


def _tokens(raw: str) -> list[str]:
    """The alphanumeric runs of a reading, in order; their boundaries are the reading's separators."""
    runs: list[str] = []
    current: list[str] = []
    for character in unicodedata.normalize("NFKC", raw).upper():
        if character in _DIGITS or character in _LETTERS:
            current.append(character)
        elif current:
            runs.append("".join(current))
            current = []
    if current:
        runs.append("".join(current))
    return runs


def _boundaries(tokens: Sequence[str]) -> frozenset[int]:
    """Character positions (in the joined text) at which the reading showed a separator."""
    positions: set[int] = set()
    count = 0
    for token in tokens[:-1]:
        count += len(token)
        positions.add(count)
    return frozenset(positions)


def _without_first_character(tokens: Sequence[str]) -> list[str]:
    if not tokens:
        return []
    head = tokens[0][1:]
    return ([head] if head else []) + list(tokens[1:])


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, float(value)))
