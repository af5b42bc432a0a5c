"""Data subjects' requests in the database, and what executing one does to passages and their reads,
always together: locate, rectify, erase (unless held), export."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from anpr_access.adapters.coverage import held
from anpr_access.adapters.export import build_export
from anpr_access.adapters.tables import dpo_requests, hits, passage_reads, passages, reads
from anpr_access.domain.dpo import Decision, RequestKind, RequestState
from anpr_access.domain.records import DpoRequest
from anpr_core.db import session_factory

_REQUEST_COLUMNS = [dpo_requests.c[f.name] for f in fields(DpoRequest)]


@dataclass(frozen=True)
class Erasure:
    """What an erasure did: nothing when any record is held (their ids), else how many reads were
    erased, and which passages with them."""

    held_ids: list[str]
    erased: int
    passage_ids: list[str]


@dataclass(frozen=True)
class Rectification:
    """The plates the rectified reads and passages had before."""

    reads: dict[str, str]
    passages: dict[str, str]


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
        """The reads of the plate, or of a plate OCR may have confused with it, with every read of
        their passages (and of passages whose consensus is such a plate), in time order."""
        plate_matches = or_(reads.c.plate == plate, reads.c.plate_key == plate_key)
        by_read = select(reads.c.event_id, reads.c.passage_id).where(
            plate_matches, reads.c.captured_at >= since, reads.c.captured_at < until
        )
        by_passage = select(passages.c.passage_id).where(
            or_(passages.c.plate == plate, passages.c.plate_key == plate_key),
            passages.c.first_seen >= since,
            passages.c.first_seen < until,
        )
        if camera_id:
            by_read = by_read.where(reads.c.camera_id == camera_id)
            by_passage = by_passage.where(passages.c.camera_id == camera_id)
        async with self._sessions() as session:
            found = (await session.execute(by_read)).all()
            claimed = {r.passage_id for r in found if r.passage_id} | set(
                (await session.scalars(by_passage)).all()
            )
            members = await session.scalars(
                select(passage_reads.c.read_id).where(passage_reads.c.passage_id.in_(sorted(claimed)))
            )
            return await _in_time_order(session, {r.event_id for r in found} | set(members.all()))

    async def with_passages(self, ids: list[str]) -> list[str]:
        """The reads, with every other read of their passages, in time order."""
        async with self._sessions() as session:
            return await _in_time_order(session, await _whole_passages(session, ids))

    async def of_plate(self, ids: list[str], plate: str) -> set[str]:
        """Those of `ids` of the vehicle with `plate`: in a passage whose consensus is that plate, or
        (a read of no stored passage) read as exactly that plate."""
        statement = (
            select(reads.c.event_id)
            .select_from(reads.outerjoin(passages, passages.c.passage_id == reads.c.passage_id))
            .where(
                reads.c.event_id.in_(ids),
                or_(passages.c.plate == plate, and_(passages.c.passage_id.is_(None), reads.c.plate == plate)),
            )
        )
        async with self._sessions() as session:
            return set((await session.scalars(statement)).all())

    async def rectify(self, ids: list[str], plate: str, plate_key: str) -> Rectification:
        """Rewrites the plate of the reads and of their passages; returns what each said before."""
        async with self._sessions.begin() as session:
            claimed = select(passage_reads.c.passage_id).where(passage_reads.c.read_id.in_(ids))
            reads_before = {
                r.event_id: r.plate
                for r in await session.execute(
                    select(reads.c.event_id, reads.c.plate).where(reads.c.event_id.in_(ids))
                )
            }
            passages_before = {
                p.passage_id: p.plate
                for p in await session.execute(
                    select(passages.c.passage_id, passages.c.plate).where(passages.c.passage_id.in_(claimed))
                )
            }
            corrected = {"plate": plate, "plate_key": plate_key, "formatted": plate}
            await session.execute(update(reads).where(reads.c.event_id.in_(ids)).values(**corrected))
            await session.execute(
                update(passages).where(passages.c.passage_id.in_(list(passages_before))).values(**corrected)
            )
        return Rectification(reads=reads_before, passages=passages_before)

    async def erase(self, ids: list[str]) -> Erasure:
        """Deletes the reads, every other read of their passages, the passages and the reads' hits:
        all, or (when a legal hold keeps any of them) none."""
        async with self._sessions.begin() as session:
            whole = await _whole_passages(session, ids)
            on_hold = list(
                (
                    await session.scalars(select(reads.c.event_id).where(reads.c.event_id.in_(whole), held()))
                ).all()
            )
            if on_hold:
                return Erasure(held_ids=on_hold, erased=0, passage_ids=[])
            claimed = list(
                (
                    await session.scalars(
                        select(passage_reads.c.passage_id)
                        .where(passage_reads.c.read_id.in_(whole))
                        .distinct()
                    )
                ).all()
            )
            erased = await session.execute(delete(reads).where(reads.c.event_id.in_(whole)))
            await session.execute(delete(hits).where(hits.c.read_event_id.in_(whole)))
            await session.execute(delete(passages).where(passages.c.passage_id.in_(claimed)))
            await session.execute(delete(passage_reads).where(passage_reads.c.passage_id.in_(claimed)))
        return Erasure(held_ids=[], erased=int(getattr(erased, "rowcount", 0) or 0), passage_ids=claimed)

    async def export(self, ids: list[str], subject_plate: str) -> bytes:
        """The ZIP handed to the data subject (adapters.export), built in a worker thread."""
        statement = (
            select(reads, passages.c.plate.label("passage_plate"))
            .select_from(reads.outerjoin(passages, passages.c.passage_id == reads.c.passage_id))
            .where(reads.c.event_id.in_(ids))
            .order_by(reads.c.captured_at, reads.c.event_id)
        )
        async with self._sessions() as session:
            rows = (await session.execute(statement)).all()
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


async def _whole_passages(session: AsyncSession, ids: list[str]) -> set[str]:
    """`ids` and the reads listed with them in a passage."""
    claimed = select(passage_reads.c.passage_id).where(passage_reads.c.read_id.in_(ids))
    members = await session.scalars(
        select(passage_reads.c.read_id).where(passage_reads.c.passage_id.in_(claimed))
    )
    return set(ids) | set(members.all())


async def _in_time_order(session: AsyncSession, ids: set[str]) -> list[str]:
    """Those of `ids` that are stored reads, in capture order."""
    if not ids:
        return []
    statement = (
        select(reads.c.event_id)
        .where(reads.c.event_id.in_(sorted(ids)))
        .order_by(reads.c.captured_at, reads.c.event_id)
    )
    return list((await session.scalars(statement)).all())
