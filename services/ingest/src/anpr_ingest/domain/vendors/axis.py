"""AXIS License Plate Verifier pushes (its JSON event protocol, by HTTP POST): one vehicle is sent
as NEW at its first read, UPDATE when its plate, direction or zone changes, and LOST some seconds
(10 by default) after its last read; JSON alone, or multipart with the JSON and the image it
describes. No I/O."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from anpr_ingest.domain.vendors.countries import iso_country
from anpr_ingest.domain.vendors.model import (
    MalformedPayload,
    PayloadLimits,
    TrackState,
    VendorPush,
    VendorRead,
)
from anpr_ingest.domain.vendors.times import compact_time, epoch_time
from anpr_ingest.domain.vendors.values import confidence, first, no_plate, pixel_box, travel
from anpr_ingest.domain.vendors.wire import (
    Part,
    decode_image,
    json_document,
    key,
    media_type,
    multipart_parts,
)

_STATES = {
    "new": TrackState.NEW,
    "update": TrackState.UPDATE,
    "updated": TrackState.UPDATE,
    "lost": TrackState.LOST,
}
# imageType: "plate" is the crop; the others show the vehicle or the scene.
_CROP_TYPES = frozenset({"plate"})


def parse(body: bytes, content_type: str, limits: PayloadLimits) -> VendorPush:
    event, images = _event_and_images(body, content_type, limits)
    fields = {key(name): value for name, value in event.items() if not isinstance(value, Mapping | list)}
    texts = {name: str(value).strip() for name, value in fields.items() if value is not None}
    plate = first(texts, "plateUTF8", "plateUnicode", "plateText", "text")
    if no_plate(plate):
        return VendorPush(note="an event without a readable plate")
    state_text = first(texts, "carState").lower()
    state = _STATES.get(state_text)
    if state_text and state is None:
        raise MalformedPayload("bad_state", f"carState {state_text!r} is none of new, update(d), lost")
    crop = next((data for kind, data in images.items() if kind in _CROP_TYPES), b"")
    overview = next((data for kind, data in images.items() if kind not in _CROP_TYPES), b"")
    vehicle = event.get("vehicle_info") or event.get("vehicleInfo") or {}
    vehicle = vehicle if isinstance(vehicle, Mapping) else {}
    read = VendorRead(
        text=plate,
        confidence=confidence(first(texts, "plateConfidence", "confidence"), "plateConfidence", 1),
        captured_at=_captured_at(texts),
        country=iso_country(first(texts, "plateCountry", "country")),
        travel=travel(first(texts, "carMoveDirection", "direction")),
        crop=crop,
        overview=overview,
        box=_box(event.get("plateCoordinates")),
        vehicle_type=_text(vehicle, "type", "vehicleType"),
        vehicle_colour=_text(vehicle, "color", "colour"),
        vehicle_make=_text(vehicle, "make", "brand", "manufacturer"),
        track=first(texts, "carID"),
        state=state,
    )
    return VendorPush(reads=(read,))


def _event_and_images(
    body: bytes, content_type: str, limits: PayloadLimits
) -> tuple[Mapping[str, Any], dict[str, bytes]]:
    """The JSON event, and its images by imageType: an image part is the kind the event's own
    imageType names (the scene, "frame", where it names none); imageArray entries name theirs."""
    images: dict[str, bytes] = {}
    attached: list[bytes] = []
    if media_type(content_type).startswith("multipart/"):
        parts = multipart_parts(body, content_type, limits)
        json_part = next((p for p in parts if _is_json(p)), None)
        if json_part is None:
            raise MalformedPayload("no_event", "the multipart push holds no JSON event part", status=400)
        document = json_document(json_part.data)
        attached = [
            p.data for p in parts if p is not json_part and p.content_type.lower().startswith("image/")
        ]
    else:
        document = json_document(body)
    if not isinstance(document, Mapping):
        raise MalformedPayload("bad_event", "the event is not a JSON object", status=400)
    if attached:
        images[str(document.get("imageType") or "frame").lower()] = attached[0]
    for entry in document.get("imageArray") or ():
        if isinstance(entry, Mapping) and isinstance(entry.get("image") or entry.get("data"), str):
            kind = str(entry.get("imageType", "")).lower()
            images.setdefault(
                kind, decode_image(str(entry.get("image") or entry.get("data")), "image", limits)
            )
    return document, images


def _is_json(part: Part) -> bool:
    return "json" in part.content_type.lower() or part.data.lstrip()[:1] == b"{"


def _captured_at(texts: Mapping[str, str]) -> datetime:
    # capture_timestamp: when the frame the plate was read in was taken, in ms since 1970 (UTC);
    # datetime: YYYYMMDD HHMMSSFFF with an optional +-HHMM, else the camera's local time.
    stamp = first(texts, "capture_timestamp")
    if stamp.isdigit():
        return epoch_time(stamp, "capture_timestamp", 0.001)
    written = first(texts, "datetime")
    if written:
        return compact_time(written, "datetime")
    raise MalformedPayload("no_time", "the event has neither capture_timestamp nor datetime")


def _box(value: Any) -> tuple[int, int, int, int] | None:
    # plateCoordinates: [left, top, width, height] in pixels.
    if isinstance(value, list) and len(value) == 4:
        try:
            left, top, width, height = (int(float(v)) for v in value)
        except (TypeError, ValueError):
            return None
        return pixel_box(str(left), str(top), str(left + width), str(top + height))
    return None


def _text(mapping: Mapping[str, Any], *names: str) -> str:
    wanted = {key(name) for name in names}
    return next((str(v).strip() for k, v in mapping.items() if key(str(k)) in wanted and v), "")
