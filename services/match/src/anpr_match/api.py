"""Match's REST surface: hotlist entries and the hits they raised."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from anpr_core.auditing import AuditTrail
from anpr_core.auth import Action, Principal, require
from anpr_core.bus import Bus, BusUnavailable
from anpr_core.events import Topics, utcnow
from anpr_core.ids import new_event_id
from anpr_core.problems import Problem
from anpr_match.domain import PLATE_PATTERN, Category, HotlistEntry, HotlistIndex, normalise_plate
from anpr_match.events import entry_to_event
from anpr_match.storage import entry_of, hits, hotlist_entries

# Dependency aliases live at module level: FastAPI resolves string annotations there.
HotlistManager = Annotated[Principal, Depends(require(Action.MANAGE_HOTLIST))]
HotlistViewer = Annotated[Principal, Depends(require(Action.VIEW_HOTLIST))]
HitViewer = Annotated[Principal, Depends(require(Action.VIEW_HITS))]


class EntryIn(BaseModel):
    plate: str = Field(description="Any separators; stored normalised, e.g. 1-ABC-234 -> 1ABC234")
    list_name: str = Field(min_length=1, max_length=64)
    category: Category
    priority: int = Field(default=1, ge=0, le=9)
    action: str = Field(default="notify", min_length=1, max_length=200)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    reason: str = Field(min_length=1, max_length=500)
    case_reference: str = Field(min_length=1, max_length=100)

    @field_validator("plate")
    @classmethod
    def _plate_is_plausible(cls, value: str) -> str:
        plate = normalise_plate(value)
        if not PLATE_PATTERN.match(plate):
            raise ValueError("a plate has 2 to 12 letters or digits")
        return plate

    @model_validator(mode="after")
    def _window_is_ordered(self) -> Self:
        for moment in (self.valid_from, self.valid_until):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("validity times need a timezone offset")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class EntryOut(BaseModel):
    entry_id: str
    plate: str
    list_name: str
    category: Category
    priority: int
    action: str
    valid_from: datetime
    valid_until: datetime | None
    source_zone: str
    reason: str
    case_reference: str
    entered_by: str
    indexed: bool = Field(description="Whether this replica's matching index holds the entry yet")


class HitOut(BaseModel):
    hit_id: str
    read_event_id: str
    entry_id: str
    camera_id: str
    captured_at: datetime
    plate_read: str
    plate_listed: str
    match_kind: str
    score: float
    list_name: str
    category: str
    priority: int
    action: str


def build_router(
    sessions: async_sessionmaker[AsyncSession],
    bus: Bus,
    index: HotlistIndex,
    audit: AuditTrail,
    topics: Topics,
    zone_id: str,
) -> APIRouter:
    router = APIRouter(prefix="/v1")

    def out(entry: HotlistEntry) -> EntryOut:
        return EntryOut(**entry.__dict__, indexed=entry.entry_id in index)

    @router.post("/hotlist", status_code=201, response_model=EntryOut, tags=["hotlist"])
    async def create_entry(body: EntryIn, principal: HotlistManager) -> EntryOut:
        entry = HotlistEntry(
            entry_id=new_event_id(),
            plate=body.plate,
            list_name=body.list_name,
            category=body.category,
            priority=body.priority,
            action=body.action,
            valid_from=body.valid_from or utcnow(),
            valid_until=body.valid_until,
            source_zone=zone_id,
            reason=body.reason,
            case_reference=body.case_reference,
            entered_by=principal.subject,
        )
        event = entry_to_event(entry, zone_id)
        try:
            async with sessions.begin() as session:
                await session.execute(hotlist_entries.insert().values(**entry.__dict__, created_at=utcnow()))
                # Published inside the transaction: if the broker does not take it, the row is
                # rolled back and the caller is told to retry.
                await bus.publish(topics.hotlist, entry.entry_id.encode(), event.SerializeToString())
        except BusUnavailable as error:
            raise Problem(
                503,
                "Service Unavailable",
                "the entry could not be published; retry",
                headers={"Retry-After": "5"},
            ) from error
        await audit.record(
            principal,
            "hotlist_change",
            purpose=body.category.value,
            case_reference=body.case_reference,
            query={"op": "create", "list_name": body.list_name, "category": body.category.value},
            record_ids=[entry.entry_id],
        )
        return out(entry)

    @router.get("/hotlist", response_model=list[EntryOut], tags=["hotlist"])
    async def list_entries(
        _principal: HotlistViewer,
        plate: Annotated[str | None, Query(max_length=32)] = None,
        list_name: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[EntryOut]:
        statement = select(hotlist_entries).where(hotlist_entries.c.deleted.is_(False))
        if plate:
            statement = statement.where(hotlist_entries.c.plate == normalise_plate(plate))
        if list_name:
            statement = statement.where(hotlist_entries.c.list_name == list_name)
        async with sessions() as session:
            rows = (
                await session.execute(statement.order_by(hotlist_entries.c.created_at).limit(limit))
            ).all()
        return [out(entry_of(row._mapping)) for row in rows]

    @router.get("/hotlist/{entry_id}", response_model=EntryOut, tags=["hotlist"])
    async def get_entry(entry_id: str, _principal: HotlistViewer) -> EntryOut:
        async with sessions() as session:
            row = (
                await session.execute(select(hotlist_entries).where(hotlist_entries.c.entry_id == entry_id))
            ).first()
        if row is None:
            raise Problem(404, "Not Found", f"hotlist entry {entry_id} does not exist")
        return out(entry_of(row._mapping))

    @router.get("/hits", response_model=list[HitOut], tags=["hits"])
    async def list_hits(
        _principal: HitViewer, limit: Annotated[int, Query(ge=1, le=500)] = 50
    ) -> list[HitOut]:
        async with sessions() as session:
            rows = (await session.execute(select(hits).order_by(hits.c.created_at.desc()).limit(limit))).all()
        return [HitOut(**{k: v for k, v in row._mapping.items() if k in HitOut.model_fields}) for row in rows]

    return router
