"""The plate vocabulary match matches by: a plate's normal form, and the characters an OCR confuses."""

from __future__ import annotations

from collections.abc import Iterable

DEFAULT_CONFUSABLE_CLASSES: tuple[str, ...] = ("0ODQ", "1IL", "2Z", "5S", "8B", "6G")


def normalise_plate(raw: str) -> str:
    return "".join(ch for ch in raw.upper() if ch.isascii() and ch.isalnum())


class Confusables:
    """Classes of characters an OCR confuses; each character maps to its class's first member."""

    def __init__(self, classes: Iterable[str] = DEFAULT_CONFUSABLE_CLASSES) -> None:
        table: dict[int, str] = {}
        self.classes: tuple[str, ...] = ()
        for raw in classes:
            group = normalise_plate(raw)
            if len(group) < 2:
                raise ValueError(f"a confusable class needs two or more letters or digits, got {raw!r}")
            for char in group:
                if ord(char) in table:
                    raise ValueError(f"character {char!r} is in more than one confusable class")
                table[ord(char)] = group[0]
            self.classes += (group,)
        self._table = table

    def canonical(self, plate: str) -> str:
        """The plate with every character replaced by its class representative."""
        return plate.translate(self._table)
