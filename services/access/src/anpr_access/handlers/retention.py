"""The retention run: deletes what is past the legal period (held records stay), audits and measures it."""

from __future__ import annotations

from datetime import datetime

from anpr_access.domain.retention import months_ahead
from anpr_access.ports import RetentionPorts
from anpr_core.auth import Principal
from anpr_core.metrics import READS_OLDEST_AGE, RETENTION_FAILURES, RETENTION_LAST_RUN, RETENTION_ROWS_DELETED


async def run_retention(ports: RetentionPorts, actor: Principal | None, now: datetime) -> dict[str, object]:
    """`actor` None: the background schedule ran it. A run that fails is counted (its alert), and raised."""
    cutoff = now - ports.policy.retention
    try:
        async with ports.lock:
            # Partitions ahead first, so the consumer never meets a month without one.
            await ports.store.ensure_partitions(months_ahead(now, ports.partitions_ahead))
            counts = await ports.store.delete_expired(cutoff)
            oldest = await ports.store.oldest_read()
    except Exception:
        RETENTION_FAILURES.inc()
        raise
    RETENTION_LAST_RUN.set(now.timestamp())
    RETENTION_ROWS_DELETED.inc(counts["reads_deleted"])
    READS_OLDEST_AGE.set((now - oldest).total_seconds() if oldest else 0.0)
    report: dict[str, object] = {"cutoff": cutoff.isoformat(), **counts}
    await ports.audit.record(
        actor,
        "retention_delete",
        query=report,
        detail=f"deleted {counts['passages_deleted']} passages, {counts['reads_deleted']} reads and "
        f"{counts['hits_deleted']} hits seen before {cutoff.isoformat()}; kept "
        f"{counts['passages_kept_on_hold']} passages and {counts['reads_kept_on_hold']} reads under a "
        "legal hold",
    )
    return report
