"""What the recogniser saw, timestep by timestep, over the plate alphabet: the decoder's input.

PP-OCR's recogniser gives, at each of its timesteps, a probability for each of thousands of
classes (its dictionary) plus the CTC blank. A plate needs 38: the blank, 0-9, A-Z and one
separator. `RecogniserAlphabet` folds the dictionary onto those (lower case, full-width forms,
accented letters and the Greek and Cyrillic capitals that look Latin onto their letter; spaces,
dashes and dots onto the separator; everything else onto the blank, as it is no plate character).
A `Lattice` holds the folded probabilities; one can also be made from a text alone (each character
certain) so that readings without the recogniser's output go through the same decoder. Pure.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["BLANK", "CLASSES", "SEPARATOR", "Lattice", "RecogniserAlphabet", "plate_character"]

# Index 0 is the CTC blank, then the digits, the letters and the separator.
CLASSES: tuple[str, ...] = ("", *string.digits, *string.ascii_uppercase, "-")
BLANK = 0
SEPARATOR = len(CLASSES) - 1
_INDEX = {character: index for index, character in enumerate(CLASSES) if character}
_SEPARATOR_CHARACTERS = frozenset(" -.·_:–—,/|")
# Greek and Cyrillic capitals used on Greek, Bulgarian, Ukrainian, Serbian and other plates
# precisely because they look like these Latin letters.
_LOOK_ALIKE_SCRIPTS = str.maketrans(
    "ΑΒΕΖΗΙΚΜΝΟΡΤΥΧАВЕКМНОРСТУХІЈЅ",
    "ABEZHIKMNOPTYXABEKMHOPCTYXIJS",
)


def plate_character(character: str) -> str | None:
    """The plate class a recogniser's character stands for: A-Z0-9, "-" for a separator, or None."""
    if character in _SEPARATOR_CHARACTERS or (character.isspace() and character != ""):
        return "-"
    folded = unicodedata.normalize("NFKC", character).upper().translate(_LOOK_ALIKE_SCRIPTS)
    if len(folded) != 1:
        return None
    if folded in _INDEX:
        return folded
    # Accented letters (Ö, Č, Ž) are read as their base letter, as their plates show it.
    base = unicodedata.normalize("NFD", folded)[0]
    return base if base in _INDEX and base != "-" else None


# Compared by identity: its table is a numpy array.
@dataclass(frozen=True, eq=False)
class Lattice:
    """Per-timestep probabilities over CLASSES, shape (timesteps, 38); each row sums to 1."""

    probabilities: npt.NDArray[np.float32]

    @staticmethod
    def from_text(text: str) -> Lattice:
        """A reading known only as text: each character certain, a blank between characters (so
        that doubled letters stay two), separators as the reading shows them."""
        rows: list[int] = []
        for character in text:
            plate = plate_character(character)
            if plate is None:
                continue
            rows.extend((BLANK, _INDEX[plate]))
        table = np.zeros((len(rows) + 1, len(CLASSES)), np.float32)
        table[np.arange(len(rows)), rows] = 1.0
        table[-1, BLANK] = 1.0
        return Lattice(table)

    @staticmethod
    def joined(parts: Sequence[Lattice]) -> Lattice:
        """The parts read one after the other, a certain separator between them (text boxes of one
        plate line, or the two rows of a two-row plate)."""
        gap = np.zeros((1, len(CLASSES)), np.float32)
        gap[0, SEPARATOR] = 1.0
        pieces: list[npt.NDArray[np.float32]] = []
        for index, part in enumerate(parts):
            if index:
                pieces.append(gap)
            pieces.append(part.probabilities)
        return Lattice(np.concatenate(pieces) if pieces else np.zeros((0, len(CLASSES)), np.float32))

    def best_path(self) -> tuple[str, tuple[float, ...]]:
        """The greedy reading (separators as "-") and each plate character's probability."""
        best = self.probabilities.argmax(axis=1).tolist()
        peaks = self.probabilities.max(axis=1).tolist()
        text: list[str] = []
        confidence: list[float] = []
        previous = BLANK
        for index, peak in zip(best, peaks, strict=True):
            if index != previous and index != BLANK:
                text.append(CLASSES[index])
                if index != SEPARATOR:
                    confidence.append(peak)
            elif index == previous and index not in (BLANK, SEPARATOR):
                confidence[-1] = max(confidence[-1], peak)
            previous = index
        return "".join(text), tuple(confidence)


class RecogniserAlphabet:
    """Folds a CTC recogniser's dictionary (index 0: the blank) onto the plate classes."""

    def __init__(self, dictionary: Sequence[str]) -> None:
        columns: list[int] = []
        targets: list[int] = []
        for column, character in enumerate(dictionary):
            if column == 0:
                continue
            plate = plate_character(character)
            if plate is not None:
                columns.append(column)
                targets.append(_INDEX[plate])
        self._columns = np.asarray(columns, dtype=np.intp)
        self._fold = np.zeros((len(columns), len(CLASSES)), np.float32)
        self._fold[np.arange(len(columns)), targets] = 1.0

    def fold(self, probabilities: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """(..., dictionary) probabilities to (..., 38); the blank takes all that is no plate class."""
        kept = np.asarray(probabilities, dtype=np.float32)[..., self._columns] @ self._fold
        kept[..., BLANK] = np.clip(1.0 - kept.sum(axis=-1), 0.0, 1.0)
        return kept
