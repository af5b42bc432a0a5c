"""Data subjects' requests in the database, and what executing one does to the reads: locate,
rectify, erase (unless held), export."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_access.adapters.export import build_export
from anpr_access.adapters.tables import dpo_requests, held, hits, reads
from anpr_access.domain.dpo import Decision, RequestKind, RequestState
from anpr_access.domain.records import DpoRequest
from anpr_core.db import session_factory

_REQUEST_COLUMNS = [dpo_requests.c[f.name] for f in fields(DpoRequest)]


@dataclass(frozen=True)
class Erasure:
    """What an erasure did: nothing when any record is held (their ids), else how many were erased."""

    held_ids: list[str]
    erased: int


def _request(row: Row[Any]) -> DpoRequest:
    values = dict(row._mapping)
    values["kind"] = RequestKind(values["kind"])
    values["state"] = RequestState(values["state"])
    values["decision"] = Decision(values["decision"]) if values["decision"] else None
    values["located_ids"] = list(values["located_ids"])
    if values["decided_ids"] is not None:
        values["decided_ids"] = list(values["decided_ids"])
    return DpoRequest(**values)


def _row(request: DpoRequest) -> dict[str, Any]:
    values = asdict(request)
    values["kind"] = request.kind.value
    values["state"] = request.state.value
    values["decision"] = request.decision.value if request.decision else None
    return values


class DpoStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)

    async def add(self, request: DpoRequest) -> None:
        async with self._sessions.begin() as session:
            await session.execute(insert(dpo_requests).values(_row(request)))

    async def get(self, request_id: str) -> DpoRequest | None:
        statement = select(*_REQUEST_COLUMNS).where(dpo_requests.c.request_id == request_id)
        async with self._sessions() as session:
            row = (await session.execute(statement)).first()
        return None if row is None else _request(row)

    async def listed(self, *, state: RequestState | None, overdue_at: datetime | None) -> list[DpoRequest]:
        """By deadline; with `overdue_at`, only those past their deadline then and not yet answered."""
        statement = select(*_REQUEST_COLUMNS).order_by(dpo_requests.c.deadline)
        if state:
            statement = statement.where(dpo_requests.c.state == state.value)
        if overdue_at is not None:
            statement = statement.where(
                dpo_requests.c.deadline < overdue_at,
                dpo_requests.c.state.not_in([RequestState.EXECUTED.value, RequestState.CLOSED.value]),
            )
        async with self._sessions() as session:
            rows = (await session.execute(statement)).all()
        return [_request(row) for row in rows]

    async def update(self, request_id: str, now: datetime, **values: Any) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(dpo_requests)
                .where(dpo_requests.c.request_id == request_id)
                .values(**values, updated_at=now)
            )

    async def locate(
        self, plate: str, plate_key: str, since: datetime, until: datetime, camera_id: str | None
    ) -> list[str]:
        """The reads of the plate, or of a plate OCR may have confused with it, in time order."""
        statement = select(reads.c.event_id).where(
            or_(reads.c.plate == plate, reads.c.plate_key == plate_key),
            reads.c.captured_at >= since,
            reads.c.captured_at < until,
        )
        if camera_id:
            statement = statement.where(reads.c.camera_id == camera_id)
        async with self._sessions() as session:
            return list((await session.scalars(statement.order_by(reads.c.captured_at))).all())

    async def of_plate(self, ids: list[str], plate: str) -> set[str]:
        """Those of `ids` whose plate is exactly `plate`."""
        statement = select(reads.c.event_id).where(reads.c.event_id.in_(ids), reads.c.plate == plate)
        async with self._sessions() as session:
            return set((await session.scalars(statement)).all())

    async def rectify(self, ids: list[str], plate: str, plate_key: str) -> dict[str, str]:
        """Rewrites the plate of the reads; returns what each said before."""
        async with self._sessions.begin() as session:
            originals = {
                r.event_id: r.plate
                for r in await session.execute(
                    select(reads.c.event_id, reads.c.plate).where(reads.c.event_id.in_(ids))
                )
            }
            await session.execute(
                update(reads)
                .where(reads.c.event_id.in_(ids))
                .values(plate=plate, plate_key=plate_key, formatted=plate)
            )
        return originals

    async def erase(self, ids: list[str]) -> Erasure:
        """Deletes the reads and their hits, all or (when any is under a legal hold) none."""
        async with self._sessions.begin() as session:
            on_hold = list(
                (
                    await session.scalars(select(reads.c.event_id).where(reads.c.event_id.in_(ids), held()))
                ).all()
            )
            if on_hold:
                return Erasure(held_ids=on_hold, erased=0)
            erased = await session.execute(delete(reads).where(reads.c.event_id.in_(ids)))
            await session.execute(delete(hits).where(hits.c.read_event_id.in_(ids)))
        return Erasure(held_ids=[], erased=int(getattr(erased, "rowcount", 0) or 0))

    async def export(self, ids: list[str], subject_plate: str) -> bytes:
        """The ZIP handed to the data subject (adapters.export), built in a worker thread."""
        async with self._sessions() as session:
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
        return await asyncio.to_thread(build_export, rows, neighbours, subject_plate)
