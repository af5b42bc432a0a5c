"""Times as Schild's APIs exchange them. An instant always carries its offset (RFC 3339), in and out;
a time of day that is local on purpose (a list active 22:00 to 06:00 in Europe/Brussels) says so,
instead of claiming JSON Schema's `format: time`, which requires an offset.

    class HoldIn(BaseModel):
        since: Instant          # "2026-05-01T10:00:00" is refused (422); "...+02:00" is kept, as UTC
    class ListOut(BaseModel):
        active_from: LocalTimeOfDay | None
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer, WithJsonSchema


def _with_offset(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a time needs its offset, e.g. 2026-05-01T10:00:00Z or 2026-05-01T12:00:00+02:00")
    return moment.astimezone(UTC)


def instant_text(moment: datetime) -> str:
    """RFC 3339 with the offset, always: a naive value (one that escaped validation) is taken as UTC."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


Instant = Annotated[
    datetime,
    AfterValidator(_with_offset),
    PlainSerializer(instant_text, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339, with its offset (Z or +hh:mm); answers are in UTC.",
        }
    ),
]

_LOCAL_TIME_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?$"


def _local(moment: time) -> time:
    if moment.tzinfo is not None:
        raise ValueError("a local time of day has no offset: its place's timezone applies")
    return moment


LocalTimeOfDay = Annotated[
    time,
    AfterValidator(_local),
    PlainSerializer(lambda moment: moment.isoformat(), return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _LOCAL_TIME_PATTERN,
            "description": "A local time of day, hh:mm[:ss], without offset: the timezone beside it applies.",
        }
    ),
]
