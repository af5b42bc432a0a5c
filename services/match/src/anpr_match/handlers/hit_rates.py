"""The false-alarm rate per list and per camera over a period, from the verdicts match stores: counts
only (no plate, no hit), its look audited like the traffic statistics of access."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from anpr_core.auditing import AuditTrail
from anpr_core.auth import Principal
from anpr_match.domain.errors import Invalid
from anpr_match.domain.false_alarms import VerdictCounts
from anpr_match.domain.operators import Justification
from anpr_match.handlers.looks import record_look

# Without `since`: the last 30 days, a month of the control room's verdicts.
DEFAULT_PERIOD = timedelta(days=30)


class Verdicts(Protocol):
    async def per(self, column: str, since: datetime, until: datetime) -> list[VerdictCounts]: ...


@dataclass(frozen=True)
class HitRatePorts:
    verdicts: Verdicts
    audit: AuditTrail


@dataclass(frozen=True)
class FalseAlarmRates:
    since: datetime
    until: datetime
    lists: list[VerdictCounts]
    cameras: list[VerdictCounts]


async def false_alarm_rates(
    ports: HitRatePorts,
    principal: Principal,
    why: Justification,
    since: datetime | None,
    until: datetime | None,
    now: datetime,
) -> FalseAlarmRates:
    """Verdicts on the hits from `since` (default: 30 days ago) to `until` (default: now), per list
    and per camera."""
    end = until or now
    start = since or (end - DEFAULT_PERIOD)
    if start.tzinfo is None or end.tzinfo is None:
        raise Invalid("since and until need a timezone offset, e.g. 2026-11-01T00:00:00Z")
    if end <= start:
        raise Invalid("the period is empty: `until` must be after `since`")
    await record_look(
        ports.audit, principal, "view_stats", why, {"view": "false_alarm_rates", "since": start, "until": end}
    )
    lists = await ports.verdicts.per("list_name", start, end)
    cameras = await ports.verdicts.per("camera_id", start, end)
    return FalseAlarmRates(start, end, lists, cameras)
