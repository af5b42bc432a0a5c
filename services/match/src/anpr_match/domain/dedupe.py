"""One hit per passage: the duplicate window, and the one id a read's hit on an entry always has. No I/O."""

from __future__ import annotations

import hashlib
import math
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class HitDeduplicator:
    """One vehicle passing one camera gives one hit, not one per frame.

    A second hit on the same entry from the same camera within `window_s` of the first is
    suppressed; the same read again (a redelivery) is let through, since its hit has the same id.
    Reads are partitioned by camera, so one replica sees all of a camera's reads. A hit is
    remembered until reads captured `window_s + late_s` after it have come: a read of the same
    passage arriving up to `late_s` late (out of order) is still suppressed.
    """

    window_s: float
    late_s: float = 0.0
    _seen: OrderedDict[tuple[str, str], tuple[float, str]] = field(default_factory=OrderedDict)
    _newest: float = -math.inf

    def admit(self, entry_id: str, camera_id: str, captured_at: datetime, read_event_id: str) -> bool:
        moment = captured_at.timestamp()
        slot = (entry_id, camera_id)
        earlier = self._seen.get(slot)
        if earlier is not None and earlier[1] != read_event_id and abs(moment - earlier[0]) < self.window_s:
            return False
        if earlier is None or earlier[1] != read_event_id:
            self._seen[slot] = (moment, read_event_id)
            self._seen.move_to_end(slot)
        self._newest = max(self._newest, moment)
        self._forget_before(self._newest - self.window_s - self.late_s)
        return True

    def _forget_before(self, moment: float) -> None:
        while self._seen:
            slot, (seen_at, _read) = next(iter(self._seen.items()))
            if seen_at >= moment:
                break
            del self._seen[slot]

    def __len__(self) -> int:
        return len(self._seen)


def hit_event_id(read_event_id: str, entry_id: str) -> str:
    """The hit of one read on one entry always has the same id, so redelivery never makes a second hit."""
    digest = int.from_bytes(hashlib.sha256(f"{read_event_id}/{entry_id}".encode()).digest()[:16], "big")
    # RFC 9562 version 8 (custom) with the RFC variant; Python 3.11's UUID() cannot set version 8.
    digest = (digest & ~(0xF << 76)) | (0x8 << 76)
    digest = (digest & ~(0b11 << 62)) | (0b10 << 62)
    return str(uuid.UUID(int=digest))
