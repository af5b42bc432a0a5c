"""Genetec AutoVu SharpV pushes: its XML template (<AutoVu> with Plate, State, UTCDate, UTCTime,
CameraName, ContextImage, PlateImage, LongitudeX, LatitudeY, Guid, and optionally ConfidenceScore,
Lane and RelativeMotion), by HTTP, or the same fields as JSON. No I/O."""

from __future__ import annotations

from datetime import datetime

from anpr_ingest.domain.vendors.countries import iso_country
from anpr_ingest.domain.vendors.model import MalformedPayload, PayloadLimits, VendorPush, VendorRead
from anpr_ingest.domain.vendors.times import iso_time
from anpr_ingest.domain.vendors.values import confidence, first, no_plate, travel
from anpr_ingest.domain.vendors.wire import decode_image, flat_fields


def parse(body: bytes, content_type: str, limits: PayloadLimits) -> VendorPush:
    fields = flat_fields(body, content_type, limits)
    plate = first(fields, "Plate", "PlateNumber", "PlateRead")
    if no_plate(plate):
        return VendorPush(note="a read without a readable plate")
    read = VendorRead(
        text=plate,
        confidence=confidence(first(fields, "ConfidenceScore", "Confidence"), "ConfidenceScore", 100),
        captured_at=_captured_at(fields),
        country=iso_country(first(fields, "Country", "State")),
        travel=travel(first(fields, "RelativeMotion", "Direction")),
        crop=decode_image(first(fields, "PlateImage"), "PlateImage", limits),
        overview=decode_image(first(fields, "ContextImage"), "ContextImage", limits),
        vehicle_type=first(fields, "VehicleType"),
        vehicle_colour=first(fields, "VehicleColor", "VehicleColour"),
        vehicle_make=first(fields, "VehicleMake", "Make"),
    )
    return VendorPush(reads=(read,))


def _captured_at(fields: dict[str, str]) -> datetime:
    # The template writes the date as yyyy:MM:dd (colons); UTCDate/UTCTime are UTC, LocalDate/
    # LocalTime the camera's local time, a TimeStamp ISO 8601.
    for date_field, time_field, suffix in (("UTCDate", "UTCTime", "+00:00"), ("LocalDate", "LocalTime", "")):
        date, time = first(fields, date_field), first(fields, time_field)
        if date and time:
            day = date.replace(":", "-").replace("/", "-")
            return iso_time(f"{day}T{time}{suffix}", f"{date_field} {time_field}")
    stamp = first(fields, "TimeStamp", "TimeStampUTC")
    if stamp:
        return iso_time(stamp, "TimeStamp")
    raise MalformedPayload("no_time", "the read has no UTCDate and UTCTime (nor LocalDate and LocalTime)")
