"""The plate vocabulary every service shares: what a plate's text is, and which characters an OCR
confuses. No I/O.

One normaliser, so a plate typed by an operator, printed by a camera and read by detect compare
equal; one set of confusable classes, configured once per zone (ANPR_CONFUSABLE_CLASSES), so that
match's fuzzy matching and access's fuzzy search can never drift apart.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

# 0/O/D/Q, 1/I/L, 2/Z, 5/S, 8/B, 6/G: the look-alikes of plate fonts (ARCHITECTURE.md, match).
DEFAULT_CONFUSABLE_CLASSES: tuple[str, ...] = ("0ODQ", "1IL", "2Z", "5S", "8B", "6G")
_PLATE_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


def normalise_plate(raw: str) -> str:
    """Upper case, A-Z and 0-9 only: `1-abc-234`, `1 ABC 234` and `１ＡＢＣ２３４` are all `1ABC234`."""
    # NFKC folds the full-width and other compatibility forms that OCR models and keyboards emit.
    folded = unicodedata.normalize("NFKC", raw).upper()
    return "".join(character for character in folded if character in _PLATE_CHARACTERS)


class Confusables:
    """Classes of characters an OCR confuses; each character maps to its class's first member."""

    def __init__(self, classes: Iterable[str] = DEFAULT_CONFUSABLE_CLASSES) -> None:
        table: dict[int, str] = {}
        self.classes: tuple[str, ...] = ()
        for raw in classes:
            group = normalise_plate(raw)
            if len(group) < 2:
                raise ValueError(f"a confusable class needs two or more letters or digits, got {raw!r}")
            for character in group:
                if ord(character) in table:
                    raise ValueError(f"character {character!r} is in more than one confusable class")
                table[ord(character)] = group[0]
            self.classes += (group,)
        self._table = table

    def canonical(self, plate: str) -> str:
        """The plate with every character replaced by its class representative: `IA8C234` -> `1A8C234`."""
        return plate.translate(self._table)

    def key(self, raw: str) -> str:
        """The fuzzy-search key of a raw plate: normalised, then canonical."""
        return self.canonical(normalise_plate(raw))

    def same_class(self, first: str, second: str) -> bool:
        return self._table.get(ord(first), first) == self._table.get(ord(second), second)
