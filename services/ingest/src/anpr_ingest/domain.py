"""Frame intake rules: what an acceptable image is, how camera keys are kept, clock skew. No I/O."""

from __future__ import annotations

import hashlib
import hmac
import re
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
# Markers of the segments a JPEG may hold after its start-of-image: frame headers, Huffman and
# quantisation tables (DHT, DAC, DQT), scans (SOS), DNL, restart intervals (DRI), expansion (DHP,
# EXP), application data (APPn) and comments. Any other marker there is corruption.
_SEGMENT_MARKERS = frozenset(
    {*_SOF_MARKERS, 0xC4, 0xCC, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF, *range(0xE0, 0xF0), 0xFE}
)
# In a scan's compressed data a 0xFF byte is followed by 0x00 (a stuffed byte) or a restart marker
# (0xD0-0xD7); fill bytes (0xFF) may precede a marker. Anything else is the marker that ends the scan.
_END_OF_SCAN = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


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


def check_jpeg_structure(data: bytes) -> None:
    """Walks every segment of a JPEG, the compressed data of its scans included, to its end-of-image
    marker. Garbage in the compressed data, which a decoder only warns about (and paints grey), or a
    segment running past the end, is refused. Bytes after the end-of-image marker are left alone, as
    decoders leave them (sniff_image has checked that the file ends with one)."""
    body = data.rstrip(b"\x00")
    end = len(body)
    position = 2
    frame_seen = scan_seen = False
    while position + 2 <= end:
        if body[position] != 0xFF:
            raise RejectedFrame("corrupt_image", f"the JPEG is corrupt: no marker at byte {position}")
        marker = body[position + 1]
        if marker == 0xFF:  # fill byte
            position += 1
            continue
        if marker == 0xD9:
            if not scan_seen:
                raise RejectedFrame("corrupt_image", "the JPEG is corrupt: it holds no image data (no scan)")
            return
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a segment
            position += 2
            continue
        if marker not in _SEGMENT_MARKERS:
            raise RejectedFrame(
                "corrupt_image", f"the JPEG is corrupt: unexpected marker 0x{marker:02X} at byte {position}"
            )
        if position + 4 > end:
            break
        (length,) = struct.unpack(">H", body[position + 2 : position + 4])
        if length < 2 or position + 2 + length > end:
            raise RejectedFrame(
                "corrupt_image", f"the JPEG is corrupt: the segment at byte {position} runs past the end"
            )
        position += 2 + length
        if marker in _SOF_MARKERS:
            frame_seen = True
        elif marker == 0xDA:
            if not frame_seen:
                raise RejectedFrame("corrupt_image", "the JPEG is corrupt: a scan before its frame header")
            scan_seen = True
            scan_end = _END_OF_SCAN.search(body, position)
            if scan_end is None:
                break
            position = scan_end.start()
    raise RejectedFrame("truncated_image", "the JPEG is cut off before its end-of-image marker")


# What ANPR cameras send (2 to 12 megapixels) with room to spare; decoding more costs memory that
# a hostile file can ask for with a few hundred bytes (a PNG that declares 8192x8192 pixels).
DEFAULT_MAX_IMAGE_PIXELS = 4096 * 4096


@dataclass(frozen=True)
class FrameLimits:
    max_bytes: int
    min_side: int
    max_side: int
    max_clock_skew: timedelta
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS


def check_pixels(info: ImageInfo, max_pixels: int, what: str = "image") -> None:
    """Refuses, from the header alone (before anything is decoded), an image of more pixels than allowed."""
    if info.width * info.height > max_pixels:
        raise RejectedFrame(
            "too_many_pixels",
            f"the {what} declares {info.width}x{info.height} = {info.width * info.height} pixels; "
            f"at most {max_pixels} are decoded (ANPR_MAX_IMAGE_PIXELS)",
            status=413,
        )


def check_frame(data: bytes, captured_at: datetime, now: datetime, limits: FrameLimits) -> ImageInfo:
    """The checks made from the bytes' header and the fields: no pixel is decoded here."""
    if not data:
        raise RejectedFrame("empty", "the image part is empty")
    if len(data) > limits.max_bytes:
        raise RejectedFrame(
            "too_large", f"the image is {len(data)} bytes; the limit is {limits.max_bytes}", status=413
        )
    info = sniff_image(data)
    check_pixels(info, limits.max_pixels)
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
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS


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
    check_pixels(info, limits.max_pixels, "crop")
    if min(info.width, info.height) < limits.min_side or max(info.width, info.height) > limits.max_side:
        raise RejectedFrame(
            "bad_dimensions",
            f"the crop is {info.width}x{info.height}; each side must be between "
            f"{limits.min_side} and {limits.max_side} pixels",
        )
    return info
