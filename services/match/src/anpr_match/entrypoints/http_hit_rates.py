"""REST: the false-alarm rate per list and per camera (counts of operators' verdicts, no plates)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from anpr_core.events import utcnow
from anpr_match.domain.false_alarms import VerdictCounts
from anpr_match.entrypoints.deps import HitRates, HitViewer, Looking
from anpr_match.handlers.hit_rates import false_alarm_rates

router = APIRouter(prefix="/v1", tags=["hits"])


class VerdictsOut(BaseModel):
    hits: int = Field(description="hits raised in the period")
    acknowledged: int = Field(description="of them, given a verdict: confirmed, false alarm or not seen")
    confirmed: int
    false_alarms: int
    not_seen: int
    false_alarm_rate: float | None = Field(
        description="false alarms over acknowledged hits (as the anpr_hit_false_alarm_ratio metric); "
        "null while none is acknowledged"
    )

    @staticmethod
    def fields_of(counts: VerdictCounts) -> dict[str, Any]:
        return {
            "hits": counts.hits,
            "acknowledged": counts.acknowledged,
            "confirmed": counts.confirmed,
            "false_alarms": counts.false_alarms,
            "not_seen": counts.not_seen,
            "false_alarm_rate": counts.false_alarm_rate,
        }


class ListVerdicts(VerdictsOut):
    list_name: str


class CameraVerdicts(VerdictsOut):
    camera_id: str


class FalseAlarmRatesOut(BaseModel):
    since: datetime
    until: datetime
    lists: list[ListVerdicts]
    cameras: list[CameraVerdicts]


@router.get("/hits/false-alarm-rates", response_model=FalseAlarmRatesOut)
async def get_false_alarm_rates(
    principal: HitViewer,
    why: Looking,
    ports: HitRates,
    since: datetime | None = None,
    until: datetime | None = None,
) -> FalseAlarmRatesOut:
    """Operators' verdicts on the hits raised from `since` (default: 30 days before `until`) to
    `until` (default: now), per list and per camera, with the false-alarm rate. Counts only."""
    rates = await false_alarm_rates(ports, principal, why, since, until, utcnow())
    return FalseAlarmRatesOut(
        since=rates.since,
        until=rates.until,
        lists=[
            ListVerdicts.model_validate({"list_name": c.name, **VerdictsOut.fields_of(c)})
            for c in rates.lists
        ],
        cameras=[
            CameraVerdicts.model_validate({"camera_id": c.name, **VerdictsOut.fields_of(c)})
            for c in rates.cameras
        ],
    )
