"""The values vendors share, each read once: confidences on their scale, directions of travel,
the texts that mean "no plate", and lookups of a field by its aliases. No I/O."""

from __future__ import annotations

import math
from collections.abc import Mapping

from anpr_ingest.domain.vendors.model import MalformedPayload, Travel
from anpr_ingest.domain.vendors.wire import key

# What cameras print when they saw a vehicle but read no plate.
_NO_PLATE = frozenset(
    key(text)
    for text in (
        "",
        "unknown",
        "--",
        "----",
        "noplate",
        "no plate",
        "unlicensed",
        "nonrecognized",
        "车牌",
        "无车牌",
    )
)

_TOWARDS = (
    "towards",
    "toward",
    "approach",
    "approaching",
    "forward",
    "obverse",
    "in",
    "1",
    "front",
    "coming",
)
_AWAY = ("away", "leave", "leaving", "reverse", "back", "out", "2", "rear", "going", "movingaway", "receding")
_TRAVEL: dict[str, Travel] = {
    **{key(word): Travel.TOWARDS for word in _TOWARDS},
    **{key(word): Travel.AWAY for word in _AWAY},
}


def first(fields: Mapping[str, str], *aliases: str) -> str:
    """The first non-empty value among `aliases` (compared as wire.key compares names)."""
    for alias in aliases:
        value = fields.get(key(alias), "")
        if value:
            return value
    return ""


def no_plate(text: str) -> bool:
    return key(text) in _NO_PLATE or set(text.strip()) <= set("-_/ ?*")


def confidence(text: str, field: str, scale: float) -> float | None:
    """A confidence on the vendor's scale (100 for a percentage, 1 for a fraction) as 0..1; None when
    the camera sent none."""
    if not text.strip():
        return None
    try:
        value = float(text) / scale
    except ValueError as error:
        raise MalformedPayload("bad_confidence", f"{field} {text!r} is not a number") from error
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        raise MalformedPayload(
            "bad_confidence", f"{field} {text!r} is outside 0..{scale:g}, the camera's scale for it"
        )
    return value


def char_confidences(text: str, field: str, scale: float) -> tuple[float, ...]:
    """Per-character confidences written as a list (`99,98,97` or `[0.9, 0.8]`), as 0..1 each."""
    cleaned = text.strip().strip("[]")
    if not cleaned:
        return ()
    values = []
    for item in cleaned.replace(";", ",").split(","):
        value = confidence(item, field, scale)
        if value is not None:
            values.append(value)
    return tuple(values)


def travel(text: str) -> Travel:
    """The vendor's word for the way the vehicle moved; anything else (stationary, 0, unknown) is unknown."""
    return _TRAVEL.get(key(text), Travel.UNKNOWN)


def pixel_box(left: str, top: str, right: str, bottom: str) -> tuple[int, int, int, int] | None:
    """A box from its four edges in pixels; None when any is missing or they make no box."""
    try:
        x1, y1, x2, y2 = (int(float(v)) for v in (left, top, right, bottom))
    except ValueError:
        return None
    return (x1, y1, x2, y2) if 0 <= x1 < x2 and 0 <= y1 < y2 else None
