"""UUIDv7 event ids: time-ordered, so sinks index them well, and unique for idempotency."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator


def uuid7() -> uuid.UUID:
    """RFC 9562 UUID version 7: 48-bit Unix milliseconds, then 74 random bits."""
    unix_ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (unix_ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)


def new_event_id() -> str:
    return str(uuid7())


# The variant nibble of a UUID: binary 10 then two random bits, from any random hex digit.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}


def event_ids(block: int = 4096) -> Iterator[str]:
    """UUIDv7 strings, as `new_event_id` makes them, at a third of the cost: for bulk work.

    The random bits are drawn `block` ids at a time; the clock is read for every id.
    """
    clock = time.time_ns
    last_ms = -1
    head = ""
    while True:
        random_hex = os.urandom(10 * block).hex()
        for at in range(0, 20 * block, 20):
            unix_ms = clock() // 1_000_000
            if unix_ms != last_ms:
                digits = f"{unix_ms & 0xFFFF_FFFF_FFFF:012x}"
                head = f"{digits[:8]}-{digits[8:]}-7"
                last_ms = unix_ms
            part = random_hex[at : at + 19]
            yield f"{head}{part[:3]}-{_VARIANT[part[3]]}{part[4:7]}-{part[7:]}"
