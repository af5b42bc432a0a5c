"""Frame intake rules: what an acceptable image is, how camera keys are kept, clock skew. No I/O."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass
from datetime import datetime, timedelta
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
    if captured_at.tzinfo is None:
        raise RejectedFrame(
            "naive_time", "captured_at must carry a timezone offset, e.g. 2026-11-28T20:15:00Z"
        )
    skew = abs(now - captured_at)
    if skew > limits.max_clock_skew:
        raise RejectedFrame(
            "clock_skew",
            f"captured_at is {skew.total_seconds():.0f}s away from the server clock; "
            f"at most {limits.max_clock_skew.total_seconds():.0f}s is accepted",
        )
    return info


def new_api_key() -> str:
    return "cam_" + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    # Keys are long random strings, so a fast hash is enough; only the hash is stored.
    return hashlib.sha256(key.encode()).hexdigest()


def key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(key), stored_hash)
