"""Legal holds and the retention run over REST: each one a recorded, audited decision."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from anpr_access.adapters.storage import covers, holds, reads
from anpr_access.housekeeping import RetentionJob
from anpr_access.plates import normalise
from anpr_core.auditing import AuditTrail
from anpr_core.auth import Action, Principal, require
from anpr_core.events import utcnow
from anpr_core.ids import uuid7
from anpr_core.problems import Problem

HoldKeeper = Annotated[Principal, Depends(require(Action.MANAGE_HOLDS))]
RetentionRunner = Annotated[Principal, Depends(require(Action.RUN_RETENTION))]


class HoldIn(BaseModel):
    case_reference: str = Field(min_length=1, max_length=100, description="the case the hold serves")
    plate: str | None = Field(default=None, max_length=32)
    since: datetime | None = None
    until: datetime | None = None
    reason: str = Field(min_length=1, max_length=2000, description="why the records must be kept")


class HoldOut(BaseModel):
    hold_id: str
    case_reference: str
    plate: str | None
    since: datetime | None
    until: datetime | None
    reason: str
    decided_by: str
    created_at: datetime
    lifted_at: datetime | None
    records_covered: int | None = None


def _validated(hold: HoldIn) -> tuple[str | None, datetime | None, datetime | None]:
    plate = normalise(hold.plate) if hold.plate else None
    if not plate and hold.since is None and hold.until is None:
        raise Problem(422, "Invalid hold", "a hold must name a plate, a time range, or both")
    for moment in (hold.since, hold.until):
        if moment is not None and moment.tzinfo is None:
            raise Problem(422, "Invalid hold", "since and until need a timezone offset")
    if hold.since and hold.until and hold.until <= hold.since:
        raise Problem(422, "Invalid hold", "the time range is empty: `until` must be after `since`")
    return plate, hold.since, hold.until


def build_governance_router(
    sessions: async_sessionmaker[AsyncSession], audit: AuditTrail, retention: RetentionJob
) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.post("/holds", response_model=HoldOut, status_code=201, tags=["holds"])
    async def place_hold(principal: HoldKeeper, hold: HoldIn) -> HoldOut:
        plate, since, until = _validated(hold)
        row = {
            "hold_id": str(uuid7()),
            "case_reference": hold.case_reference.strip(),
            "plate": plate,
            "since": since,
            "until": until,
            "reason": hold.reason,
            "decided_by": principal.subject,
            "created_at": utcnow(),
        }
        coverage = select(func.count()).select_from(reads).where(covers(plate, since, until))
        async with sessions.begin() as session:
            await session.execute(insert(holds).values(row))
            covered = int(await session.scalar(coverage) or 0)
        await audit.record(
            principal,
            "manage_holds",
            case_reference=row["case_reference"],
            query={
                "change": "place",
                **{k: v for k, v in row.items() if k in ("hold_id", "plate", "since", "until")},
            },
            detail=hold.reason,
        )
        return HoldOut(**row, lifted_at=None, records_covered=covered)

    @router.get("/holds", response_model=list[HoldOut], tags=["holds"])
    async def list_holds(
        principal: HoldKeeper, include_lifted: bool = False, case_reference: str | None = None
    ) -> list[HoldOut]:
        statement = select(holds).order_by(holds.c.created_at)
        if not include_lifted:
            statement = statement.where(holds.c.lifted_at.is_(None))
        if case_reference:
            statement = statement.where(holds.c.case_reference == case_reference)
        async with sessions() as session:
            rows = (await session.execute(statement)).all()
        return [HoldOut(**{k: v for k, v in r._mapping.items() if k in HoldOut.model_fields}) for r in rows]

    @router.delete("/holds/{hold_id}", response_model=HoldOut, tags=["holds"])
    async def lift_hold(
        hold_id: str,
        principal: HoldKeeper,
        reason: Annotated[str, Query(min_length=1, max_length=2000, description="why the hold ends")],
    ) -> HoldOut:
        now = utcnow()
        async with sessions.begin() as session:
            row = (await session.execute(select(holds).where(holds.c.hold_id == hold_id))).first()
            if row is None or row.lifted_at is not None:
                detail = (
                    f"no hold {hold_id}: list them with GET /v1/holds"
                    if row is None
                    else f"hold {hold_id} was already lifted at {row.lifted_at.isoformat()}"
                )
                await audit.record(
                    principal,
                    "manage_holds",
                    query={"change": "lift", "hold_id": hold_id},
                    outcome="refused",
                    detail=detail,
                )
                raise Problem(404 if row is None else 409, "Hold not liftable", detail)
            await session.execute(
                update(holds)
                .where(holds.c.hold_id == hold_id)
                .values(lifted_at=now, lifted_by=principal.subject, lift_reason=reason)
            )
        await audit.record(
            principal,
            "manage_holds",
            case_reference=row.case_reference,
            query={"change": "lift", "hold_id": hold_id},
            detail=reason,
        )
        return HoldOut(
            **{k: v for k, v in row._mapping.items() if k in HoldOut.model_fields and k != "lifted_at"},
            lifted_at=now,
        )

    @router.post("/retention/run", tags=["retention"])
    async def run_retention_now(principal: RetentionRunner) -> dict[str, object]:
        """Runs the retention job now (it also runs in the background at ANPR_RETENTION_INTERVAL_S)."""
        return await retention.run(principal)

    return router
