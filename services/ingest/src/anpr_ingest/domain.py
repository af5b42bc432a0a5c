"""Frame intake rules: what an acceptable image is, how camera keys are kept, clock skew. No I/O."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum


class Direction(StrEnum):
    IN = "in"
    OUT = "out"
    BOTH = "both"


class CameraStatus(StrEnum):
    ACTIVE = "active"
    MAINTENANCE = "maintenance"
    RETIRED = "retired"


class RejectedFrame(ValueError):
    """A frame ingest will not accept; `reason` is a short metric label, the message tells the camera why."""

    def __init__(self, reason: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


@dataclass(frozen=True)
class ImageInfo:
    content_type: str
    width: int
    height: int


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# The IEND chunk: zero length, type, and its fixed CRC.
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"
# JPEG start-of-frame markers that carry the dimensions (baseline, progressive, ...).
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def sniff_image(data: bytes) -> ImageInfo:
    """Establishes the type and size of an image from its bytes, never from its name."""
    # Some cameras pad their files with zeros; the end marker must still be there.
    body = data.rstrip(b"\x00")
    if data.startswith(_PNG_SIGNATURE):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise RejectedFrame("corrupt_image", "PNG without a valid IHDR header")
        if not body.endswith(_PNG_END):
            raise RejectedFrame("truncated_image", "the PNG is cut off: it has no IEND chunk")
        width, height = struct.unpack(">II", data[16:24])
        return ImageInfo("image/png", width, height)
    if data.startswith(b"\xff\xd8"):
        width, height = _jpeg_size(data)
        if not body.endswith(b"\xff\xd9"):
            raise RejectedFrame("truncated_image", "the JPEG is cut off: it has no end-of-image marker")
        return ImageInfo("image/jpeg", width, height)
    raise RejectedFrame("not_an_image", "the bytes are neither a JPEG nor a PNG image", status=415)


def _jpeg_size(data: bytes) -> tuple[int, int]:
    position = 2
    while position + 4 <= len(data):
        if data[position] != 0xFF:
            raise RejectedFrame("corrupt_image", "JPEG marker structure is broken")
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            position += 2
            continue
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        if marker in _SOF_MARKERS:
            if position + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            return width, height
        position += 2 + length
    raise RejectedFrame("corrupt_image", "JPEG without a frame header (truncated or corrupt)")


@dataclass(frozen=True)
class FrameLimits:
    max_bytes: int
    min_side: int
    max_side: int
    max_clock_skew: timedelta


def check_frame(data: bytes, captured_at: datetime, now: datetime, limits: FrameLimits) -> ImageInfo:
    if not data:
        raise RejectedFrame("empty", "the image part is empty")
    if len(data) > limits.max_bytes:
        raise RejectedFrame(
            "too_large", f"the image is {len(data)} bytes; the limit is {limits.max_bytes}", status=413
        )
    info = sniff_image(data)
    if min(info.width, info.height) < limits.min_side or max(info.width, info.height) > limits.max_side:
        raise RejectedFrame(
            "bad_dimensions",
            f"the image is {info.width}x{info.height}; each side must be between "
            f"{limits.min_side} and {limits.max_side} pixels",
        )
    _check_time(captured_at, now, limits.max_clock_skew)
    return info


def _check_time(captured_at: datetime, now: datetime, max_skew: timedelta) -> None:
    if captured_at.tzinfo is None:
        raise RejectedFrame(
            "naive_time", "captured_at must carry a timezone offset, e.g. 2026-11-28T20:15:00Z"
        )
    skew = abs(now - captured_at)
    if skew > max_skew:
        raise RejectedFrame(
            "clock_skew",
            f"captured_at is {skew.total_seconds():.0f}s away from the server clock; "
            f"at most {max_skew.total_seconds():.0f}s is accepted; check the camera's NTP",
        )


def new_api_key() -> str:
    return "cam_" + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # Keys are long random strings, so a fast hash is enough; only the hash is stored.
    return hashlib.sha256(key.encode()).hexdigest()


def key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(key), stored_hash)


# --- the camera register ------------------------------------------------------------------------


class CameraKind(StrEnum):
    FRAME = "frame"  # sends images; detect reads the plates
    SMART = "smart"  # reads plates itself and sends reads


class StatusChangeRefused(ValueError):
    """A status change the register does not allow; the message says why."""


def check_status_change(current: CameraStatus, wanted: CameraStatus) -> None:
    # A retired camera's id stays in the register for the history of its reads; a camera put
    # back into service is registered again under a new id, with a new council approval.
    if current is CameraStatus.RETIRED and wanted is not CameraStatus.RETIRED:
        raise StatusChangeRefused(
            "a retired camera cannot be brought back; register it again under a new camera id"
        )


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


def clock_skew_seconds(captured_at: datetime, now: datetime) -> float:
    """Camera clock minus server clock, as seen on a frame: positive when the camera runs ahead."""
    return (captured_at - now).total_seconds()


# --- duplicates ---------------------------------------------------------------------------------


def frame_digest(image: bytes) -> str:
    return hashlib.sha256(image).hexdigest()


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def intake_event_id(zone_id: str, camera_id: str, captured_at: datetime, digest: str) -> str:
    """The event id of what a camera sent, derived from the camera, the capture time and the content
    (`digest`), so that a resend is the same event whatever became of the first attempt, and every
    sink, idempotent on event ids, keeps one copy.

    UUIDv7-shaped: the time bits are the capture time (ids stay time-ordered, and detect's read ids,
    derived from a frame's, keep them); the other bits are SHA-256 of the zone, camera, capture time
    to the microsecond (offsets do not matter) and digest.
    """
    micros = (captured_at - _EPOCH) // timedelta(microseconds=1)
    hashed = hashlib.sha256(f"{zone_id}\x00{camera_id}\x00{micros}\x00{digest}".encode()).digest()
    rand = int.from_bytes(hashed[:10], "big")
    value = ((micros // 1000) & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def read_digest(plate: str, crop: bytes) -> str:
    # Reads and frames share the dedupe table; the prefix keeps their digests apart.
    return hashlib.sha256(b"read\x00" + plate.encode() + b"\x00" + crop).hexdigest()


# --- camera-side reads --------------------------------------------------------------------------


@dataclass(frozen=True)
class CropLimits:
    max_bytes: int
    min_side: int
    max_side: int


def normalise_plate(text: str) -> str:
    """Upper case, A-Z and 0-9 only: what cameras print as `1-ABC-234` or `1 abc 234` is `1ABC234`."""
    return "".join(c for c in text.upper() if ("A" <= c <= "Z") or ("0" <= c <= "9"))


def check_read(text: str, confidence: float, captured_at: datetime, now: datetime, skew: timedelta) -> str:
    """Validates a camera-side read and returns its normalised plate."""
    plate = normalise_plate(text)
    if not 1 <= len(plate) <= 16:
        raise RejectedFrame(
            "bad_plate",
            f"the plate text is {len(plate)} characters long after normalisation to A-Z0-9; "
            "send 1 to 16 letters or digits",
        )
    if not 0.0 <= confidence <= 1.0:
        raise RejectedFrame("bad_confidence", f"confidence must be between 0 and 1, got {confidence}")
    _check_time(captured_at, now, skew)
    return plate


def check_crop(data: bytes, limits: CropLimits) -> ImageInfo:
    if len(data) > limits.max_bytes:
        raise RejectedFrame(
            "too_large", f"the crop is {len(data)} bytes; the limit is {limits.max_bytes}", status=413
        )
    info = sniff_image(data)
    if info.content_type != "image/jpeg":
        raise RejectedFrame("not_jpeg", "the plate crop must be a JPEG", status=415)
    if min(info.width, info.height) < limits.min_side or max(info.width, info.height) > limits.max_side:
        raise RejectedFrame(
            "bad_dimensions",
            f"the crop is {info.width}x{info.height}; each side must be between "
            f"{limits.min_side} and {limits.max_side} pixels",
        )
    return info
