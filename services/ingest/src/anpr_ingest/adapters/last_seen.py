"""Last-seen times in the camera register, written at most every few seconds per camera and replica,
so a busy camera does not cost a database write per frame (the metric is set on every report)."""

from __future__ import annotations

import time
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError

from anpr_ingest.adapters.camera_register import CameraRegister
from anpr_ingest.domain.errors import RegisterUnavailable


class LastSeenWriter:
    def __init__(self, register: CameraRegister, interval_s: float) -> None:
        self._register = register
        self._interval = interval_s
        self._written: dict[str, float] = {}

    async def write(self, camera_id: str, seen_at: datetime) -> None:
        """Writes `seen_at` if this camera's last write is `interval_s` old; raises
        RegisterUnavailable when the register does not answer (written on the next report instead)."""
        tick = time.monotonic()
        if tick - self._written.get(camera_id, -1e9) >= self._interval:
            self._written[camera_id] = tick
            try:
                await self._register.touch(camera_id, seen_at)
            except (SQLAlchemyError, OSError) as error:
                del self._written[camera_id]  # written on the next report instead
                raise RegisterUnavailable(
                    f"the register did not record camera {camera_id}: {error}"
                ) from error
