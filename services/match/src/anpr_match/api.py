"""Match's REST surface: hotlists and their rules, entries (one by one and as CSV), hits and their acks."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, time
from enum import StrEnum
from typing import Annotated, Any, Self

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import and_, case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from anpr_core.auditing import AuditTrail
from anpr_core.auth import Action, Principal, require
from anpr_core.bus import Bus, BusUnavailable, OutgoingRecord
from anpr_core.events import Topics, utcnow
from anpr_core.ids import event_ids, new_event_id
from anpr_core.metrics import HIT_ACKS, HIT_FALSE_ALARM_RATIO
from anpr_core.problems import Problem
from anpr_match.domain.entries import (
    LIST_NAME_PATTERN,
    PLATE_PATTERN,
    Category,
    Direction,
    HotlistEntry,
    ListRules,
    entered_at,
)
from anpr_match.domain.hotlist_csv import export_lines, parse_import
from anpr_match.domain.index import HotlistIndex
from anpr_match.domain.plates import normalise_plate
from anpr_match.events import KIND_HEADER, LIST_KIND, entry_records, list_key, rules_to_event
from anpr_match.pipeline import HitStream, MatchPipeline
from anpr_match.storage import (
    entry_of,
    hits,
    hotlist_entries,
    hotlists,
    rules_of,
    rules_row,
    store_new_entries,
)

# Dependency aliases live at module level: FastAPI resolves string annotations there.
HotlistManager = Annotated[Principal, Depends(require(Action.MANAGE_HOTLIST))]
HotlistViewer = Annotated[Principal, Depends(require(Action.VIEW_HOTLIST))]
HitViewer = Annotated[Principal, Depends(require(Action.VIEW_HITS))]
HitAcknowledger = Annotated[Principal, Depends(require(Action.ACK_HIT))]

RETRY = {"Retry-After": "5"}
PUBLISH_CHUNK = 5000


class _CollectorPause:
    """Keeps Python's cycle collector off a bulk import's million long-lived entries.

    Paused while they are built, then they are frozen (left out of collections) until the import
    is done: each collection would otherwise walk every one of them again, some 6 s of a
    million-line import. Reference counting frees as usual meanwhile, and cycles made elsewhere
    are collected once the collector resumes. Imports at the same time nest.
    """

    def __init__(self) -> None:
        self._depth = 0
        self._resume = False

    @contextlib.contextmanager
    def __call__(self) -> Iterator[Callable[[], None]]:
        if self._depth == 0:
            self._resume = gc.isenabled()
        gc.disable()
        self._depth += 1
        try:
            yield self._built
        finally:
            self._depth -= 1
            if self._depth == 0:
                gc.unfreeze()
                if self._resume:
                    gc.enable()

    def _built(self) -> None:
        """The long-lived objects exist: freeze them and let the collector see only newer ones."""
        gc.freeze()
        if self._resume and self._depth == 1:
            gc.enable()


_collector_paused = _CollectorPause()


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.astimezone(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError("validity times need a timezone offset")
    try:
        moment.astimezone(UTC)
    except OverflowError as error:
        raise ValueError("validity times must lie between the years 1 and 9999 in UTC") from error
    return moment


# A time of day on the clock of the list's timezone: no offset, since it is not a moment (22:00 is
# 22:00 in Brussels in winter and in summer).
CLOCK_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"


def _clock(value: str | None) -> time | None:
    return None if value is None else time.fromisoformat(value)


def _clock_text(value: time | None) -> str | None:
    return None if value is None else value.strftime("%H:%M")


class Purpose(StrEnum):
    """Why a person looks at hits or the hotlist; recorded with every look."""

    # Following up hits as they come in, in the control room: what the live views are for.
    OPERATIONAL = "operational"
    ADMINISTRATIVE = "administrative"
    JUDICIAL = "judicial"


@dataclass(frozen=True)
class Justification:
    """Why, asked of every look at hits and entries and of every export; audited with it."""

    purpose: Purpose | None
    case_reference: str
    recipient: str = ""

    def audit_fields(self) -> dict[str, str]:
        return {"purpose": self.purpose.value if self.purpose else "", "case_reference": self.case_reference}


def view_justification(
    purpose: Annotated[
        Purpose,
        Query(description="operational (default: following up hits), administrative or judicial"),
    ] = Purpose.OPERATIONAL,
    case_reference: Annotated[str, Query(max_length=100, description="case or PV number, if any")] = "",
) -> Justification:
    return Justification(purpose, case_reference.strip())


def export_justification(
    purpose: Annotated[
        Purpose | None, Query(description="required: operational, administrative or judicial")
    ] = None,
    case_reference: Annotated[
        str, Query(max_length=100, description="required: the case, PV or request the file is for")
    ] = "",
    recipient: Annotated[
        str, Query(max_length=200, description="to whom the file is disclosed; default: the caller")
    ] = "",
) -> Justification:
    return Justification(purpose, case_reference.strip(), recipient.strip())


Looking = Annotated[Justification, Depends(view_justification)]
Exporting = Annotated[Justification, Depends(export_justification)]


class ListIn(BaseModel):
    name: str = Field(min_length=1, max_length=64, pattern=LIST_NAME_PATTERN.pattern)
    category: Category
    max_substitutions: int = Field(default=1, ge=0, le=3, description="Confusable characters allowed")
    allow_edit: bool = Field(default=False, description="Whether one inserted or missing character matches")
    directions: list[Direction] = Field(default_factory=list, description="Empty: any direction")
    active_from: str | None = Field(
        default=None,
        pattern=CLOCK_PATTERN,
        description="HH:MM, local time of day in `timezone` (no offset); with active_until",
        examples=["22:00"],
    )
    active_until: str | None = Field(default=None, pattern=CLOCK_PATTERN, examples=["06:00"])
    timezone: str = Field(default="Europe/Brussels", max_length=64, description="An IANA timezone")
    camera_ids: list[str] = Field(default_factory=list, description="Empty: every camera", max_length=1000)
    description: str = Field(default="", max_length=500)

    def rules(self) -> ListRules:
        try:
            return ListRules(
                name=self.name,
                category=self.category,
                max_substitutions=self.max_substitutions,
                allow_edit=self.allow_edit,
                directions=frozenset(d for d in self.directions if d is not Direction.UNKNOWN),
                active_from=_clock(self.active_from),
                active_until=_clock(self.active_until),
                timezone=self.timezone,
                camera_ids=frozenset(self.camera_ids),
                description=self.description,
            )
        except (ValueError, LookupError) as error:
            raise Problem(422, "Invalid list", f"{error}; correct the list's rules and retry") from error


class ListOut(BaseModel):
    name: str
    category: Category
    max_substitutions: int
    allow_edit: bool
    directions: list[Direction]
    active_from: str | None = Field(description="HH:MM, local time of day in `timezone`")
    active_until: str | None = Field(description="HH:MM, local time of day in `timezone`")
    timezone: str
    camera_ids: list[str]
    description: str

    @classmethod
    def of(cls, rules: ListRules) -> Self:
        fields = asdict(rules)
        fields["directions"] = sorted(rules.directions)
        fields["camera_ids"] = sorted(rules.camera_ids)
        fields["active_from"] = _clock_text(rules.active_from)
        fields["active_until"] = _clock_text(rules.active_until)
        return cls(**fields)


class EntryIn(BaseModel):
    plate: str = Field(description="Any separators; stored normalised, e.g. 1-ABC-234 -> 1ABC234")
    country: str = Field(default="", pattern=r"^([A-Za-z]{2})?$", description="ISO 3166 alpha-2, optional")
    list_name: str = Field(min_length=1, max_length=64, description="An existing list (POST /v1/lists)")
    category: Category | None = Field(default=None, description="Default: the list's category")
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
        _aware(self.valid_from)
        _aware(self.valid_until)
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class EntryChange(BaseModel):
    """Fields to change; the entry keeps the others. Every change is audited.

    Only `valid_until` may be null (the entry no longer ends); the others are left out to keep them.
    """

    # The defaults stand for "left out" and are never validated; a null sent is refused (422).
    priority: int = Field(default=None, ge=0, le=9)  # type: ignore[assignment]
    action: str = Field(default=None, min_length=1, max_length=200)  # type: ignore[assignment]
    valid_until: datetime | None = Field(default=None, description="null: the entry no longer ends")
    reason: str = Field(default=None, min_length=1, max_length=500)  # type: ignore[assignment]
    case_reference: str = Field(default=None, min_length=1, max_length=100)  # type: ignore[assignment]

    @model_validator(mode="after")
    def _changes_something(self) -> Self:
        _aware(self.valid_until)
        if not self.model_fields_set:
            raise ValueError("give at least one of priority, action, valid_until, reason, case_reference")
        return self

    def changes(self) -> dict[str, Any]:
        changed = {name: getattr(self, name) for name in self.model_fields_set}
        if changed.get("valid_until") is not None:
            changed["valid_until"] = _utc(changed["valid_until"])
        return changed


class ExpiryIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500, description="Why the entry ends now")


class EntryOut(BaseModel):
    entry_id: str
    plate: str
    country: str
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


class ImportOut(BaseModel):
    imported: int
    lists: list[str]


class AckOutcome(StrEnum):
    CONFIRMED = "confirmed"
    FALSE_ALARM = "false_alarm"
    NOT_SEEN = "not_seen"


class AckIn(BaseModel):
    outcome: AckOutcome
    reason: str = Field(default="", max_length=500, description="Required for a false alarm")

    @model_validator(mode="after")
    def _false_alarm_has_reason(self) -> Self:
        if self.outcome is AckOutcome.FALSE_ALARM and not self.reason.strip():
            raise ValueError("a false alarm needs a reason, e.g. 'plate read 8 for B, other car'")
        return self


class HitOut(BaseModel):
    hit_id: str
    read_event_id: str
    entry_id: str
    camera_id: str
    captured_at: datetime
    plate_read: str
    plate_listed: str
    match_kind: str
    differing_positions: list[int]
    score: float
    list_name: str
    category: str
    priority: int
    action: str
    direction: str
    from_lookback: bool
    ack_outcome: str | None
    ack_reason: str | None
    ack_by: str | None
    ack_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> Self:
        fields = {k: v for k, v in row.items() if k in cls.model_fields}
        text = fields.get("differing_positions") or ""
        fields["differing_positions"] = [int(p) for p in text.split(",") if p]
        return cls(**fields)


def build_router(
    sessions: async_sessionmaker[AsyncSession],
    bus: Bus,
    pipeline: MatchPipeline,
    stream: HitStream,
    audit: AuditTrail,
    topics: Topics,
    zone_id: str,
    indexed_here: tuple[str, bytes],
) -> APIRouter:
    router = APIRouter(prefix="/v1")
    index: HotlistIndex = pipeline.index

    def out(entry: HotlistEntry) -> EntryOut:
        return EntryOut(**entry.__dict__, indexed=entry.entry_id in index)

    def unavailable(error: Exception) -> Problem:
        return Problem(503, "Service Unavailable", "the change could not be published; retry", headers=RETRY)

    async def record_look(
        principal: Principal,
        action: str,
        why: Justification,
        query: dict[str, Any],
        record_ids: Sequence[str] = (),
        **fields: Any,
    ) -> None:
        """Audits a look (who, why, what was asked, which records were seen) before it is answered."""
        try:
            await audit.record(
                principal, action, query=query, record_ids=record_ids, **why.audit_fields(), **fields
            )
        except BusUnavailable as error:
            raise Problem(
                503,
                "Service Unavailable",
                "the look could not be written to the audit log, so nothing is shown; retry",
                headers=RETRY,
            ) from error

    async def not_found(
        principal: Principal, action: str, why: Justification, query: dict[str, Any], detail: str
    ) -> Problem:
        await record_look(principal, action, why, query, outcome="refused", detail=detail)
        return Problem(404, "Not Found", detail)

    async def list_rules(name: str) -> ListRules | None:
        async with sessions() as session:
            row = (await session.execute(select(hotlists).where(hotlists.c.name == name))).first()
        return None if row is None else rules_of(row._mapping)

    async def entry_row(session: AsyncSession, entry_id: str) -> HotlistEntry:
        row = (
            await session.execute(select(hotlist_entries).where(hotlist_entries.c.entry_id == entry_id))
        ).first()
        if row is None:
            raise Problem(404, "Not Found", f"hotlist entry {entry_id} does not exist")
        return entry_of(row._mapping)

    async def publish_entries(
        entries: Sequence[HotlistEntry], *, deleted: bool = False, indexed: bool = False
    ) -> None:
        # In chunks, so a bulk import never holds the event loop (consumers, requests) for long.
        headers = (indexed_here,) if indexed else ()
        for start in range(0, len(entries), PUBLISH_CHUNK):
            chunk = entries[start : start + PUBLISH_CHUNK]
            values = entry_records(chunk, zone_id, deleted)
            await bus.publish_many(
                [
                    OutgoingRecord(topics.hotlist, e.entry_id.encode(), value, headers)
                    for e, value in zip(chunk, values, strict=True)
                ]
            )
            await asyncio.sleep(0)  # the in-process bus takes a chunk without yielding

    # --- lists -----------------------------------------------------------------------------

    async def save_list(body: ListIn, principal: Principal, *, create: bool) -> ListOut:
        rules = body.rules()
        now = utcnow()
        try:
            async with sessions.begin() as session:
                existing = (
                    await session.execute(select(hotlists.c.name).where(hotlists.c.name == rules.name))
                ).first()
                if create and existing is not None:
                    raise Problem(409, "Conflict", f"list {rules.name!r} exists; change it with PUT")
                if not create and existing is None:
                    raise Problem(
                        404, "Not Found", f"list {rules.name!r} does not exist; create it with POST"
                    )
                if create:
                    await session.execute(
                        hotlists.insert().values(
                            **rules_row(rules), created_by=principal.subject, created_at=now, updated_at=now
                        )
                    )
                else:
                    await session.execute(
                        update(hotlists)
                        .where(hotlists.c.name == rules.name)
                        .values(**rules_row(rules), updated_at=now)
                    )
                # Published inside the transaction: if the broker refuses, nothing is stored.
                await bus.publish(
                    topics.hotlist,
                    list_key(rules.name),
                    rules_to_event(rules, zone_id).SerializeToString(),
                    headers=[(KIND_HEADER, LIST_KIND)],
                )
        except BusUnavailable as error:
            raise unavailable(error) from error
        index.set_rules(rules)
        await audit.record(
            principal,
            "hotlist_change",
            purpose=rules.category.value,
            query={"op": "create_list" if create else "change_list", **rules_row(rules)},
            record_ids=[f"list:{rules.name}"],
        )
        return ListOut.of(rules)

    @router.post("/lists", status_code=201, response_model=ListOut, tags=["lists"])
    async def create_list(body: ListIn, principal: HotlistManager) -> ListOut:
        return await save_list(body, principal, create=True)

    @router.put("/lists/{name}", response_model=ListOut, tags=["lists"])
    async def change_list(name: str, body: ListIn, principal: HotlistManager) -> ListOut:
        if body.name != name:
            raise Problem(422, "Invalid list", f"the body names list {body.name!r}, the path {name!r}")
        return await save_list(body, principal, create=False)

    @router.get("/lists", response_model=list[ListOut], tags=["lists"])
    async def list_lists(_principal: HotlistViewer) -> list[ListOut]:
        async with sessions() as session:
            rows = (await session.execute(select(hotlists).order_by(hotlists.c.name))).all()
        return [ListOut.of(rules_of(row._mapping)) for row in rows]

    @router.get("/lists/{name}", response_model=ListOut, tags=["lists"])
    async def get_list(name: str, _principal: HotlistViewer) -> ListOut:
        rules = await list_rules(name)
        if rules is None:
            raise Problem(404, "Not Found", f"list {name!r} does not exist")
        return ListOut.of(rules)

    # --- entries ---------------------------------------------------------------------------

    @router.post("/hotlist", status_code=201, response_model=EntryOut, tags=["hotlist"])
    async def create_entry(body: EntryIn, principal: HotlistManager) -> EntryOut:
        rules = await list_rules(body.list_name)
        if rules is None:
            raise Problem(
                422, "Unknown list", f"list {body.list_name!r} does not exist; create it with POST /v1/lists"
            )
        entry_id = new_event_id()
        # Without a start, it starts when it is entered: the time its UUIDv7 id carries.
        entered = entered_at(entry_id) or utcnow()
        entry = HotlistEntry(
            entry_id=entry_id,
            plate=body.plate,
            country=body.country.upper(),
            list_name=body.list_name,
            category=body.category or rules.category,
            priority=body.priority,
            action=body.action,
            valid_from=_utc(body.valid_from) or entered,
            valid_until=_utc(body.valid_until),
            source_zone=zone_id,
            reason=body.reason,
            case_reference=body.case_reference,
            entered_by=principal.subject,
        )
        try:
            async with sessions.begin() as session:
                await session.execute(hotlist_entries.insert().values(**entry.__dict__, created_at=utcnow()))
                await publish_entries([entry])
        except BusUnavailable as error:
            raise unavailable(error) from error
        await audit.record(
            principal,
            "hotlist_change",
            purpose=entry.category.value,
            case_reference=body.case_reference,
            query={"op": "create", "list_name": body.list_name, "category": entry.category.value},
            record_ids=[entry.entry_id],
        )
        return out(entry)

    async def change_entry(
        entry_id: str, principal: Principal, op: str, why: str, **changes: Any
    ) -> EntryOut:
        try:
            async with sessions.begin() as session:
                entry = await entry_row(session, entry_id)
                changed = replace(entry, **changes)
                if changed.valid_until is not None and changed.valid_until <= changed.valid_from:
                    raise Problem(
                        422,
                        "Invalid change",
                        f"valid_until must be after valid_from ({changed.valid_from.isoformat()})",
                    )
                await session.execute(
                    update(hotlist_entries).where(hotlist_entries.c.entry_id == entry_id).values(**changes)
                )
                await publish_entries([changed])
        except BusUnavailable as error:
            raise unavailable(error) from error
        await audit.record(
            principal,
            "hotlist_change",
            purpose=changed.category.value,
            case_reference=changed.case_reference,
            query={"op": op, "list_name": changed.list_name, "fields": sorted(changes), "why": why},
            record_ids=[entry_id],
        )
        return out(changed)

    @router.patch("/hotlist/{entry_id}", response_model=EntryOut, tags=["hotlist"])
    async def update_entry(entry_id: str, body: EntryChange, principal: HotlistManager) -> EntryOut:
        return await change_entry(entry_id, principal, "update", body.reason or "", **body.changes())

    @router.post("/hotlist/{entry_id}/expire", response_model=EntryOut, tags=["hotlist"])
    async def expire_entry(entry_id: str, body: ExpiryIn, principal: HotlistManager) -> EntryOut:
        async with sessions() as session:
            entry = await entry_row(session, entry_id)
        now = utcnow()
        if entry.valid_until is not None and entry.valid_until <= now:
            raise Problem(
                409, "Conflict", f"entry {entry_id} already expired at {entry.valid_until.isoformat()}"
            )
        if entry.valid_from >= now:
            raise Problem(
                409,
                "Conflict",
                f"entry {entry_id} is not in force until {entry.valid_from.isoformat()}; "
                "to cancel it, PATCH its valid_until",
            )
        return await change_entry(entry_id, principal, "expire", body.reason, valid_until=now)

    @router.get("/hotlist", response_model=list[EntryOut], tags=["hotlist"])
    async def list_entries(
        principal: HotlistViewer,
        why: Looking,
        plate: Annotated[str | None, Query(max_length=32)] = None,
        list_name: Annotated[str | None, Query(max_length=64)] = None,
        in_force: Annotated[bool | None, Query(description="Only entries in force now (or not)")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> list[EntryOut]:
        statement = select(hotlist_entries).where(hotlist_entries.c.deleted.is_(False))
        if plate:
            statement = statement.where(hotlist_entries.c.plate == normalise_plate(plate))
        if list_name:
            statement = statement.where(hotlist_entries.c.list_name == list_name)
        if in_force is not None:
            now = utcnow()
            live = and_(
                hotlist_entries.c.valid_from <= now,
                (hotlist_entries.c.valid_until.is_(None)) | (hotlist_entries.c.valid_until > now),
            )
            statement = statement.where(live if in_force else ~live)
        statement = statement.order_by(hotlist_entries.c.created_at, hotlist_entries.c.entry_id)
        async with sessions() as session:
            rows = (await session.execute(statement.offset(offset).limit(limit))).all()
        entries = [out(entry_of(row._mapping)) for row in rows]
        query = {
            "view": "list",
            "plate": normalise_plate(plate) if plate else None,
            "list_name": list_name,
            "in_force": in_force,
            "limit": limit,
            "offset": offset,
        }
        await record_look(principal, "view_hotlist", why, query, [e.entry_id for e in entries])
        return entries

    @router.post(
        "/hotlist/import",
        status_code=201,
        response_model=ImportOut,
        tags=["hotlist"],
        openapi_extra={"requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    )
    async def import_entries(request: Request, principal: HotlistManager) -> ImportOut:
        """All or nothing: every line is checked first; one bad line and nothing is imported."""
        try:
            text = (await request.body()).decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise Problem(422, "Invalid CSV", f"the file is not UTF-8 ({error}); save it as UTF-8") from error
        async with sessions() as session:
            lists = {
                row.name: rules_of(row._mapping) for row in (await session.execute(select(hotlists))).all()
            }
        # Whole milliseconds, as the entries' UUIDv7 ids (made after it) have: an entry without a
        # start starts when it was entered, not a fraction of a millisecond after.
        now = utcnow()
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        with _collector_paused() as built:
            parsed = await asyncio.to_thread(
                parse_import,
                text,
                lists,
                now=now,
                source_zone=zone_id,
                entered_by=principal.subject,
                new_id=event_ids().__next__,
            )
            built()
            if parsed.error_count:
                count = parsed.error_count
                raise Problem(
                    422,
                    "Invalid CSV",
                    f"{count} line(s) are invalid and nothing was imported; correct them and retry",
                    errors=[{"line": e.line, "reason": e.reason} for e in parsed.errors],
                    error_count=parsed.error_count,
                )
            return await _import(parsed.entries, principal, now)

    async def _import(entries: list[HotlistEntry], principal: Principal, now: datetime) -> ImportOut:
        """Stores, publishes and indexes checked entries, all or nothing."""
        # 1. one transaction for every row; 2. inside it, the rows are stored (by SQLite's own
        # thread, or by COPY) while every entry is published here; 3. once both are done, commit.
        try:
            async with sessions.begin() as session:
                storing = asyncio.ensure_future(store_new_entries(session, entries, now))
                try:
                    for start in range(0, len(entries), PUBLISH_CHUNK):
                        if storing.done() and storing.exception() is not None:
                            break  # raised below; what was published is withdrawn
                        # This replica indexes them itself below, once committed; others from the topic.
                        await publish_entries(entries[start : start + PUBLISH_CHUNK], indexed=True)
                finally:
                    # The transaction ends only after its statements, whatever happened here.
                    await asyncio.wait([storing])
                await storing
        except BusUnavailable as error:
            # Some records may have reached the broker: their deletions keep the index in step.
            await _withdraw(entries)
            raise unavailable(error) from error
        except Exception:
            # The commit failed after publishing: withdraw, or replicas would match what is not stored.
            await _withdraw(entries)
            raise
        # This replica indexes now rather than waiting for its own records to come back.
        for start in range(0, len(entries), 10_000):
            for entry in entries[start : start + 10_000]:
                pipeline.on_entry(entry)
            await asyncio.sleep(0)
        names = sorted({e.list_name for e in entries})
        await audit.record(
            principal,
            "hotlist_change",
            query={"op": "import", "lists": names, "count": len(entries)},
            record_ids=[e.entry_id for e in entries],
        )
        return ImportOut(imported=len(entries), lists=names)

    async def _withdraw(entries: Sequence[HotlistEntry]) -> None:
        # If the broker is down for these too, replicas never indexed what it did not take.
        with contextlib.suppress(BusUnavailable):
            await publish_entries(entries, deleted=True)

    @router.get("/hotlist/export", tags=["hotlist"], response_class=StreamingResponse)
    async def export_entries(
        principal: HotlistViewer,
        why: Exporting,
        list_name: Annotated[str | None, Query(max_length=64)] = None,
    ) -> StreamingResponse:
        """The entries as CSV: a disclosure, so it states why (purpose), for what (case_reference)
        and to whom (recipient), and is audited as an export with every entry's id."""
        recipients = [why.recipient or principal.subject]
        query: dict[str, Any] = {"what": "hotlist", "list_name": list_name or "*"}
        if why.purpose is None or not why.case_reference:
            missing = " and ".join(
                name
                for name, absent in (
                    ("purpose", why.purpose is None),
                    ("case_reference", not why.case_reference),
                )
                if absent
            )
            reason = f"an export of the hotlist needs its {missing}"
            await record_look(
                principal, "export", why, query, outcome="refused", detail=reason, recipients=recipients
            )
            raise Problem(422, "Export refused", f"{reason}; give them and retry")
        statement = select(hotlist_entries).where(hotlist_entries.c.deleted.is_(False))
        if list_name:
            statement = statement.where(hotlist_entries.c.list_name == list_name)
        async with sessions() as session:
            rows = (await session.execute(statement.order_by(hotlist_entries.c.created_at))).all()
        entries = [entry_of(row._mapping) for row in rows]
        await record_look(
            principal,
            "export",
            why,
            {**query, "count": len(entries)},
            [e.entry_id for e in entries],
            recipients=recipients,
        )
        return StreamingResponse(
            iter(export_lines(entries)),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="hotlist.csv"'},
        )

    @router.get("/hotlist/{entry_id}", response_model=EntryOut, tags=["hotlist"])
    async def get_entry(entry_id: str, principal: HotlistViewer, why: Looking) -> EntryOut:
        query = {"view": "entry", "entry_id": entry_id}
        async with sessions() as session:
            row = (
                await session.execute(select(hotlist_entries).where(hotlist_entries.c.entry_id == entry_id))
            ).first()
        if row is None:
            raise await not_found(
                principal, "view_hotlist", why, query, f"hotlist entry {entry_id} does not exist"
            )
        entry = out(entry_of(row._mapping))
        await record_look(principal, "view_hotlist", why, query, [entry_id])
        return entry

    # --- hits ------------------------------------------------------------------------------

    @router.get("/hits", response_model=list[HitOut], tags=["hits"])
    async def list_hits(
        principal: HitViewer,
        why: Looking,
        list_name: Annotated[str | None, Query(max_length=64)] = None,
        camera_id: Annotated[str | None, Query(max_length=64)] = None,
        unacknowledged: bool = False,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
    ) -> list[HitOut]:
        statement = select(hits)
        if list_name:
            statement = statement.where(hits.c.list_name == list_name)
        if camera_id:
            statement = statement.where(hits.c.camera_id == camera_id)
        if unacknowledged:
            statement = statement.where(hits.c.ack_outcome.is_(None))
        async with sessions() as session:
            rows = (await session.execute(statement.order_by(hits.c.created_at.desc()).limit(limit))).all()
        found = [HitOut.of(row._mapping) for row in rows]
        query = {
            "view": "list",
            "list_name": list_name,
            "camera_id": camera_id,
            "unacknowledged": unacknowledged,
            "limit": limit,
        }
        await record_look(principal, "view_hits", why, query, [hit.hit_id for hit in found])
        return found

    @router.get("/hits/stream", tags=["hits"], response_class=StreamingResponse)
    async def stream_hits(
        principal: HitViewer,
        why: Looking,
        limit: Annotated[int | None, Query(ge=1, description="Close after this many hits")] = None,
        heartbeat_s: Annotated[float, Query(gt=0, le=60)] = 15.0,
    ) -> StreamingResponse:
        """Hits as they are raised, as Server-Sent Events (`event: hit`, data: the hit as JSON).

        The opening is audited, and each hit is audited as seen by the caller before it is sent.
        """
        query: dict[str, Any] = {"view": "stream", "limit": limit, "heartbeat_s": heartbeat_s}
        await record_look(principal, "view_hits", why, query)

        async def events() -> AsyncIterator[str]:
            sent = 0
            with stream.subscribe() as queue:
                yield ": connected\n\n"
                while limit is None or sent < limit:
                    try:
                        hit = await asyncio.wait_for(queue.get(), timeout=heartbeat_s)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if hit is None:
                        yield 'event: overflow\ndata: {"detail": "too far behind; reload GET /v1/hits"}\n\n'
                        return
                    try:
                        await record_look(
                            principal, "view_hits", why, {**query, "sent": "hit"}, [hit["hit_id"]]
                        )
                    except Problem:
                        yield (
                            'event: unavailable\ndata: {"detail": "the audit log did not answer; '
                            'reconnect to go on"}\n\n'
                        )
                        return
                    sent += 1
                    yield f"id: {hit['hit_id']}\nevent: hit\ndata: {json.dumps(hit, default=str)}\n\n"

        return StreamingResponse(
            events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )

    @router.get("/hits/{hit_id}", response_model=HitOut, tags=["hits"])
    async def get_hit(hit_id: str, principal: HitViewer, why: Looking) -> HitOut:
        query = {"view": "hit", "hit_id": hit_id}
        async with sessions() as session:
            row = (await session.execute(select(hits).where(hits.c.hit_id == hit_id))).first()
        if row is None:
            raise await not_found(principal, "view_hits", why, query, f"hit {hit_id} does not exist")
        hit = HitOut.of(row._mapping)
        await record_look(principal, "view_hits", why, query, [hit_id])
        return hit

    @router.post("/hits/{hit_id}/ack", response_model=HitOut, tags=["hits"])
    async def acknowledge_hit(hit_id: str, body: AckIn, principal: HitAcknowledger) -> HitOut:
        now = utcnow()
        async with sessions.begin() as session:
            row = (await session.execute(select(hits).where(hits.c.hit_id == hit_id))).first()
            if row is None:
                raise Problem(404, "Not Found", f"hit {hit_id} does not exist")
            if row.ack_outcome is not None:
                raise Problem(
                    409, "Conflict", f"hit {hit_id} was acknowledged as {row.ack_outcome} by {row.ack_by}"
                )
            acked = {
                "ack_outcome": body.outcome.value,
                "ack_reason": body.reason,
                "ack_by": principal.subject,
                "ack_at": now,
            }
            await session.execute(update(hits).where(hits.c.hit_id == hit_id).values(**acked))
            counts = (
                await session.execute(
                    select(
                        func.count(hits.c.ack_outcome),
                        func.sum(case((hits.c.ack_outcome == AckOutcome.FALSE_ALARM.value, 1), else_=0)),
                    ).where(hits.c.list_name == row.list_name, hits.c.camera_id == row.camera_id)
                )
            ).one()
        acknowledged, false_alarms = int(counts[0] or 0), int(counts[1] or 0)
        HIT_ACKS.labels(row.list_name, row.camera_id, body.outcome.value).inc()
        if acknowledged:
            HIT_FALSE_ALARM_RATIO.labels(row.list_name, row.camera_id).set(false_alarms / acknowledged)
        await audit.record(
            principal,
            "hit_ack",
            purpose=row.category,
            query={"outcome": body.outcome.value, "reason": body.reason, "list_name": row.list_name},
            record_ids=[hit_id],
        )
        return HitOut.of({**row._mapping, **acked})

    return router
