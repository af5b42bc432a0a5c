"""Vaxtor VaxALPR pushes (on Axis and Mobotix cameras): an HTTP(S) POST of XML, JSON or a form whose
fields are Vaxtor's report variables ($plate$, $country$, $confidence$, $date$, $direction$,
$multiplate$, $plateimage$, $overviewimage$, ...), named after them in the template the camera is
given (README). One POST is one report of one vehicle; $multiplate$ says how many reads the camera
fused into it. No I/O."""

from __future__ import annotations

from anpr_ingest.domain.vendors.countries import iso_country
from anpr_ingest.domain.vendors.model import MalformedPayload, PayloadLimits, VendorPush, VendorRead
from anpr_ingest.domain.vendors.times import iso_time
from anpr_ingest.domain.vendors.values import confidence, first, no_plate, pixel_box, travel
from anpr_ingest.domain.vendors.wire import decode_image, flat_fields

# $direction$: 0 unknown, 1 towards, 2 away, 3 stationary (values.travel reads 1 and 2).


def parse(body: bytes, content_type: str, limits: PayloadLimits) -> VendorPush:
    fields = flat_fields(body, content_type, limits)
    plate = first(fields, "plateutf8", "plate", "platenumber")
    if no_plate(plate):
        return VendorPush(note="a report without a readable plate")
    date = first(fields, "date", "timestamp")
    if not date:
        raise MalformedPayload("no_time", "the report has no $date$ (ISO 8601) field")
    read = VendorRead(
        text=plate,
        confidence=confidence(first(fields, "confidence"), "$confidence$", 100),
        captured_at=iso_time(date, "$date$"),
        country=iso_country(first(fields, "country")),
        travel=travel(first(fields, "direction")),
        crop=decode_image(first(fields, "plateimage"), "plate image ($plateimage$)", limits),
        overview=decode_image(first(fields, "overviewimage"), "overview ($overviewimage$)", limits),
        box=pixel_box(*(first(fields, edge) for edge in ("left", "top", "right", "bottom"))),
        vehicle_type=first(fields, "vehicletype", "category"),
        vehicle_colour=first(fields, "vehiclecolor", "vehiclecolour", "colour", "color"),
        vehicle_make=first(fields, "vehiclemake", "make", "brand"),
    )
    return VendorPush(reads=(read,))
