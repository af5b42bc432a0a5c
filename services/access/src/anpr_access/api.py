"""Access's REST surface: purpose-bound search of passages."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from anpr_access.legal import LegalPolicy, LegalTier, Purpose, SearchRefused
from anpr_access.storage import reads
from anpr_core.auditing import AuditTrail
from anpr_core.auth import Action, Principal, require
from anpr_core.events import utcnow
from anpr_core.problems import Problem

# Dependency aliases live at module level: FastAPI resolves string annotations there.
Searcher = Annotated[Principal, Depends(require(Action.SEARCH_PASSAGES))]


class PassageOut(BaseModel):
    event_id: str
    camera_id: str
    captured_at: datetime
    direction: str
    plate: str
    formatted: str
    country: str
    format_valid: bool
    confidence: float
    camera_read: bool


class PassagePage(BaseModel):
    items: list[PassageOut]
    offset: int
    limit: int
    legal_tier: LegalTier


def _normalise(raw: str) -> str:
    return "".join(ch for ch in raw.upper() if ch.isascii() and ch.isalnum())


def build_router(
    sessions: async_sessionmaker[AsyncSession], audit: AuditTrail, policy: LegalPolicy
) -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.get("/passages", response_model=PassagePage, tags=["search"])
    async def search_passages(
        principal: Searcher,
        purpose: Annotated[Purpose | None, Query(description="administrative or judicial")] = None,
        case_reference: Annotated[str, Query(max_length=100, description="case or PV number")] = "",
        legal_basis: Annotated[str, Query(max_length=200)] = "",
        prosecutor_decision: Annotated[str, Query(max_length=100)] = "",
        plate: Annotated[str | None, Query(max_length=32)] = None,
        camera_id: Annotated[str | None, Query(max_length=64)] = None,
        since: datetime | None = None,
        until: datetime | None = None,
        offset: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> PassagePage:
        now = utcnow()
        window_end = until or now
        window_start = since or (window_end - policy.first_tier)
        query: dict[str, Any] = {
            "plate": plate,
            "camera_id": camera_id,
            "since": window_start,
            "until": window_end,
            "offset": offset,
            "limit": limit,
        }
        justification = {
            "purpose": purpose.value if purpose else "",
            "case_reference": case_reference,
            "legal_basis": legal_basis,
            "prosecutor_decision": prosecutor_decision,
        }
        try:
            if purpose is None:
                raise SearchRefused("every search needs its purpose: administrative or judicial")
            if not plate and not camera_id:
                raise SearchRefused("give a plate or a camera_id to search by")
            if window_start.tzinfo is None or window_end.tzinfo is None:
                raise SearchRefused("since and until need a timezone offset")
            tier = policy.check_search(
                purpose=purpose,
                case_reference=case_reference,
                legal_basis=legal_basis,
                prosecutor_decision=prosecutor_decision,
                window_start=window_start,
                window_end=window_end,
                now=now,
            )
        except SearchRefused as refusal:
            # A refused attempt is audited too: the COC sees who tried what.
            await audit.record(
                principal, "search", query=query, outcome="refused", detail=str(refusal), **justification
            )
            status = 403 if "older than" in str(refusal) else 422
            raise Problem(
                status, "Search refused", str(refusal), problem_type="urn:schild:search-refused"
            ) from refusal
        statement = select(reads).where(
            reads.c.captured_at >= max(window_start, now - policy.retention),
            reads.c.captured_at < window_end,
        )
        if plate:
            statement = statement.where(reads.c.plate == _normalise(plate))
        if camera_id:
            statement = statement.where(reads.c.camera_id == camera_id)
        statement = statement.order_by(reads.c.captured_at.desc()).offset(offset).limit(limit)
        async with sessions() as session:
            rows = (await session.execute(statement)).all()
        items = [
            PassageOut(**{k: v for k, v in row._mapping.items() if k in PassageOut.model_fields})
            for row in rows
        ]
        await audit.record(
            principal, "search", query=query, record_ids=[item.event_id for item in items], **justification
        )
        return PassagePage(items=items, offset=offset, limit=limit, legal_tier=tier)

    return router
