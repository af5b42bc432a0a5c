"""A short-lived, per-replica cache of camera records, so a frame does not cost a database lookup.

Rotation, revocation and status changes evict the entry on the replica that made them at once;
other replicas see the change when their entry expires (the TTL, a few seconds).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from anpr_ingest.storage import Camera, CameraRegister


class CameraCache:
    def __init__(
        self, register: CameraRegister, ttl_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._register = register
        self._ttl = ttl_s
        self._clock = clock
        self._entries: dict[str, tuple[float, Camera]] = {}
        self._lookups: dict[str, asyncio.Future[Camera | None]] = {}
        self._evictions: dict[str, int] = {}

    async def get(self, camera_id: str) -> Camera | None:
        now = self._clock()
        cached = self._entries.get(camera_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        # One lookup per camera at a time: when an entry expires, the frames that find it missing
        # together wait on the same query instead of each taking a database connection.
        generation = self._evictions.get(camera_id, 0)
        lookup = self._lookups.get(camera_id)
        if lookup is None:
            lookup = asyncio.ensure_future(self._register.get(camera_id))
            self._lookups[camera_id] = lookup
            lookup.add_done_callback(lambda done: self._forget_lookup(camera_id, done))
        camera = await asyncio.shield(lookup)
        if camera is None:
            # Unknown ids are not cached: a camera registered on another replica works at once.
            self._entries.pop(camera_id, None)
        elif self._ttl > 0 and self._evictions.get(camera_id, 0) == generation:
            # Not after an eviction during the lookup: it may have read the old key.
            self._entries[camera_id] = (now + self._ttl, camera)
        return camera

    def _forget_lookup(self, camera_id: str, done: asyncio.Future[Camera | None]) -> None:
        if self._lookups.get(camera_id) is done:
            del self._lookups[camera_id]

    def evict(self, camera_id: str) -> None:
        self._entries.pop(camera_id, None)
        self._lookups.pop(camera_id, None)
        self._evictions[camera_id] = self._evictions.get(camera_id, 0) + 1
