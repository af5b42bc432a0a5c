"""Runs the retention job in the background every interval (the REST route runs it on demand)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from anpr_access.handlers.retention import run_retention
from anpr_access.ports import RetentionPorts
from anpr_core.events import utcnow

_log = logging.getLogger(__name__)


class RetentionSchedule:
    def __init__(self, ports: RetentionPorts, interval_s: float) -> None:
        self._ports = ports
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """0 s: no background run."""
        if self._interval_s > 0:
            self._task = asyncio.create_task(self._loop(), name="access-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await run_retention(self._ports, None, utcnow())
            except Exception:  # noqa: BLE001 - the job retries at the next interval; the metric shows staleness
                _log.exception("retention run failed; retrying in %.0f s", self._interval_s)
            await asyncio.sleep(self._interval_s)
