"""The retention run on fakes of its ports: what it measures for the dashboard and the alerts (the
last completed run, the rows deleted, a failed run), and that a failed run is raised, not hidden."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from anpr_access.domain.legal import LegalPolicy
from anpr_access.domain.retention import Month
from anpr_access.handlers.retention import run_retention
from anpr_access.ports import RetentionPorts
from anpr_core.auth import Principal

NOW = datetime.now(UTC)
COUNTS = {
    "passages_deleted": 2,
    "reads_deleted": 5,
    "hits_deleted": 1,
    "passages_kept_on_hold": 0,
    "reads_kept_on_hold": 0,
}


@dataclass
class FakeStore:
    broken: bool = False
    months: list[list[Month]] = field(default_factory=list)

    async def ensure_partitions(self, months: list[Month]) -> None:
        self.months.append(months)

    async def delete_expired(self, cutoff: datetime) -> dict[str, int]:
        if self.broken:
            raise ConnectionError("the database did not answer")
        return dict(COUNTS)

    async def oldest_read(self) -> datetime | None:
        return NOW - timedelta(days=30)


@dataclass
class FakeAudit:
    actions: list[str] = field(default_factory=list)

    async def record(self, actor: Principal | None, action: str, **fields: Any) -> object:
        self.actions.append(action)
        return None


def sample(name: str) -> float:
    return REGISTRY.get_sample_value(name) or 0.0


def ports(store: FakeStore, audit: FakeAudit) -> RetentionPorts:
    return RetentionPorts(store, audit, LegalPolicy(), partitions_ahead=2)


async def test_a_completed_run_is_measured_and_audited() -> None:
    audit = FakeAudit()
    failures, deleted = sample("anpr_retention_failures_total"), sample("anpr_retention_rows_deleted_total")
    report = await run_retention(ports(FakeStore(), audit), None, NOW)
    assert report["reads_deleted"] == 5
    assert sample("anpr_retention_last_run_timestamp_seconds") == NOW.timestamp()
    assert sample("anpr_retention_rows_deleted_total") - deleted == 5
    assert sample("anpr_retention_failures_total") == failures
    assert sample("anpr_reads_oldest_age_seconds") == pytest.approx(timedelta(days=30).total_seconds())
    assert audit.actions == ["retention_delete"]


async def test_a_failed_run_is_counted_raised_and_leaves_the_last_run_time_alone() -> None:
    audit = FakeAudit()
    earlier = NOW - timedelta(hours=3)
    await run_retention(ports(FakeStore(), FakeAudit()), None, earlier)
    failures = sample("anpr_retention_failures_total")
    with pytest.raises(ConnectionError):
        await run_retention(ports(FakeStore(broken=True), audit), None, NOW)
    assert sample("anpr_retention_failures_total") - failures == 1
    assert sample("anpr_retention_last_run_timestamp_seconds") == earlier.timestamp(), "still stale"
    assert audit.actions == [], "nothing was deleted, so nothing is audited as deleted"
