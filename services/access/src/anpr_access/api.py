"""Access's REST surface: purpose-bound search of passages and their images, zone hits, statistics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel
from sqlalchemy import func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from anpr_access.adapters.storage import hits, reads
from anpr_access.domain.legal import LegalPolicy, LegalTier, Purpose, SearchRefused
from anpr_access.domain.stats import Bucket, TrafficRow, as_csv, traffic
from anpr_access.plates import normalise, plate_key
from anpr_core.auditing import AuditTrail
from anpr_core.auth import Action, Principal, require
from anpr_core.db import is_postgres
from anpr_core.events import utcnow
from anpr_core.problems import Problem

# Dependency aliases live at module level: FastAPI resolves string annotations there.
Searcher = Annotated[Principal, Depends(require(Action.SEARCH_PASSAGES))]
ImageViewer = Annotated[Principal, Depends(require(Action.VIEW_IMAGE))]
HitViewer = Annotated[Principal, Depends(require(Action.VIEW_HITS))]
StatsViewer = Annotated[Principal, Depends(require(Action.VIEW_STATS))]

MAX_STATS_SPAN = timedelta(days=366)


@dataclass(frozen=True)
class AccessContext:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    audit: AuditTrail
    policy: LegalPolicy


class Direction(StrEnum):
    IN = "in"
    OUT = "out"


class ImageKind(StrEnum):
    CROP = "crop"
    OVERVIEW = "overview"


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
    has_crop: bool
    has_overview: bool


class PassagePage(BaseModel):
    items: list[PassageOut]
    offset: int
    limit: int
    # The offset of the next page; None on the last page.
    next_offset: int | None
    legal_tier: LegalTier


class HitOut(BaseModel):
    hit_id: str
    read_event_id: str
    camera_id: str
    captured_at: datetime
    plate_listed: str
    match_kind: str
    list_name: str
    priority: int


class TrafficReport(BaseModel):
    bucket: Bucket
    since: datetime
    until: datetime
    rows: list[TrafficRow]


@dataclass(frozen=True)
class Justification:
    """Why a person consults the data: asked of every search and every image view."""

    purpose: Purpose | None
    case_reference: str
    legal_basis: str
    prosecutor_decision: str

    def audit_fields(self) -> dict[str, str]:
        return {
            "purpose": self.purpose.value if self.purpose else "",
            "case_reference": self.case_reference,
            "legal_basis": self.legal_basis,
            "prosecutor_decision": self.prosecutor_decision,
        }


def justification(
    purpose: Annotated[Purpose | None, Query(description="administrative or judicial")] = None,
    case_reference: Annotated[str, Query(max_length=100, description="case or PV number")] = "",
    legal_basis: Annotated[str, Query(max_length=200, description="e.g. art. 44/5 WPA")] = "",
    prosecutor_decision: Annotated[
        str, Query(max_length=100, description="reference of the prosecutor's written decision")
    ] = "",
) -> Justification:
    return Justification(purpose, case_reference, legal_basis, prosecutor_decision)


Justified = Annotated[Justification, Depends(justification)]


def _refusal_status(refusal: SearchRefused) -> int:
    # Asking for data the law keeps out of reach is forbidden; an incomplete request is invalid.
    return 403 if "older than" in str(refusal) else 422


def build_router(context: AccessContext) -> APIRouter:
    router = APIRouter(prefix="/v1")
    audit, policy, sessions = context.audit, context.policy, context.sessions

    async def check(
        principal: Principal,
        action: str,
        why: Justification,
        query: dict[str, Any],
        window_start: datetime,
        window_end: datetime,
        now: datetime,
    ) -> LegalTier:
        try:
            if why.purpose is None:
                raise SearchRefused("every search needs its purpose: administrative or judicial")
            return policy.check_search(
                purpose=why.purpose,
                case_reference=why.case_reference,
                legal_basis=why.legal_basis,
                prosecutor_decision=why.prosecutor_decision,
                window_start=window_start,
                window_end=window_end,
                now=now,
            )
        except SearchRefused as refusal:
            # A refused attempt is audited too: the COC sees who tried what.
            await audit.record(
                principal, action, query=query, outcome="refused", detail=str(refusal), **why.audit_fields()
            )
            raise Problem(
                _refusal_status(refusal),
                "Search refused",
                str(refusal),
                problem_type="urn:schild:search-refused",
            ) from refusal

    @router.get("/passages", response_model=PassagePage, tags=["search"])
    async def search_passages(
        principal: Searcher,
        why: Justified,
        plate: Annotated[str | None, Query(max_length=32)] = None,
        fuzzy: Annotated[
            bool, Query(description="match OCR-confusable characters (0/O/D/Q, 1/I/L, ...)")
        ] = False,
        camera_id: Annotated[str | None, Query(max_length=64)] = None,
        direction: Direction | None = None,
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
            "fuzzy": fuzzy,
            "camera_id": camera_id,
            "direction": direction.value if direction else None,
            "since": window_start,
            "until": window_end,
            "offset": offset,
            "limit": limit,
        }

        async def refuse(reason: str) -> Problem:
            await audit.record(
                principal, "search", query=query, outcome="refused", detail=reason, **why.audit_fields()
            )
            return Problem(422, "Search refused", reason, problem_type="urn:schild:search-refused")

        if why.purpose is not None and not (plate and normalise(plate)) and not camera_id:
            raise await refuse("give a plate or a camera_id to search by")
        if window_start.tzinfo is None or window_end.tzinfo is None:
            raise await refuse("since and until need a timezone offset, e.g. 2026-11-01T00:00:00Z")
        tier = await check(principal, "search", why, query, window_start, window_end, now)
        # The images stay in the table: a page says whether they exist, the image call returns them.
        columns = [reads.c[name] for name in PassageOut.model_fields if name in reads.c]
        statement = select(
            *columns,
            reads.c.plate_crop.is_not(None).label("has_crop"),
            reads.c.overview.is_not(None).label("has_overview"),
        ).where(
            reads.c.captured_at >= max(window_start, now - policy.retention),
            reads.c.captured_at < window_end,
        )
        if plate:
            statement = statement.where(
                reads.c.plate_key == plate_key(plate) if fuzzy else reads.c.plate == normalise(plate)
            )
        if camera_id:
            statement = statement.where(reads.c.camera_id == camera_id)
        if direction:
            statement = statement.where(reads.c.direction == direction.value)
        # One row more than asked tells whether there is a next page.
        statement = (
            statement.order_by(reads.c.captured_at.desc(), reads.c.event_id).offset(offset).limit(limit + 1)
        )
        async with sessions() as session:
            rows = (await session.execute(statement)).all()
        items = [PassageOut.model_validate(dict(row._mapping)) for row in rows[:limit]]
        await audit.record(
            principal,
            "search",
            query=query,
            record_ids=[item.event_id for item in items],
            **why.audit_fields(),
        )
        return PassagePage(
            items=items,
            offset=offset,
            limit=limit,
            next_offset=offset + limit if len(rows) > limit else None,
            legal_tier=tier,
        )

    @router.get(
        "/passages/{event_id}/image",
        tags=["search"],
        response_class=Response,
        responses={200: {"content": {"image/jpeg": {}}}},
    )
    async def passage_image(
        event_id: str, principal: ImageViewer, why: Justified, kind: ImageKind = ImageKind.CROP
    ) -> Response:
        now = utcnow()
        query: dict[str, Any] = {"event_id": event_id, "kind": kind.value}
        async with sessions() as session:
            row = (
                await session.execute(
                    select(reads.c.captured_at, reads.c.plate_crop, reads.c.overview).where(
                        reads.c.event_id == event_id, reads.c.captured_at >= now - policy.retention
                    )
                )
            ).first()
        if row is None:
            await audit.record(
                principal, "view_image", query=query, outcome="refused", detail="no such passage",
                **why.audit_fields(),
            )  # fmt: skip
            raise Problem(404, "Not found", f"no passage {event_id} (it may have passed retention)")
        # The image of a passage is as old as the passage: the same tiers apply.
        await check(
            principal,
            "view_image",
            why,
            query,
            row.captured_at,
            row.captured_at + timedelta(microseconds=1),
            now,
        )
        image = row.plate_crop if kind is ImageKind.CROP else row.overview
        if image is None:
            await audit.record(
                principal, "view_image", query=query, outcome="refused", detail=f"no {kind.value} stored",
                **why.audit_fields(),
            )  # fmt: skip
            raise Problem(404, "Not found", f"passage {event_id} has no {kind.value} image stored")
        await audit.record(principal, "view_image", query=query, record_ids=[event_id], **why.audit_fields())
        return Response(content=bytes(image), media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    @router.get("/hits", response_model=list[HitOut], tags=["hits"])
    async def zone_hits(
        principal: HitViewer,
        since: datetime | None = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> list[HitOut]:
        """Hits of the caller's own zone, newest first (operators see no history search)."""
        now = utcnow()
        window_start = since or (now - timedelta(days=1))
        if window_start.tzinfo is None:
            raise Problem(422, "Invalid request", "since needs a timezone offset, e.g. 2026-11-01T00:00:00Z")
        window_start = max(window_start, now - policy.first_tier)
        statement = (
            select(hits)
            .where(hits.c.zone_id == principal.zone_id, hits.c.captured_at >= window_start)
            .order_by(hits.c.captured_at.desc())
            .limit(limit)
        )
        async with sessions() as session:
            rows = (await session.execute(statement)).all()
        items = [HitOut(**{k: v for k, v in r._mapping.items() if k in HitOut.model_fields}) for r in rows]
        await audit.record(
            principal,
            "view_hits",
            query={"zone_id": principal.zone_id, "since": window_start, "limit": limit},
            record_ids=[item.hit_id for item in items],
        )
        return items

    @router.get(
        "/stats/traffic",
        response_model=TrafficReport,
        tags=["statistics"],
        responses={200: {"content": {"text/csv": {}}}},
    )
    async def traffic_statistics(
        principal: StatsViewer,
        since: Annotated[datetime, Query(alias="from")],
        until: Annotated[datetime, Query(alias="to")],
        bucket: Bucket = Bucket.HOUR,
        format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",  # noqa: A002 - the public name
    ) -> Any:
        """Passages in and out of the zone per camera and per hour or day. No plates."""
        if since.tzinfo is None or until.tzinfo is None:
            raise Problem(
                422, "Invalid request", "from and to need a timezone offset, e.g. 2026-11-01T00:00:00Z"
            )
        if until <= since:
            raise Problem(422, "Invalid request", "the time window is empty: `to` must be after `from`")
        if until - since > MAX_STATS_SPAN:
            raise Problem(422, "Invalid request", f"ask for at most {MAX_STATS_SPAN.days} days at a time")
        if is_postgres(context.engine):
            start = func.date_trunc(bucket.value, func.timezone("UTC", reads.c.captured_at))
        else:
            pattern = "%Y-%m-%d %H:00:00" if bucket is Bucket.HOUR else "%Y-%m-%d 00:00:00"
            start = func.strftime(pattern, reads.c.captured_at)
        statement = (
            select(
                reads.c.camera_id, start.label("start"), reads.c.direction, func.count(literal_column("*"))
            )
            .where(reads.c.captured_at >= since, reads.c.captured_at < until)
            .group_by(reads.c.camera_id, start, reads.c.direction)
        )
        async with sessions() as session:
            grouped = (await session.execute(statement)).all()
        rows = traffic(
            ((camera, _utc(moment), direction, int(count)) for camera, moment, direction, count in grouped),
            bucket,
        )
        await audit.record(
            principal,
            "view_stats",
            query={"from": since, "to": until, "bucket": bucket.value, "format": format},
        )
        if format == "csv":
            return Response(
                content=as_csv(rows),
                media_type="text/csv",
                headers={"Content-Disposition": 'attachment; filename="traffic.csv"'},
            )
        return TrafficReport(bucket=bucket, since=since, until=until, rows=rows)

    return router


def _utc(moment: datetime | str) -> datetime:
    # SQLite returns the bucket as text, PostgreSQL as a naive UTC timestamp.
    value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
