"""The retention job: deletes reads past the legal period (minus held rows), audits and measures it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_access.adapters.storage import ensure_partitions, oldest_read, run_retention
from anpr_access.domain.legal import LegalPolicy
from anpr_access.domain.retention import months_ahead
from anpr_core.auditing import AuditTrail
from anpr_core.auth import Principal
from anpr_core.events import utcnow
from anpr_core.metrics import READS_OLDEST_AGE, RETENTION_LAST_RUN, RETENTION_ROWS_DELETED

_log = logging.getLogger(__name__)


class RetentionJob:
    def __init__(
        self, engine: AsyncEngine, audit: AuditTrail, policy: LegalPolicy, partitions_ahead: int
    ) -> None:
        self._engine = engine
        self._audit = audit
        self._policy = policy
        self._partitions_ahead = partitions_ahead
        # One run at a time per replica; across replicas the partition lock serialises them.
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def run(self, actor: Principal | None = None, now: datetime | None = None) -> dict[str, object]:
        now = now or utcnow()
        cutoff = now - self._policy.retention
        async with self._lock:
            # Partitions ahead first, so the consumer never meets a month without one.
            await ensure_partitions(self._engine, months_ahead(now, self._partitions_ahead))
            counts = await run_retention(self._engine, cutoff)
            oldest = await oldest_read(self._engine)
        RETENTION_LAST_RUN.set(now.timestamp())
        RETENTION_ROWS_DELETED.inc(counts["reads_deleted"])
        READS_OLDEST_AGE.set((now - oldest).total_seconds() if oldest else 0.0)
        report: dict[str, object] = {"cutoff": cutoff.isoformat(), **counts}
        await self._audit.record(
            actor,
            "retention_delete",
            query=report,
            detail=f"deleted {counts['reads_deleted']} reads and {counts['hits_deleted']} hits captured "
            f"before {cutoff.isoformat()}; kept {counts['reads_kept_on_hold']} under legal hold",
        )
        return report

    def start(self, interval_s: float) -> None:
        if interval_s > 0:
            self._task = asyncio.create_task(self._loop(interval_s), name="access-retention")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self, interval_s: float) -> None:
        while True:
            try:
                await self.run()
            except Exception:  # noqa: BLE001 - the job retries at the next interval; the metric shows staleness
                _log.exception("retention run failed; retrying in %.0f s", interval_s)
            await asyncio.sleep(interval_s)
