"""A short-lived, per-replica cache of camera records, so a frame does not cost a database lookup.

Rotation, revocation and status changes evict the entry on the replica that made them at once;
other replicas see the change when their entry expires (the TTL, a few seconds). A register that
does not answer is reported as RegisterUnavailable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError

from anpr_ingest.adapters.camera_register import CameraRegister
from anpr_ingest.domain.cameras import Camera
from anpr_ingest.domain.errors import RegisterUnavailable

# A busy camera's entry is read again in the background in the last part of its life, so its
# frames do not all wait on the database at each expiry; an entry is never served past its TTL.
REFRESH_AHEAD = 0.2


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
            if cached[0] - now < self._ttl * REFRESH_AHEAD and camera_id not in self._lookups:
                self._look_up(camera_id, now)
            return cached[1]
        # One lookup per camera at a time: when an entry expires, the frames that find it missing
        # together wait on the same query instead of each taking a database connection.
        lookup = self._lookups.get(camera_id) or self._look_up(camera_id, now)
        try:
            return await asyncio.shield(lookup)
        except (SQLAlchemyError, OSError) as error:
            raise RegisterUnavailable(f"the camera register did not answer: {error}") from error

    def _look_up(self, camera_id: str, started: float) -> asyncio.Future[Camera | None]:
        generation = self._evictions.get(camera_id, 0)
        lookup = asyncio.ensure_future(self._register.get(camera_id))
        self._lookups[camera_id] = lookup

        def done(finished: asyncio.Future[Camera | None]) -> None:
            if self._lookups.get(camera_id) is finished:
                del self._lookups[camera_id]
            if finished.cancelled() or finished.exception() is not None:
                return  # the waiting requests see the error; a background refresh keeps the old entry
            camera = finished.result()
            if camera is None:
                # Unknown ids are not cached: a camera registered on another replica works at once.
                self._entries.pop(camera_id, None)
            elif self._ttl > 0 and self._evictions.get(camera_id, 0) == generation:
                # Not after an eviction during the lookup: it may have read the old key.
                self._entries[camera_id] = (started + self._ttl, camera)

        lookup.add_done_callback(done)
        return lookup

    def evict(self, camera_id: str) -> None:
        self._entries.pop(camera_id, None)
        self._lookups.pop(camera_id, None)
        self._evictions[camera_id] = self._evictions.get(camera_id, 0) + 1
