"""Capture times as vendors write them. Each parser returns an aware time where the vendor gives an
offset (or UTC), a naive one where it gives the camera's local time; `localised` then places a naive
time in the camera's registered time zone. No I/O."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

from anpr_ingest.domain.vendors.model import MalformedPayload

__all__ = ["compact_time", "epoch_time", "iso_time", "localised", "with_offset_of"]

_COMPACT = re.compile(
    r"^(\d{4})(\d{2})(\d{2})[ T]?(\d{2})(\d{2})(\d{2})(\d{1,6})?(?:\s*([+-])(\d{2}):?(\d{2}))?$"
)


def iso_time(text: str, field: str) -> datetime:
    """ISO 8601 / RFC 3339 (`2026-03-01T10:15:02.120+01:00`, `Z`, or no offset: local)."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError as error:
        raise MalformedPayload("bad_time", f"{field} {text!r} is not an ISO 8601 time") from error


def compact_time(text: str, field: str) -> datetime:
    """`YYYYMMDD HHMMSSFFF[+HHMM]` (Axis), `YYYYMMDDHHMMSSFFF` (Hikvision's absTime): local unless an
    offset follows."""
    found = _COMPACT.match(text.strip())
    if not found:
        raise MalformedPayload("bad_time", f"{field} {text!r} is not a YYYYMMDD HHMMSSFFF time")
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = found.groups()
    micros = int((fraction or "0").ljust(6, "0")[:6])
    zone: tzinfo | None = None
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        zone = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micros, tzinfo=zone
        )
    except ValueError as error:
        raise MalformedPayload("bad_time", f"{field} {text!r} is not a valid time: {error}") from error


def epoch_time(value: str, field: str, unit_s: float = 1.0) -> datetime:
    """Seconds (or `unit_s` of them, e.g. 0.001 for milliseconds) since 1970, UTC."""
    try:
        return datetime.fromtimestamp(float(value) * unit_s, UTC)
    except (ValueError, OverflowError, OSError) as error:
        raise MalformedPayload("bad_time", f"{field} {value!r} is not a time since 1970") from error


def with_offset_of(local: datetime, reference: datetime) -> datetime:
    """A naive local time (more precise) given the offset of an aware one from the same camera."""
    if local.tzinfo is not None or reference.tzinfo is None:
        return local
    return local.replace(tzinfo=reference.tzinfo)


def localised(moment: datetime, zone: tzinfo) -> datetime:
    """`moment` as an aware time: as it is if it has an offset, else in the camera's time zone. A
    local time that a daylight-saving change makes ambiguous is taken as the earlier of the two."""
    if moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=zone, fold=0)
