"""Operators' verdicts on the hits of a period, counted in the database per list and per camera."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from anpr_match.adapters.tables import hits
from anpr_match.domain.false_alarms import VerdictCounts
from anpr_match.domain.operators import AckOutcome


def _of(outcome: AckOutcome) -> Any:
    return func.sum(case((hits.c.ack_outcome == outcome.value, 1), else_=0))


class VerdictTally:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def per(self, column: str, since: datetime, until: datetime) -> list[VerdictCounts]:
        """The hits raised from `since` to `until` (their reads' capture times), grouped by `column`
        (list_name or camera_id), by verdict; ordered by name."""
        group = hits.c[column]
        statement = (
            select(
                group,
                func.count(literal_column("*")),
                _of(AckOutcome.CONFIRMED),
                _of(AckOutcome.FALSE_ALARM),
                _of(AckOutcome.NOT_SEEN),
            )
            .where(hits.c.captured_at >= since, hits.c.captured_at < until)
            .group_by(group)
            .order_by(group)
        )
        async with self._sessions() as session:
            rows = (await session.execute(statement)).all()
        return [
            VerdictCounts(str(name), int(count), int(confirmed or 0), int(false or 0), int(unseen or 0))
            for name, count, confirmed, false, unseen in rows
        ]
