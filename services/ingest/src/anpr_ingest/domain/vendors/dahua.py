"""Dahua ITC pushes (ITSAPI): JSON posted to /NotificationInfo/TollgateInfo, a `Picture` object with
the plate, the vehicle, the snapshot's time and direction, and the images in base64; and the
heartbeats to /NotificationInfo/KeepAlive. No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from anpr_ingest.domain.vendors.countries import iso_country
from anpr_ingest.domain.vendors.model import MalformedPayload, PayloadLimits, VendorPush, VendorRead
from anpr_ingest.domain.vendors.times import epoch_time, iso_time
from anpr_ingest.domain.vendors.values import confidence, no_plate, pixel_box, travel
from anpr_ingest.domain.vendors.wire import decode_image, json_document


def parse(body: bytes, content_type: str, limits: PayloadLimits) -> VendorPush:
    del content_type  # ITSAPI is JSON whatever the camera calls it
    document = json_document(body)
    picture = document.get("Picture") if isinstance(document, Mapping) else None
    if not isinstance(picture, Mapping):
        raise MalformedPayload("no_picture", 'the TollgateInfo JSON has no "Picture" object', status=400)
    plate = _object(picture, "Plate")
    number = _string(plate, "PlateNumber")
    if no_plate(number) or plate.get("IsExist") is False:
        return VendorPush(note="a vehicle without a readable plate")
    snap = _object(picture, "SnapInfo")
    vehicle = _object(picture, "Vehicle")
    read = VendorRead(
        text=number,
        confidence=confidence(_string(plate, "Confidence"), "Plate.Confidence", 100),
        captured_at=_captured_at(snap),
        country=iso_country(_string(plate, "Country") or _string(plate, "Region")),
        travel=travel(_string(snap, "Direction")),
        crop=_image(picture, ("CutoutPic", "PlatePic"), "plate crop", limits),
        overview=_image(picture, ("NormalPic", "VehiclePic"), "overview (NormalPic)", limits),
        box=_box(plate.get("BoundingBox")),
        vehicle_type=_string(vehicle, "VehicleType"),
        vehicle_colour=_string(vehicle, "VehicleColor"),
        vehicle_make=_string(vehicle, "VehicleSign") or _string(vehicle, "Brand"),
    )
    return VendorPush(reads=(read,))


def parse_keep_alive(body: bytes) -> VendorPush:
    """A heartbeat: any JSON (or none) says the camera is alive."""
    if body.strip():
        json_document(body)
    return VendorPush(note="keep-alive")


def _object(parent: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = parent.get(name)
    return value if isinstance(value, Mapping) else {}


def _string(parent: Mapping[str, Any], name: str) -> str:
    value = parent.get(name)
    return "" if value is None or isinstance(value, Mapping | list) else str(value).strip()


def _captured_at(snap: Mapping[str, Any]) -> datetime:
    # UTC (seconds since 1970) and UTCMS are the camera's clock in UTC; AccurateTime is its local
    # time to the millisecond, without an offset.
    utc = _string(snap, "UTC")
    if utc.isdigit():
        millis = _string(snap, "UTCMS")
        return epoch_time(str(int(utc) * 1000 + (int(millis) if millis.isdigit() else 0)), "UTC", 0.001)
    accurate = _string(snap, "AccurateTime")
    if accurate:
        return iso_time(accurate, "SnapInfo.AccurateTime")
    raise MalformedPayload("no_time", "SnapInfo has neither UTC nor AccurateTime")


def _image(picture: Mapping[str, Any], names: tuple[str, ...], what: str, limits: PayloadLimits) -> bytes:
    for name in names:
        content = _string(_object(picture, name), "Content")
        if content:
            return decode_image(content, what, limits)
    return b""


def _box(value: Any) -> tuple[int, int, int, int] | None:
    # Dahua's BoundingBox is [left, top, right, bottom]; in pixels of the overview where the firmware
    # says so, else on its 8192-wide grid: a box outside the overview is dropped when it is checked.
    if isinstance(value, list) and len(value) == 4:
        return pixel_box(*(str(v) for v in value))
    return None
