"""Frame and camera-side read intake rules: limits, clock skew, plate text, content digests. No I/O."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from anpr_core.plates import normalise_plate
from anpr_ingest.domain.errors import RejectedFrame
from anpr_ingest.domain.images import DEFAULT_MAX_IMAGE_PIXELS, ImageInfo, check_pixels, sniff_image


@dataclass(frozen=True)
class FrameLimits:
    max_bytes: int
    min_side: int
    max_side: int
    max_clock_skew: timedelta
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS


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


def check_overview(data: bytes, limits: FrameLimits) -> ImageInfo:
    """A vendor read's scene image, checked from its header like a frame (no capture time of its own)."""
    if len(data) > limits.max_bytes:
        raise RejectedFrame(
            "too_large", f"the overview is {len(data)} bytes; the limit is {limits.max_bytes}", status=413
        )
    info = sniff_image(data)
    check_pixels(info, limits.max_pixels, "overview")
    if min(info.width, info.height) < limits.min_side or max(info.width, info.height) > limits.max_side:
        raise RejectedFrame(
            "bad_dimensions",
            f"the overview is {info.width}x{info.height}; each side must be between "
            f"{limits.min_side} and {limits.max_side} pixels",
        )
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


def clock_skew_seconds(captured_at: datetime, now: datetime) -> float:
    """Camera clock minus server clock, as seen on a frame: positive when the camera runs ahead."""
    return (captured_at - now).total_seconds()


def frame_digest(image: bytes) -> str:
    return hashlib.sha256(image).hexdigest()


def read_digest(plate: str, crop: bytes) -> str:
    # Reads and frames share the dedupe table; the prefix keeps their digests apart.
    return hashlib.sha256(b"read\x00" + plate.encode() + b"\x00" + crop).hexdigest()


@dataclass(frozen=True)
class CropLimits:
    max_bytes: int
    min_side: int
    max_side: int
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS


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


# --- publish once --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IntakeEntry:
    """One accepted frame or read as the dedupe table keeps it."""

    camera_id: str
    captured_at: datetime
    sha256: str
    event_id: str
    created_at: datetime

    @property
    def key(self) -> tuple[str, float, str]:
        """The dedupe key; the capture time as a POSIX timestamp, so offsets do not matter."""
        return (self.camera_id, self.captured_at.timestamp(), self.sha256)


@dataclass(frozen=True, slots=True)
class Intake:
    entry: IntakeEntry
    topic: str
    key: bytes
    value: bytes
