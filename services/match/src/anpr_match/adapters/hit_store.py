"""Hits in the database (stored once per read and entry, read by the REST surface, acknowledged by
operators), and the recorder that stores and publishes the hits matching raises."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from anpr_core.bus import Bus, OutgoingRecord
from anpr_core.db import insert_ignoring_duplicates
from anpr_match.adapters.codecs import hit_for, hit_row
from anpr_match.adapters.tables import hits
from anpr_match.domain.entries import ListRules, Match, SeenRead
from anpr_match.domain.operators import AckOutcome


class HitVerdict:
    """One transaction in which an operator's verdict on a hit is recorded."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def hit(self, hit_id: str) -> dict[str, Any] | None:
        row = (await self._session.execute(select(hits).where(hits.c.hit_id == hit_id))).first()
        return None if row is None else dict(row._mapping)

    async def record(self, hit_id: str, verdict: Mapping[str, Any]) -> None:
        await self._session.execute(update(hits).where(hits.c.hit_id == hit_id).values(**verdict))

    async def counts(self, list_name: str, camera_id: str) -> tuple[int, int]:
        """How many hits of this list at this camera were acknowledged, and how many as false alarms."""
        counts = (
            await self._session.execute(
                select(
                    func.count(hits.c.ack_outcome),
                    func.sum(case((hits.c.ack_outcome == AckOutcome.FALSE_ALARM.value, 1), else_=0)),
                ).where(hits.c.list_name == list_name, hits.c.camera_id == camera_id)
            )
        ).one()
        return int(counts[0] or 0), int(counts[1] or 0)


class HitStore:
    """The hits table: rows as raised (`add`), read newest first, and a verdict's transaction."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, rows: list[dict[str, Any]]) -> None:
        """Stores hits; one already stored (the same read and entry) is left as it is."""
        async with self._sessions.begin() as session:
            await insert_ignoring_duplicates(session, hits, rows)

    async def hit(self, hit_id: str) -> dict[str, Any] | None:
        async with self._sessions() as session:
            return await HitVerdict(session).hit(hit_id)

    async def latest(
        self,
        *,
        list_name: str | None = None,
        camera_id: str | None = None,
        unacknowledged: bool = False,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        statement = select(hits)
        if list_name:
            statement = statement.where(hits.c.list_name == list_name)
        if camera_id:
            statement = statement.where(hits.c.camera_id == camera_id)
        if unacknowledged:
            statement = statement.where(hits.c.ack_outcome.is_(None))
        async with self._sessions() as session:
            rows = (await session.execute(statement.order_by(hits.c.created_at.desc()).limit(limit))).all()
        return [dict(row._mapping) for row in rows]

    @asynccontextmanager
    async def verdict(self) -> AsyncIterator[HitVerdict]:
        async with self._sessions.begin() as session:
            yield HitVerdict(session)


class HitRecorder:
    """Raised hits made durable: stored (idempotent on read and entry), then published."""

    def __init__(
        self,
        store: HitStore,
        bus: Bus,
        topic: str,
        zone_id: str,
        rules_of: Callable[[str], ListRules | None] = lambda _name: None,
    ) -> None:
        self._store = store
        self._bus = bus
        self._topic = topic
        self._zone_id = zone_id
        # A list's rules (the index's), for the neighbour zone whose list it is.
        self._rules_of = rules_of

    def _source_zone(self, list_name: str) -> str:
        rules = self._rules_of(list_name)
        return rules.owner_zone if rules is not None else ""

    async def record(self, found: Sequence[tuple[SeenRead, Match]], *, from_lookback: bool) -> None:
        raised = [
            hit_for(
                read,
                match,
                self._zone_id,
                from_lookback=from_lookback,
                source_zone=self._source_zone(match.entry.list_name),
            )
            for read, match in found
        ]
        # 1. store the hits (idempotent on read and entry), 2. publish them; the caller's offset or
        # look-back queue moves on only after both.
        await self._store.add([hit_row(hit) for hit in raised])
        await self._bus.publish_many(
            [
                OutgoingRecord(self._topic, hit.hotlist_entry_id.encode(), hit.SerializeToString())
                for hit in raised
            ]
        )
