"""The DPO's handling of data-subject requests: register, locate, decide, execute, close; all audited."""

from __future__ import annotations

import asyncio
import io
import json
import zipfile
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field
from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from anpr_access.adapters.images import blur_boxes, blur_whole
from anpr_access.adapters.storage import dpo_requests, held, hits, reads
from anpr_access.domain.dpo import Decision, RequestKind, RequestState, StepRefused, check_step, is_overdue
from anpr_access.plates import normalise, plate_key
from anpr_core.auditing import AuditTrail
from anpr_core.auth import Action, Principal, require
from anpr_core.events import utcnow
from anpr_core.ids import uuid7
from anpr_core.problems import Problem

Dpo = Annotated[Principal, Depends(require(Action.DPO_REQUESTS))]


class RequestIn(BaseModel):
    kind: RequestKind
    requester: str = Field(min_length=1, max_length=200, description="who asks, as the DPO files them")
    plate: str = Field(min_length=1, max_length=32)
    since: datetime
    until: datetime
    camera_id: str | None = Field(default=None, max_length=64, description="the place, as a camera")
    place: str = Field(default="", max_length=200, description="the place, in the requester's words")
    details: str = Field(default="", max_length=4000)
    corrected_plate: str | None = Field(
        default=None, max_length=32, description="for rectification: the plate as it should read"
    )


class RequestOut(BaseModel):
    request_id: str
    kind: RequestKind
    state: RequestState
    requester: str
    plate: str
    since: datetime
    until: datetime
    camera_id: str | None
    place: str
    details: str
    corrected_plate: str | None
    registered_at: datetime
    deadline: datetime
    overdue: bool
    located_ids: list[str]
    decision: Decision | None
    decision_reasons: str | None
    decided_ids: list[str] | None
    outcome: str | None


class DecisionIn(BaseModel):
    decision: Decision
    reasons: str = Field(min_length=1, max_length=4000)
    record_ids: list[str] | None = Field(
        default=None,
        description="for a partial decision: the located records it covers; a grant covers the "
        "located records of the requester's exact plate",
    )


def _out(row: Row[Any], now: datetime) -> RequestOut:
    values = {k: v for k, v in row._mapping.items() if k in RequestOut.model_fields}
    return RequestOut(**values, overdue=is_overdue(row.deadline, RequestState(row.state), now))


def build_dpo_router(
    sessions: async_sessionmaker[AsyncSession], audit: AuditTrail, deadline: timedelta
) -> APIRouter:
    router = APIRouter(prefix="/v1/dpo", tags=["dpo"])

    async def load(request_id: str) -> Row[Any]:
        async with sessions() as session:
            row = (
                await session.execute(select(dpo_requests).where(dpo_requests.c.request_id == request_id))
            ).first()
        if row is None:
            raise Problem(
                404, "Not found", f"no DPO request {request_id}: list them with GET /v1/dpo/requests"
            )
        return row

    async def step(principal: Principal, row: Row[Any], name: str) -> None:
        try:
            check_step(name, RequestState(row.state), Decision(row.decision) if row.decision else None)
        except StepRefused as refusal:
            await audit.record(
                principal,
                "dpo_requests",
                query={"request_id": row.request_id, "step": name},
                outcome="refused",
                detail=str(refusal),
            )
            raise Problem(409, "Step refused", str(refusal)) from refusal

    async def save(request_id: str, **values: Any) -> RequestOut:
        now = utcnow()
        async with sessions.begin() as session:
            await session.execute(
                update(dpo_requests)
                .where(dpo_requests.c.request_id == request_id)
                .values(**values, updated_at=now)
            )
        return _out(await load(request_id), now)

    @router.post("/requests", response_model=RequestOut, status_code=201)
    async def register(principal: Dpo, request: RequestIn) -> RequestOut:
        if request.since.tzinfo is None or request.until.tzinfo is None:
            raise Problem(422, "Invalid request", "since and until need a timezone offset")
        if request.until <= request.since:
            raise Problem(422, "Invalid request", "the date range is empty: `until` must be after `since`")
        if not normalise(request.plate):
            raise Problem(422, "Invalid request", "the plate has no letters or digits")
        corrected = normalise(request.corrected_plate or "")
        if (request.kind is RequestKind.RECTIFICATION) != bool(corrected):
            raise Problem(
                422,
                "Invalid request",
                "a rectification needs corrected_plate, and only a rectification takes one",
            )
        now = utcnow()
        row = {
            **request.model_dump(),
            "request_id": str(uuid7()),
            "kind": request.kind.value,
            "state": RequestState.REGISTERED.value,
            "plate": normalise(request.plate),
            "corrected_plate": corrected or None,
            "registered_at": now,
            "deadline": now + deadline,
            "located_ids": [],
            "updated_at": now,
        }
        async with sessions.begin() as session:
            await session.execute(insert(dpo_requests).values(row))
        await audit.record(
            principal,
            "dpo_requests",
            query={
                "step": "register",
                "request_id": row["request_id"],
                "kind": request.kind.value,
                "deadline": row["deadline"],
            },
            recipients=[request.requester],
        )
        return _out(await load(str(row["request_id"])), now)

    @router.get("/requests", response_model=list[RequestOut])
    async def list_requests(
        principal: Dpo, overdue: bool = False, state: RequestState | None = None
    ) -> list[RequestOut]:
        now = utcnow()
        statement = select(dpo_requests).order_by(dpo_requests.c.deadline)
        if state:
            statement = statement.where(dpo_requests.c.state == state.value)
        if overdue:
            statement = statement.where(
                dpo_requests.c.deadline < now,
                dpo_requests.c.state.not_in([RequestState.EXECUTED.value, RequestState.CLOSED.value]),
            )
        async with sessions() as session:
            rows = (await session.execute(statement)).all()
        return [_out(row, now) for row in rows]

    @router.get("/requests/{request_id}", response_model=RequestOut)
    async def get_request(request_id: str, principal: Dpo) -> RequestOut:
        return _out(await load(request_id), utcnow())

    @router.post("/requests/{request_id}/locate", response_model=RequestOut)
    async def locate(request_id: str, principal: Dpo) -> RequestOut:
        row = await load(request_id)
        await step(principal, row, "locate")
        # The subject's own plate, and reads OCR may have confused with it, so a misread is found too.
        statement = select(reads.c.event_id).where(
            or_(reads.c.plate == row.plate, reads.c.plate_key == plate_key(row.plate)),
            reads.c.captured_at >= row.since,
            reads.c.captured_at < row.until,
        )
        if row.camera_id:
            statement = statement.where(reads.c.camera_id == row.camera_id)
        async with sessions() as session:
            found = list((await session.scalars(statement.order_by(reads.c.captured_at))).all())
        await audit.record(
            principal,
            "dpo_requests",
            query={"step": "locate", "request_id": request_id, "kind": row.kind},
            record_ids=found,
        )
        return await save(request_id, state=RequestState.LOCATED.value, located_ids=found)

    @router.post("/requests/{request_id}/decision", response_model=RequestOut)
    async def decide(request_id: str, principal: Dpo, decision: DecisionIn) -> RequestOut:
        row = await load(request_id)
        await step(principal, row, "decide")
        located = list(row.located_ids)
        if decision.decision is Decision.PARTIAL:
            chosen = decision.record_ids or []
            stray = sorted(set(chosen) - set(located))
            if not chosen or stray:
                raise Problem(
                    422,
                    "Invalid decision",
                    "a partial decision names the located records it covers (record_ids)"
                    + (f"; not located: {', '.join(stray)}" if stray else ""),
                )
        elif decision.decision is Decision.GRANT and located:
            # A grant covers the requester's own plate; a look-alike read (maybe another vehicle)
            # is included only when the DPO names it in a partial decision.
            async with sessions() as session:
                own = set(
                    (
                        await session.scalars(
                            select(reads.c.event_id).where(
                                reads.c.event_id.in_(located), reads.c.plate == row.plate
                            )
                        )
                    ).all()
                )
            chosen = [event_id for event_id in located if event_id in own]
        else:
            chosen = []
        await audit.record(
            principal,
            "dpo_decision",
            query={"request_id": request_id, "kind": row.kind, "decision": decision.decision.value},
            record_ids=chosen,
            detail=decision.reasons,
        )
        return await save(
            request_id,
            state=RequestState.DECIDED.value,
            decision=decision.decision.value,
            decision_reasons=decision.reasons,
            decided_ids=chosen,
        )

    @router.post(
        "/requests/{request_id}/execute",
        responses={200: {"content": {"application/zip": {}, "application/json": {}}}},
    )
    async def execute(request_id: str, principal: Dpo) -> Any:
        """Access: returns the export (ZIP). Rectification, erasure: change records, return the request."""
        row = await load(request_id)
        await step(principal, row, "execute")
        ids = list(row.decided_ids or [])
        kind = RequestKind(row.kind)
        if kind is RequestKind.ACCESS:
            archive = await export(ids, row.plate)
            await audit.record(
                principal,
                "export",
                query={"request_id": request_id, "format": "zip"},
                record_ids=ids,
                recipients=[row.requester],
            )
            await save(request_id, state=RequestState.EXECUTED.value, outcome=f"exported {len(ids)} records")
            return Response(
                content=archive,
                media_type="application/zip",
                headers={"Content-Disposition": f'attachment; filename="dpo-{request_id}.zip"'},
            )
        if kind is RequestKind.RECTIFICATION:
            async with sessions.begin() as session:
                originals = {
                    r.event_id: r.plate
                    for r in await session.execute(
                        select(reads.c.event_id, reads.c.plate).where(reads.c.event_id.in_(ids))
                    )
                }
                corrected = str(row.corrected_plate)
                await session.execute(
                    update(reads)
                    .where(reads.c.event_id.in_(ids))
                    .values(plate=corrected, plate_key=plate_key(corrected), formatted=corrected)
                )
            # The audit keeps what the records said before: the rectification is reversible on paper.
            await audit.record(
                principal,
                "rectification",
                query={"request_id": request_id, "original_plates": originals, "corrected_plate": corrected},
                record_ids=ids,
            )
            return await save(
                request_id, state=RequestState.EXECUTED.value, outcome=f"rectified {len(originals)} records"
            )
        async with sessions.begin() as session:
            on_hold = list(
                (
                    await session.scalars(select(reads.c.event_id).where(reads.c.event_id.in_(ids), held()))
                ).all()
            )
            if not on_hold:
                erased = await session.execute(delete(reads).where(reads.c.event_id.in_(ids)))
                await session.execute(delete(hits).where(hits.c.read_event_id.in_(ids)))
        if on_hold:
            reason = (
                f"{len(on_hold)} of the records are under a legal hold and may not be erased until it is "
                "lifted; refuse the erasure with this reason or ask the hold's owner"
            )
            await audit.record(
                principal,
                "erasure",
                query={"request_id": request_id},
                record_ids=on_hold,
                outcome="refused",
                detail=reason,
            )
            raise Problem(409, "Erasure refused", reason, held_record_ids=on_hold)
        count = int(getattr(erased, "rowcount", 0) or 0)
        await audit.record(
            principal, "erasure", query={"request_id": request_id, "erased": count}, record_ids=ids
        )
        return await save(request_id, state=RequestState.EXECUTED.value, outcome=f"erased {count} records")

    @router.post("/requests/{request_id}/close", response_model=RequestOut)
    async def close(request_id: str, principal: Dpo) -> RequestOut:
        row = await load(request_id)
        await step(principal, row, "close")
        await audit.record(principal, "dpo_requests", query={"step": "close", "request_id": request_id})
        return await save(request_id, state=RequestState.CLOSED.value)

    async def export(ids: list[str], subject_plate: str) -> bytes:
        async with sessions() as session:
            rows = (await session.execute(select(reads).where(reads.c.event_id.in_(ids)))).all()
            frames = {r.frame_event_id for r in rows if r.overview is not None and r.frame_event_id}
            neighbours = (
                (
                    await session.execute(
                        select(reads.c.event_id, reads.c.frame_event_id, reads.c.box).where(
                            reads.c.frame_event_id.in_(frames)
                        )
                    )
                ).all()
                if frames
                else []
            )
        return await asyncio.to_thread(_build_export, rows, neighbours, subject_plate)

    return router


def _build_export(rows: Sequence[Row[Any]], neighbours: Sequence[Any], subject_plate: str) -> bytes:
    """The requester's records and images; every other vehicle's plate blurred (OpenCV)."""
    manifest = []
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for row in rows:
            own = row.plate == subject_plate
            entry: dict[str, Any] = {
                "event_id": row.event_id,
                "captured_at": row.captured_at.isoformat(),
                "camera_id": row.camera_id,
                "direction": row.direction,
                # A record that only resembles the requester's plate is another vehicle: no plate text.
                "plate": row.plate if own else None,
                "formatted": row.formatted if own else None,
                "note": "" if own else "read of a similar plate; another vehicle's plate is withheld",
            }
            if row.plate_crop is not None:
                crop = bytes(row.plate_crop) if own else blur_whole(bytes(row.plate_crop))
                entry["crop"] = _add(archive, f"crops/{row.event_id}.jpg", crop)
            if row.overview is not None:
                others = [
                    tuple(n.box)
                    for n in neighbours
                    if n.frame_event_id == row.frame_event_id and n.event_id != row.event_id
                ]
                boxes = others if own else [*others, tuple(row.box)]
                entry["overview"] = _add(
                    archive, f"overviews/{row.event_id}.jpg", blur_boxes(bytes(row.overview), boxes)
                )
            manifest.append(entry)
        archive.writestr("reads.json", json.dumps({"plate": subject_plate, "reads": manifest}, indent=2))
    return buffer.getvalue()


def _add(archive: zipfile.ZipFile, name: str, image: bytes | None) -> str | None:
    # An image that cannot be blurred is withheld rather than handed over unblurred.
    if image is None:
        return None
    archive.writestr(name, image)
    return name
