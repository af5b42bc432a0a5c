"""What a vendor camera's push says, before and after it is mapped onto the platform's camera read.
No I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from anpr_ingest.domain.errors import IngestRefusal


class Vendor(StrEnum):
    """The vendor formats ingest reads, as named in /v1/vendors/{vendor}/{camera_id}."""

    HIKVISION = "hikvision"  # ISAPI alarm server: multipart, anpr.xml and JPEG parts
    DAHUA = "dahua"  # ITC: JSON to /NotificationInfo/TollgateInfo, images in base64
    AXIS = "axis"  # License Plate Verifier push: JSON (and an image part), NEW/UPDATE/LOST
    VAXTOR = "vaxtor"  # VaxALPR (also on Mobotix): XML, JSON or a form of its $variables$
    GENETEC = "genetec"  # AutoVu SharpV: its XML template (or the same fields as JSON)
    TATTILE = "tattile"  # Vega: XML, JSON or a form of its result fields


class Travel(StrEnum):
    """Which way the vehicle moved, as the camera sees it; the register says what that means for
    the zone (anpr_ingest.domain.vendors.mapping.zone_direction)."""

    TOWARDS = "towards"
    AWAY = "away"
    UNKNOWN = "unknown"


class TrackState(StrEnum):
    """Axis reports one vehicle as NEW, then UPDATE when its reading changes, then LOST."""

    NEW = "new"
    UPDATE = "update"
    LOST = "lost"


@dataclass(frozen=True)
class VendorRead:
    """One plate read as the vendor's payload gives it, in the vendor's terms made plain."""

    text: str  # the plate as the camera printed it, not yet normalised
    # 0..1; None where the camera gives none
    confidence: float | None
    captured_at: datetime  # with its offset, or naive: the camera's local time
    country: str = ""  # ISO 3166 alpha-2, "" where unknown
    char_confidences: tuple[float, ...] = ()  # 0..1 per character, where the camera gives them
    travel: Travel = Travel.UNKNOWN
    crop: bytes = b""  # the plate crop, as sent (checked later, like the platform's own)
    overview: bytes = b""  # the scene, as sent
    box: tuple[int, int, int, int] | None = None  # x1, y1, x2, y2 in the overview's pixels
    vehicle_type: str = ""
    vehicle_colour: str = ""
    vehicle_make: str = ""
    track: str = ""  # the camera's own id of the vehicle (Axis carID), "" where none
    state: TrackState | None = None


@dataclass(frozen=True)
class VendorPush:
    """What one push holds: reads, or nothing to publish (a keep-alive, another kind of event, a
    vehicle without a readable plate); `note` says which, for the log and the answer."""

    reads: tuple[VendorRead, ...] = ()
    note: str = ""


class MalformedPayload(IngestRefusal, ValueError):
    """A push ingest cannot read; kept for the operator (a dead letter with the raw bytes).
    `reason` is the metric label, the message says what is wrong in words the integrator can act on."""

    def __init__(self, reason: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class PayloadLimits:
    """Bounds applied while parsing, on top of the body's own size limit."""

    max_image_bytes: int  # one decoded image (base64 or a part)
    max_parts: int = 16  # multipart parts
    max_fields: int = 256  # form fields, XML elements of the flat templates
