"""Audit's REST surface: verification of the chain and the auditor's view of the log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from anpr_audit.chain import verify_chain
from anpr_audit.storage import AuditLog
from anpr_core.auditing import AuditTrail
from anpr_core.auth import Action, Principal, require
from anpr_core.metrics import AUDIT_CHAIN_VALID


class VerifyOut(BaseModel):
    valid: bool
    rows_checked: int
    first_broken_seq: int | None
    reason: str
    head_hash: str


class AuditEventOut(BaseModel):
    seq: int
    event_id: str
    occurred_at: datetime
    actor_user: str
    actor_role: str
    action: str
    service: str
    outcome: str
    case_reference: str
    row_hash: str


def build_router(log: AuditLog, audit: AuditTrail) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.get("/verify", response_model=VerifyOut, tags=["audit"])
    async def verify(_principal: Annotated[Principal, Depends(require(Action.VERIFY_AUDIT))]) -> VerifyOut:
        rows = [row async for row in log.chain_rows()]
        result = verify_chain(rows)
        AUDIT_CHAIN_VALID.set(1 if result.valid else 0)
        return VerifyOut(**result.__dict__)

    @router.get("/events", response_model=list[AuditEventOut], tags=["audit"])
    async def events(
        principal: Annotated[Principal, Depends(require(Action.READ_AUDIT))],
        actor: str | None = None,
        action: str | None = None,
        case_reference: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[AuditEventOut]:
        rows = await log.search(
            actor=actor, action=action, case_reference=case_reference, since=since, until=until, limit=limit
        )
        # Reading the log is itself a consultation, and is logged.
        await audit.record(
            principal,
            "search",
            purpose="audit",
            query={
                "actor": actor,
                "action": action,
                "case_reference": case_reference,
                "since": since,
                "until": until,
                "limit": limit,
            },
            record_ids=[row.event_id for row in rows],
        )
        return [AuditEventOut(**row.__dict__) for row in rows]

    return router
