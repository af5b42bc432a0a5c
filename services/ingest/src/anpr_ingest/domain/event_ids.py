"""Event ids of what cameras send, derived from its content, so that a resend is the same event. No I/O."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta

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
