"""A fake vendor camera for site tests (`anpr camera emulate --vendor V --camera ID PLATE...`): each
plate is pushed to ingest in that vendor's own format, with a rendered plate crop and scene, the way
the vendor's camera sends it (Axis: the vehicle's NEW, UPDATE and LOST events; Dahua: Digest on its
fixed path), so a zone can check its set-up (camera register, credentials, ingress) without a camera.

A camera-side client, like schild.camera_replay: it builds the vendors' payloads itself and shares no
code with ingest's parsers, so each checks the other.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from PIL import Image, ImageDraw

from schild.camera_replay import refusal_reason

VENDORS = ("hikvision", "dahua", "axis", "vaxtor", "genetec", "tattile")
RETRIES_ON_503 = 3
MAX_RETRY_WAIT_S = 5.0
# Where the plate sits in the rendered scene (the box each format reports).
PLATE_AT = (338, 300)
CROP_SIZE = (200, 48)
SCENE_SIZE = (640, 360)


@dataclass(frozen=True)
class Push:
    """One HTTP request a camera makes: where (under ingest's base URL), the body and its type."""

    path: str
    body: bytes
    content_type: str
    digest: bool = False  # Dahua: HTTP Digest on its fixed path


@dataclass
class EmulateReport:
    sent: int = 0
    accepted: int = 0
    refused: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    event_ids: list[str] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "accepted": self.accepted,
            "refused": self.refused,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "event_ids": self.event_ids,
            "reasons": dict(self.reasons),
        }


def rendered(plate: str) -> tuple[bytes, bytes]:
    """A plate crop (black text on white) and a scene with it, as JPEGs."""
    crop = Image.new("RGB", CROP_SIZE, (245, 245, 245))
    ImageDraw.Draw(crop).text((12, 16), plate, fill=(10, 10, 10))
    scene = Image.new("RGB", SCENE_SIZE, (70, 80, 90))
    scene.paste(crop, PLATE_AT)
    return _jpeg(crop), _jpeg(scene)


def _jpeg(picture: Image.Image) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


def pushes(
    vendor: str,
    camera_id: str,
    plate: str,
    at: datetime,
    car: int = 1,
    images: tuple[bytes, bytes] | None = None,
) -> Iterator[Push]:
    """The requests that vendor's camera makes for one vehicle with `plate`, read at `at`; `images`
    (crop, scene) instead of rendering them (the benchmark reuses its own)."""
    crop, scene = images or rendered(plate)
    if vendor == "hikvision":
        yield _hikvision(camera_id, plate, at, crop, scene)
    elif vendor == "dahua":
        yield _dahua(plate, at, crop, scene)
    elif vendor == "axis":
        # NEW at the first read, UPDATE once the direction is known, LOST 10 s after the last read:
        # capture times as the camera gives them, sent one after the other.
        start = at - timedelta(seconds=10.3)
        for state, moment in (("new", start), ("update", start + timedelta(seconds=0.3)), ("lost", at)):
            yield _axis(camera_id, plate, moment, state, car, crop)
    elif vendor in ("vaxtor", "genetec", "tattile"):
        xml = {"vaxtor": _vaxtor, "genetec": _genetec, "tattile": _tattile}[vendor](plate, at, crop, scene)
        yield Push(f"/v1/vendors/{vendor}/{camera_id}", xml.encode(), "application/xml")
    else:
        raise ValueError(f"unknown vendor {vendor!r}; one of {', '.join(VENDORS)}")


def _multipart(boundary: str, parts: list[tuple[str, str, bytes]]) -> bytes:
    body = b""
    for name, content_type, data in parts:
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n'
                f"Content-Type: {content_type}\r\nContent-Length: {len(data)}\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    return body + f"--{boundary}--\r\n".encode()


def _hikvision(camera_id: str, plate: str, at: datetime, crop: bytes, scene: bytes) -> Push:
    local = at.astimezone()
    x, y = PLATE_AT
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<EventNotificationAlert version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">'
        f"<ipAddress>192.0.2.10</ipAddress><portNo>80</portNo><protocol>HTTP</protocol>"
        f"<channelID>1</channelID><dateTime>{local.isoformat(timespec='seconds')}</dateTime>"
        "<activePostCount>1</activePostCount><eventType>ANPR</eventType><eventState>active</eventState>"
        "<eventDescription>ANPR</eventDescription>"
        f"<ANPR><country>13</country><licensePlate>{plate}</licensePlate><line>1</line>"
        "<direction>forward</direction><confidenceLevel>95</confidenceLevel>"
        f"<plateCharBelieve>{','.join(['95'] * sum(c.isalnum() for c in plate))}</plateCharBelieve>"
        "<vehicleType>vehicle</vehicleType><vehicleInfo><color>white</color></vehicleInfo><pictureInfoList>"
        "<pictureInfo><fileName>licensePlatePicture.jpg</fileName><type>licensePlatePicture</type>"
        f"<absTime>{local.strftime('%Y%m%d%H%M%S')}{local.microsecond // 1000:03d}</absTime></pictureInfo>"
        "<pictureInfo><fileName>detectionPicture.jpg</fileName><type>detectionPicture</type>"
        f"<absTime>{local.strftime('%Y%m%d%H%M%S')}{local.microsecond // 1000:03d}</absTime>"
        f"<plateRect><X>{x}</X><Y>{y}</Y><width>{CROP_SIZE[0]}</width><height>{CROP_SIZE[1]}</height>"
        "</plateRect></pictureInfo></pictureInfoList></ANPR>"
        f"<UUID>{camera_id}-{int(at.timestamp() * 1000)}</UUID><picNum>2</picNum></EventNotificationAlert>"
    )
    parts = [
        ("anpr.xml", "text/xml", xml.encode()),
        ("licensePlatePicture.jpg", "image/jpeg", crop),
        ("detectionPicture.jpg", "image/jpeg", scene),
    ]
    body = _multipart("boundary", parts)
    return Push(f"/v1/vendors/hikvision/{camera_id}", body, "multipart/form-data; boundary=boundary")


def _dahua(plate: str, at: datetime, crop: bytes, scene: bytes) -> Push:
    x, y = PLATE_AT
    picture = {
        "Plate": {
            "PlateNumber": plate, "Confidence": 92, "Region": "BEL", "PlateColor": "White", "IsExist": True,
            "BoundingBox": [x, y, x + CROP_SIZE[0], y + CROP_SIZE[1]], "Channel": 0,
        },
        "Vehicle": {"VehicleType": "SaloonCar", "VehicleColor": "White", "VehicleSign": "Volkswagen"},
        "SnapInfo": {
            "UTC": int(at.timestamp()), "UTCMS": at.microsecond // 1000, "Direction": "Obverse",
            "AccurateTime": at.astimezone().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
        },
        "NormalPic": {"Content": base64.b64encode(scene).decode(), "PicName": "normal.jpg"},
        "CutoutPic": {"Content": base64.b64encode(crop).decode(), "PicName": "plate.jpg"},
    }  # fmt: skip
    return Push(
        "/NotificationInfo/TollgateInfo", json.dumps({"Picture": picture}).encode(), "application/json", True
    )


def _axis(camera_id: str, plate: str, at: datetime, state: str, car: int, crop: bytes) -> Push:
    x, y = PLATE_AT
    event = {
        "packetCounter": car, "datetime": at.astimezone().strftime("%Y%m%d %H%M%S")
        + f"{at.microsecond // 1000:03d}" + at.astimezone().strftime("%z"),
        "plateUTF8": plate, "plateUnicode": plate, "plateText": plate, "plateCountry": "BEL",
        "plateConfidence": 0.93, "carState": state, "roiID": 1, "imageType": "plate",
        "plateImageType": "jpeg",
        "plateImageSize": len(crop), "carMoveDirection": "unknown" if state == "new" else "in",
        "plateCoordinates": [x, y, CROP_SIZE[0], CROP_SIZE[1]], "carID": str(car),
        "capture_timestamp": int(at.timestamp() * 1000), "sensorProviderID": camera_id,
    }  # fmt: skip
    body = _multipart(
        "axis-lpv", [("event", "application/json", json.dumps(event).encode()), ("image", "image/jpeg", crop)]
    )
    return Push(f"/v1/vendors/axis/{camera_id}", body, "multipart/form-data; boundary=axis-lpv")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _vaxtor(plate: str, at: datetime, crop: bytes, scene: bytes) -> str:
    x, y = PLATE_AT
    return (
        '<?xml version="1.0" encoding="UTF-8"?><vaxtor>'
        f"<date>{at.astimezone().isoformat(timespec='milliseconds')}</date><plate>{plate}</plate>"
        f"<country>BEL</country><confidence>91</confidence><multiplate>3</multiplate><direction>1</direction>"
        f"<left>{x}</left><top>{y}</top><right>{x + CROP_SIZE[0]}</right><bottom>{y + CROP_SIZE[1]}</bottom>"
        f"<plateimage>{_b64(crop)}</plateimage><overviewimage>{_b64(scene)}</overviewimage></vaxtor>"
    )


def _genetec(plate: str, at: datetime, crop: bytes, scene: bytes) -> str:
    utc = at.astimezone(UTC)
    return (
        '<?xml version="1.0" encoding="utf-8"?><AutoVu>'
        f"<Plate>{plate}</Plate><State>Belgium</State><UTCDate>{utc:%Y:%m:%d}</UTCDate>"
        f"<UTCTime>{utc:%H:%M:%S}.{utc.microsecond // 1000:03d}</UTCTime>"
        "<CameraName>Context Camera</CameraName>"
        f"<SourceName>SharpEmulated</SourceName><ContextImage>{_b64(scene)}</ContextImage>"
        f"<PlateImage>{_b64(crop)}</PlateImage><ConfidenceScore>88</ConfidenceScore>"
        f"<Guid>{int(at.timestamp() * 1000):x}-emulated</Guid></AutoVu>"
    )


def _tattile(plate: str, at: datetime, crop: bytes, scene: bytes) -> str:
    return (
        '<?xml version="1.0"?><TRANSIT>'
        f"<PLATE_STRING>{plate}</PLATE_STRING><PLATE_COUNTRY>BEL</PLATE_COUNTRY><OCRSCORE>93</OCRSCORE>"
        "<VEHICLE_BRAND>Volkswagen</VEHICLE_BRAND><VEHICLE_TYPE>Car</VEHICLE_TYPE><VEHICLE_COLOR>Grey</VEHICLE_COLOR>"
        f"<SPEED>47</SPEED><TIMESTAMP>{at.astimezone().isoformat(timespec='milliseconds')}</TIMESTAMP>"
        f"<DIRECTION>approaching</DIRECTION><IMAGE_OCR>{_b64(crop)}</IMAGE_OCR><IMAGE_CTX>{_b64(scene)}</IMAGE_CTX>"
        "</TRANSIT>"
    )


async def send(
    client: httpx.AsyncClient, push: Push, camera_id: str, key: str, report: EmulateReport
) -> httpx.Response:
    """One push, as the camera: Basic (Digest for Dahua), retried after a 503's Retry-After."""
    auth: httpx.Auth = httpx.DigestAuth(camera_id, key) if push.digest else httpx.BasicAuth(camera_id, key)
    report.sent += 1
    for attempt in range(RETRIES_ON_503 + 1):
        response = await client.post(
            push.path, content=push.body, headers={"Content-Type": push.content_type}, auth=auth
        )
        if response.status_code != 503 or attempt == RETRIES_ON_503:
            break
        await asyncio.sleep(min(MAX_RETRY_WAIT_S, float(response.headers.get("retry-after", "1"))))
    report.statuses[response.status_code] += 1
    if response.status_code == 200:
        report.accepted += 1
        report.event_ids.extend(filter(None, response.headers.get("x-event-ids", "").split(",")))
    else:
        report.refused += 1
        report.reasons[refusal_reason(response)] += 1
    return response


async def emulate(
    client: httpx.AsyncClient, vendor: str, camera_id: str, key: str, plates: list[str]
) -> EmulateReport:
    """Pushes each plate as one vehicle, in `vendor`'s format; `client` has ingest's base URL."""
    report = EmulateReport()
    for car, plate in enumerate(plates, start=1):
        for push in pushes(vendor, camera_id, plate, datetime.now(UTC), car):
            await send(client, push, camera_id, key, report)
    return report
