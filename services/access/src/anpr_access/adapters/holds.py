"""Legal holds in the database: placed (with how many reads they cover), listed, lifted."""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import datetime

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_access.adapters.coverage import Bounds, covers
from anpr_access.adapters.tables import holds, reads
from anpr_access.domain.records import Hold
from anpr_core.db import session_factory

_HOLD_COLUMNS = [holds.c[f.name] for f in fields(Hold)]


class HoldStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = session_factory(engine)

    async def place(self, hold: Hold) -> int:
        """Stores the hold; returns how many reads it keeps now (passages are kept whole)."""
        bounds = Bounds(hold.plate, hold.since, hold.until)
        coverage = select(func.count()).select_from(reads).where(covers(bounds))
        async with self._sessions.begin() as session:
            await session.execute(insert(holds).values(asdict(hold)))
            return int(await session.scalar(coverage) or 0)

    async def listed(self, *, include_lifted: bool, case_reference: str | None) -> list[Hold]:
        statement = select(*_HOLD_COLUMNS).order_by(holds.c.created_at)
        if not include_lifted:
            statement = statement.where(holds.c.lifted_at.is_(None))
        if case_reference:
            statement = statement.where(holds.c.case_reference == case_reference)
        async with self._sessions() as session:
            rows = (await session.execute(statement)).all()
        return [Hold(**row._mapping) for row in rows]

    async def lift(self, hold_id: str, *, lifted_by: str, reason: str, now: datetime) -> Hold | None:
        """Lifts an active hold; returns the hold as it was before (None if there is no such hold).
        A hold already lifted is returned unchanged."""
        async with self._sessions.begin() as session:
            row = (await session.execute(select(*_HOLD_COLUMNS).where(holds.c.hold_id == hold_id))).first()
            if row is None or row.lifted_at is not None:
                return None if row is None else Hold(**row._mapping)
            await session.execute(
                update(holds)
                .where(holds.c.hold_id == hold_id)
                .values(lifted_at=now, lifted_by=lifted_by, lift_reason=reason)
            )
        return Hold(**row._mapping)
