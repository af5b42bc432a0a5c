"""The camera register's rules: kinds, statuses, silence, and how camera keys are kept. No I/O."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from anpr_ingest.domain.errors import IngestRefusal, InvalidCameraChange


class Direction(StrEnum):
    IN = "in"
    OUT = "out"
    BOTH = "both"


class CameraStatus(StrEnum):
    ACTIVE = "active"
    MAINTENANCE = "maintenance"
    RETIRED = "retired"


class CameraKind(StrEnum):
    FRAME = "frame"  # sends images; detect reads the plates
    SMART = "smart"  # reads plates itself and sends reads


class StatusChangeRefused(IngestRefusal, ValueError):
    """A status change the register does not allow; the message says why."""


def check_status_change(current: CameraStatus, wanted: CameraStatus) -> None:
    # A retired camera's id stays in the register for the history of its reads; a camera put
    # back into service is registered again under a new id, with a new council approval.
    if current is CameraStatus.RETIRED and wanted is not CameraStatus.RETIRED:
        raise StatusChangeRefused(
            "a retired camera cannot be brought back; register it again under a new camera id"
        )


def check_border(border: bool, neighbour: str | None) -> None:
    """A border camera, and only a border camera, names the neighbour zone it is shared with."""
    if border and not neighbour:
        raise InvalidCameraChange(
            "a border camera names the neighbour zone it is shared with (neighbour_zone_id)"
        )
    if not border and neighbour:
        raise InvalidCameraChange("neighbour_zone_id is only for border cameras (set border_camera: true)")


def check_feed(kind: str, vendor: str) -> None:
    """A camera that pushes a vendor's format reads plates itself: only a smart camera names one."""
    if vendor and kind != CameraKind.SMART.value:
        raise InvalidCameraChange(
            f"a camera that pushes {vendor} reads plates itself: register it with kind smart"
        )


# The largest frame side a region or plate width may name (well past any camera's resolution).
MAX_FRAME_SIDE = 16384


def check_region(corners: list[tuple[int, int]]) -> None:
    """A region of interest is a polygon: three corners or more, enclosing an area."""
    if len(corners) < 3:
        raise InvalidCameraChange("a region has at least three corners")
    twice_area = sum(
        x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(corners, corners[1:] + corners[:1], strict=True)
    )
    if twice_area == 0:
        raise InvalidCameraChange("the region's corners enclose no area (all on one line)")


def check_plate_width(minimum: int, maximum: int) -> None:
    if minimum > maximum:
        raise InvalidCameraChange(f"plate_width min ({minimum}) is above its max ({maximum})")


# Belgian zones: what a camera's local time means when it sends one without an offset.
DEFAULT_TIME_ZONE = "Europe/Brussels"


def time_zone_of(name: str) -> tzinfo:
    """The IANA time zone a camera's local times are in (the tz database, read once per name)."""
    try:
        return ZoneInfo(name or DEFAULT_TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise InvalidCameraChange(
            f"time_zone {name!r} is not an IANA time zone such as Europe/Brussels"
        ) from error


# Fields a PATCH may change but not clear.
REQUIRED_FIELDS = ("name", "direction", "kind", "border_camera", "status", "time_zone")


def is_silent(
    status: CameraStatus,
    last_seen_at: datetime | None,
    registered_at: datetime,
    now: datetime,
    gap: timedelta,
) -> bool:
    """Only an active camera can be silent; one that never reported counts from its registration."""
    if status is not CameraStatus.ACTIVE:
        return False
    return now - (last_seen_at or registered_at) > gap


@dataclass(frozen=True)
class Camera:
    """A camera as the register keeps it; enums as their text."""

    camera_id: str
    name: str
    direction: str
    status: str
    api_key_hash: str
    created_at: datetime
    last_seen_at: datetime | None
    kind: str = "frame"
    latitude: float | None = None
    longitude: float | None = None
    road: str = ""
    zone_id: str = ""
    border_camera: bool = False
    neighbour_zone_id: str | None = None
    approval_reference: str = ""
    approval_date: date | None = None
    sign_latitude: float | None = None
    sign_longitude: float | None = None
    sign_description: str = ""
    impact_analysis_reference: str = ""
    updated_at: datetime | None = None
    vendor: str = ""  # the vendor format a smart camera pushes ("" for the platform's own API)
    time_zone: str = DEFAULT_TIME_ZONE  # where its local times are, when it sends them without offset
    # Digest's H(camera:realm:key), made with the key, cleared with it (domain.camera_auth)
    digest_ha1_md5: str = ""
    digest_ha1_sha256: str = ""
    # Where plates appear on its frames ([x, y] corners in frame pixels) and how wide they are there;
    # None: the whole frame, any width. Each frame carries them to detect.
    region: list[list[int]] | None = None
    min_plate_width: int | None = None
    max_plate_width: int | None = None

    def changed(self, **fields: Any) -> Camera:
        return dataclasses.replace(self, **fields)


def new_api_key() -> str:
    return "cam_" + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # Keys are long random strings, so a fast hash is enough; only the hash is stored.
    return hashlib.sha256(key.encode()).hexdigest()


def key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(key), stored_hash)
