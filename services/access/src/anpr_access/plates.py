"""Plate text as access stores and searches it. No I/O.

`plate_key` maps every character to the representative of its OCR-confusable class, so a fuzzy
search is an exact lookup on an indexed column instead of a scan.
"""

from __future__ import annotations

# The same classes match uses: 0/O/D/Q, 1/I/L, 2/Z, 5/S, 8/B, 6/G.
CONFUSABLE_CLASSES = ("0ODQ", "1IL", "2Z", "5S", "8B", "6G")
_REPRESENTATIVE = {ch: group[0] for group in CONFUSABLE_CLASSES for ch in group}


def normalise(raw: str) -> str:
    """Upper case, A-Z and 0-9 only: "1-abc-234" -> "1ABC234"."""
    return "".join(ch for ch in raw.upper() if ch.isascii() and ch.isalnum())


def plate_key(plate: str) -> str:
    """The confusable-class key: "1ABC234" and "IA8C234" share one."""
    return "".join(_REPRESENTATIVE.get(ch, ch) for ch in normalise(plate))
