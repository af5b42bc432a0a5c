"""Hikvision ISAPI "alarm server" pushes: a multipart/form-data POST whose `anpr.xml` part is an
EventNotificationAlert (eventType ANPR) with JPEG parts beside it, or the XML alone. Other event
types (motion, video loss, heartbeats) are a sign of life and nothing more. No I/O."""

from __future__ import annotations

import xml.etree.ElementTree as ET  # noqa: S405 - the Element type; parsing is defusedxml's (wire)
from datetime import datetime

from anpr_ingest.domain.vendors.countries import hikvision_country
from anpr_ingest.domain.vendors.model import MalformedPayload, PayloadLimits, VendorPush, VendorRead
from anpr_ingest.domain.vendors.times import compact_time, iso_time, with_offset_of
from anpr_ingest.domain.vendors.values import char_confidences, confidence, no_plate, pixel_box, travel
from anpr_ingest.domain.vendors.wire import Part, local, media_type, multipart_parts, xml_document

# The picture types of <pictureInfo><type>: the crop, and the scene (best first).
_CROP = "licenseplatepicture"
_SCENES = ("detectionpicture", "vehiclepicture", "scenepicture")


def parse(body: bytes, content_type: str, limits: PayloadLimits) -> VendorPush:
    parts = _parts(body, content_type, limits)
    xml = next((p for p in parts if _is_xml(p)), None)
    if xml is None:
        raise MalformedPayload(
            "no_event", "the push holds no EventNotificationAlert XML (anpr.xml)", status=400
        )
    alert = xml_document(xml.data)
    if local(alert.tag) != "EventNotificationAlert":
        raise MalformedPayload(
            "bad_event", f"the XML is a <{local(alert.tag)}>, not an EventNotificationAlert", status=400
        )
    event_type = _text(alert, "eventType")
    anpr = _child(alert, "ANPR")
    if event_type.upper() != "ANPR" or anpr is None or _text(alert, "eventState").lower() == "inactive":
        return VendorPush(note=f"eventType {event_type or 'absent'}: no plate read in it")
    plate = _text(anpr, "licensePlate") or _text(anpr, "originalLicensePlate")
    if no_plate(plate):
        return VendorPush(note="a vehicle without a readable plate")
    captured = _captured_at(alert, anpr)
    pictures = _pictures(anpr)
    crop = _image(parts, pictures, (_CROP,), ("licenseplatepicture", "plate"))
    scene_type, overview = _scene(parts, pictures)
    info = _child(anpr, "vehicleInfo")
    read = VendorRead(
        text=plate,
        confidence=confidence(_text(anpr, "confidenceLevel"), "confidenceLevel", 100),
        char_confidences=char_confidences(_text(anpr, "plateCharBelieve"), "plateCharBelieve", 100),
        captured_at=captured,
        country=hikvision_country(_text(anpr, "country")),
        travel=travel(_text(anpr, "direction")),
        crop=crop,
        overview=overview,
        box=_box(pictures.get(scene_type)) if overview else None,
        vehicle_type=_text(anpr, "vehicleType"),
        vehicle_colour=_text(info, "color") if info is not None else "",
        vehicle_make=_make(info),
    )
    return VendorPush(reads=(read,))


def _parts(body: bytes, content_type: str, limits: PayloadLimits) -> list[Part]:
    if media_type(content_type).startswith("multipart/"):
        return multipart_parts(body, content_type, limits)
    return [Part("", "", content_type, body)]


def _is_xml(part: Part) -> bool:
    return (
        part.name.lower().endswith(".xml")
        or part.filename.lower().endswith(".xml")
        or "xml" in part.content_type.lower()
        or part.data.lstrip()[:1] == b"<"
    )


def _child(element: ET.Element | None, name: str) -> ET.Element | None:
    if element is None:
        return None
    return next((child for child in element if local(child.tag) == name), None)


def _text(element: ET.Element | None, name: str) -> str:
    child = _child(element, name)
    return (child.text or "").strip() if child is not None else ""


def _captured_at(alert: ET.Element, anpr: ET.Element) -> datetime:
    stamp = _text(alert, "dateTime")
    when = iso_time(stamp, "dateTime") if stamp else None
    # <absTime> (the picture's capture, to the millisecond, in the camera's local time) is the more
    # precise; it takes dateTime's offset where dateTime has one.
    for picture in _pictures(anpr).values():
        absolute = _text(picture, "absTime")
        if absolute:
            precise = compact_time(absolute, "absTime")
            return with_offset_of(precise, when) if when is not None else precise
    if when is None:
        raise MalformedPayload("no_time", "the alert has no <dateTime> and no picture <absTime>")
    return when


def _pictures(anpr: ET.Element) -> dict[str, ET.Element]:
    listed = _child(anpr, "pictureInfoList")
    pictures: dict[str, ET.Element] = {}
    for picture in listed if listed is not None else ():
        kind = _text(picture, "type").lower()
        if kind:
            pictures.setdefault(kind, picture)
    return pictures


def _image(
    parts: list[Part], pictures: dict[str, ET.Element], kinds: tuple[str, ...], stems: tuple[str, ...]
) -> bytes:
    """The JPEG part of the first of `kinds` the alert lists (by its <fileName>), else the part named
    after one of `stems` (firmware that lists no pictures)."""
    names = [_text(pictures[k], "fileName").lower() for k in kinds if k in pictures]
    for part in parts:
        if _is_xml(part):
            continue
        label = {part.name.lower(), part.filename.lower()}
        if label & set(filter(None, names)) or any(n.rsplit(".", 1)[0] in stems for n in label if n):
            return part.data
    return b""


def _scene(parts: list[Part], pictures: dict[str, ET.Element]) -> tuple[str, bytes]:
    for kind in _SCENES:
        found = _image(parts, pictures, (kind,), (kind,))
        if found:
            return kind, found
    return "", b""


def _box(picture: ET.Element | None) -> tuple[int, int, int, int] | None:
    rect = _child(picture, "plateRect")
    if rect is None:
        return None
    x, y, w, h = (_text(rect, name) for name in ("X", "Y", "width", "height"))
    try:
        return pixel_box(x, y, str(int(x) + int(w)), str(int(y) + int(h)))
    except ValueError:
        return None


def _make(info: ET.Element | None) -> str:
    # ISAPI gives the make as Hikvision's numeric logo code (vehicleLogoRecog); kept as that code,
    # named as such, where no text name is given. 0 is "not recognised".
    name = _text(info, "vehicleLogoRecogName") or _text(info, "brand")
    if name:
        return name
    code = _text(info, "vehicleLogoRecog")
    return f"hikvision-logo:{code}" if code and code != "0" else ""
