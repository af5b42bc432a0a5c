"""Routes of legal holds and of the retention run: each one a recorded, audited decision."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from anpr_access.domain.records import Hold
from anpr_access.entrypoints.deps import HoldDeps, HoldKeeper, RetentionDeps, RetentionRunner
from anpr_access.entrypoints.schemas import HoldIn, HoldOut
from anpr_access.handlers import holds, retention
from anpr_core.events import utcnow

router = APIRouter(prefix="/v1")


def _out(hold: Hold, covered: int | None = None) -> HoldOut:
    values = {k: v for k, v in asdict(hold).items() if k in HoldOut.model_fields}
    return HoldOut(**values, records_covered=covered)


@router.post("/holds", response_model=HoldOut, status_code=201, tags=["holds"])
async def place_hold(principal: HoldKeeper, ports: HoldDeps, hold: HoldIn) -> HoldOut:
    placed, covered = await holds.place_hold(ports, principal, **hold.model_dump(), now=utcnow())
    return _out(placed, covered)


@router.get("/holds", response_model=list[HoldOut], tags=["holds"])
async def list_holds(
    principal: HoldKeeper, ports: HoldDeps, include_lifted: bool = False, case_reference: str | None = None
) -> list[HoldOut]:
    return [
        _out(h)
        for h in await holds.list_holds(ports, include_lifted=include_lifted, case_reference=case_reference)
    ]


@router.delete("/holds/{hold_id}", response_model=HoldOut, tags=["holds"])
async def lift_hold(
    hold_id: str,
    principal: HoldKeeper,
    ports: HoldDeps,
    reason: Annotated[str, Query(min_length=1, max_length=2000, description="why the hold ends")],
) -> HoldOut:
    return _out(await holds.lift_hold(ports, principal, hold_id, reason, utcnow()))


@router.post("/retention/run", tags=["retention"])
async def run_retention_now(principal: RetentionRunner, ports: RetentionDeps) -> dict[str, object]:
    """Runs the retention job now (it also runs in the background at ANPR_RETENTION_INTERVAL_S)."""
    return await retention.run_retention(ports, principal, utcnow())
