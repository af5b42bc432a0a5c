"""Tattile Vega pushes: the read's result fields (plate, country, confidence, brand, vehicle type,
colour, speed, date and time, direction, the OCR and context images in base64) as XML, JSON or a
form, named as in the template of the README (Vega's own field names, with their aliases). No I/O."""

from __future__ import annotations

from datetime import datetime

from anpr_ingest.domain.vendors.countries import iso_country
from anpr_ingest.domain.vendors.model import MalformedPayload, PayloadLimits, VendorPush, VendorRead
from anpr_ingest.domain.vendors.times import compact_time, iso_time
from anpr_ingest.domain.vendors.values import char_confidences, confidence, first, no_plate, travel
from anpr_ingest.domain.vendors.wire import decode_image, flat_fields


def parse(body: bytes, content_type: str, limits: PayloadLimits) -> VendorPush:
    fields = flat_fields(body, content_type, limits)
    plate = first(fields, "PLATE_STRING", "PLATE", "PLATE_NUMBER")
    if no_plate(plate):
        return VendorPush(note="a transit without a readable plate")
    read = VendorRead(
        text=plate,
        confidence=confidence(first(fields, "OCRSCORE", "PLATE_CONFIDENCE", "CONFIDENCE"), "OCRSCORE", 100),
        char_confidences=char_confidences(
            first(fields, "CHAR_CONFIDENCE", "CHARS_SCORE"), "CHAR_CONFIDENCE", 100
        ),
        captured_at=_captured_at(fields),
        country=iso_country(first(fields, "PLATE_COUNTRY", "COUNTRY", "NATION")),
        travel=travel(first(fields, "DIRECTION", "TRANSIT_DIRECTION")),
        crop=decode_image(first(fields, "IMAGE_OCR", "PLATE_IMAGE"), "plate image (IMAGE_OCR)", limits),
        overview=decode_image(
            first(fields, "IMAGE_CTX", "CONTEXT_IMAGE"), "context image (IMAGE_CTX)", limits
        ),
        vehicle_type=first(fields, "VEHICLE_TYPE", "VEHICLE_CLASS"),
        vehicle_colour=first(fields, "VEHICLE_COLOR", "VEHICLE_COLOUR", "COLOR", "COLOUR"),
        vehicle_make=first(fields, "VEHICLE_BRAND", "BRAND"),
    )
    return VendorPush(reads=(read,))


def _captured_at(fields: dict[str, str]) -> datetime:
    stamp = first(fields, "TIMESTAMP", "DATETIME")
    if stamp:
        return iso_time(stamp, "TIMESTAMP")
    date, time = first(fields, "DATE"), first(fields, "TIME")
    if date and time:
        if date.isdigit() and len(date) == 8:  # YYYYMMDD with HHMMSSmmm
            return compact_time(f"{date} {time.replace(':', '').replace('.', '')}", "DATE TIME")
        return iso_time(f"{date.replace('/', '-')}T{time}", "DATE TIME")
    raise MalformedPayload("no_time", "the transit has no TIMESTAMP, nor DATE and TIME")
