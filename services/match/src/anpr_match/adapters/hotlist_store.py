"""The hotlist in the database: lists and their rules, entries as entered, read by the REST surface
and changed in one transaction together with the event that announces the change: the event is an
outbox row of that transaction, which the outbox relay publishes once it is committed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, time
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from anpr.v1 import audit_pb2
from anpr_core.bus import OutgoingRecord
from anpr_core.events import utcnow
from anpr_core.outbox import Outbox, OutboxRelay
from anpr_match.adapters.bulk_entries import store_new_entries
from anpr_match.adapters.codecs import entry_outgoing, rules_outgoing
from anpr_match.adapters.tables import hotlist_entries, hotlists
from anpr_match.domain.entries import Category, Direction, HotlistEntry, ListRules, rules_fields

# Entries encoded at a time, between which requests and consumers run.
ENCODE_CHUNK = 5000


def entry_of(mapping: Mapping[Any, Any]) -> HotlistEntry:
    fields = {k: v for k, v in mapping.items() if k in HotlistEntry.__dataclass_fields__}
    fields["category"] = Category(fields["category"])
    return HotlistEntry(**fields)


def rules_of(mapping: Mapping[Any, Any]) -> ListRules:
    return ListRules(
        name=mapping["name"],
        category=Category(mapping["category"]),
        max_substitutions=mapping["max_substitutions"],
        allow_edit=mapping["allow_edit"],
        directions=frozenset(Direction(d) for d in mapping["directions"].split(",") if d),
        active_from=time.fromisoformat(mapping["active_from"]) if mapping["active_from"] else None,
        active_until=time.fromisoformat(mapping["active_until"]) if mapping["active_until"] else None,
        timezone=mapping["timezone"],
        camera_ids=frozenset(c for c in mapping["camera_ids"].split(",") if c),
        description=mapping["description"],
        owner_zone=mapping["owner_zone"],
    )


class HotlistEvents:
    """Where this replica's hotlist events are staged: the outbox, for the hotlist topic."""

    def __init__(
        self, outbox: Outbox, topic: str, audit_topic: str, zone_id: str, indexed_here: tuple[str, bytes]
    ) -> None:
        self.outbox = outbox
        self.topic = topic
        self.audit_topic = audit_topic
        self.zone_id = zone_id
        # Marks a record this replica indexed itself before publishing (its own index consumer
        # skips those instead of decoding and indexing a million entries a second time).
        self.indexed_here = indexed_here


class HotlistChange:
    """One transaction of hotlist changes and their events: all of it is committed, or none."""

    def __init__(self, session: AsyncSession, events: HotlistEvents) -> None:
        self._session = session
        self._events = events

    async def list_exists(self, name: str) -> bool:
        found = await self._session.execute(select(hotlists.c.name).where(hotlists.c.name == name))
        return found.first() is not None

    async def rules(self, name: str) -> ListRules | None:
        row = (await self._session.execute(select(hotlists).where(hotlists.c.name == name))).first()
        return None if row is None else rules_of(row._mapping)

    async def zone_entries(self, zone_id: str) -> list[HotlistEntry]:
        """The entries a neighbour zone shared, not withdrawn."""
        statement = select(hotlist_entries).where(
            hotlist_entries.c.source_zone == zone_id, hotlist_entries.c.deleted.is_(False)
        )
        return [entry_of(row._mapping) for row in (await self._session.execute(statement)).all()]

    async def withdraw_entry(self, entry: HotlistEntry) -> None:
        """Marks the entry withdrawn and announces it so (its record, deleted)."""
        await self._session.execute(
            update(hotlist_entries).where(hotlist_entries.c.entry_id == entry.entry_id).values(deleted=True)
        )
        events = self._events
        records = entry_outgoing([entry], events.topic, events.zone_id, deleted=True)
        await events.outbox.stage_many(self._session, records)

    async def add_list(self, rules: ListRules, created_by: str, now: datetime) -> None:
        await self._session.execute(
            hotlists.insert().values(
                **rules_fields(rules), created_by=created_by, created_at=now, updated_at=now
            )
        )

    async def replace_list(self, rules: ListRules, now: datetime) -> None:
        await self._session.execute(
            update(hotlists)
            .where(hotlists.c.name == rules.name)
            .values(**rules_fields(rules), updated_at=now)
        )

    async def entry(self, entry_id: str) -> HotlistEntry | None:
        statement = select(hotlist_entries).where(hotlist_entries.c.entry_id == entry_id)
        row = (await self._session.execute(statement)).first()
        return None if row is None else entry_of(row._mapping)

    async def add_entry(self, entry: HotlistEntry) -> None:
        await self._session.execute(hotlist_entries.insert().values(**entry.__dict__, created_at=utcnow()))

    async def change_entry(self, entry_id: str, changes: Mapping[str, Any]) -> None:
        await self._session.execute(
            update(hotlist_entries).where(hotlist_entries.c.entry_id == entry_id).values(**changes)
        )

    async def add_imported(self, entries: Sequence[HotlistEntry], created_at: datetime) -> None:
        """A bulk import's entries, all new, and their events, marked as indexed by this replica:
        the events are encoded while the rows are stored (by SQLite's own thread, or by COPY), then
        staged after them (COPY)."""
        storing = asyncio.ensure_future(store_new_entries(self._session, entries, created_at))
        try:
            records = await self._encode(entries, indexed=True, unless_failed=storing)
        finally:
            await asyncio.wait([storing])  # the transaction ends only after its statements
        await storing  # its failure, if any, ends the transaction: nothing is kept
        await self._events.outbox.stage_many(self._session, records)

    async def announce_rules(self, rules: ListRules) -> None:
        events = self._events
        record = rules_outgoing(rules, events.topic, events.zone_id)
        await events.outbox.stage(self._session, record.topic, record.key, record.value, record.headers)

    async def announce_entries(self, entries: Sequence[HotlistEntry]) -> None:
        await self._events.outbox.stage_many(self._session, await self._encode(entries))

    async def audit(self, event: audit_pb2.AuditEvent) -> None:
        """The change's audit record, published with its events: a change is never kept unaudited."""
        key = event.actor.user_id.encode()
        await self._events.outbox.stage(
            self._session, self._events.audit_topic, key, event.SerializeToString()
        )

    async def _encode(
        self,
        entries: Sequence[HotlistEntry],
        *,
        indexed: bool = False,
        unless_failed: asyncio.Future[None] | None = None,
    ) -> list[OutgoingRecord]:
        events = self._events
        headers = (events.indexed_here,) if indexed else ()
        records: list[OutgoingRecord] = []
        for start in range(0, len(entries), ENCODE_CHUNK):
            if unless_failed is not None and unless_failed.done() and unless_failed.exception():
                break  # the transaction fails anyway
            chunk = entries[start : start + ENCODE_CHUNK]
            records += entry_outgoing(chunk, events.topic, events.zone_id, headers=headers)
            await asyncio.sleep(0)  # a bulk import never holds the event loop (consumers, requests) long
        return records


class HotlistStore:
    """Reads of the hotlist, and `change()`: a transaction to change it in."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], events: HotlistEvents, relay: OutboxRelay
    ) -> None:
        self._sessions = sessions
        self._events = events
        self._relay = relay

    @asynccontextmanager
    async def change(self) -> AsyncIterator[HotlistChange]:
        """A transaction: 1. the changes and their outbox rows are written; 2. it commits (or
        nothing is kept, nor published); 3. the relay is woken to publish the rows now."""
        async with self._sessions.begin() as session:
            yield HotlistChange(session, self._events)
        self._relay.wake()

    async def rules(self, name: str) -> ListRules | None:
        async with self._sessions() as session:
            row = (await session.execute(select(hotlists).where(hotlists.c.name == name))).first()
        return None if row is None else rules_of(row._mapping)

    async def lists(self) -> list[ListRules]:
        async with self._sessions() as session:
            rows = (await session.execute(select(hotlists).order_by(hotlists.c.name))).all()
        return [rules_of(row._mapping) for row in rows]

    async def entry(self, entry_id: str) -> HotlistEntry | None:
        async with self._sessions() as session:
            return await HotlistChange(session, self._events).entry(entry_id)

    async def entries(
        self,
        *,
        plate: str | None = None,
        list_name: str | None = None,
        in_force: bool | None = None,
        now: datetime | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[HotlistEntry]:
        """Entries not deleted, by plate, list and whether in force at `now`, as entered (oldest first)."""
        statement = select(hotlist_entries).where(hotlist_entries.c.deleted.is_(False))
        if plate is not None:
            statement = statement.where(hotlist_entries.c.plate == plate)
        if list_name:
            statement = statement.where(hotlist_entries.c.list_name == list_name)
        if in_force is not None:
            moment = now or utcnow()
            live = and_(
                hotlist_entries.c.valid_from <= moment,
                (hotlist_entries.c.valid_until.is_(None)) | (hotlist_entries.c.valid_until > moment),
            )
            statement = statement.where(live if in_force else ~live)
        statement = statement.order_by(hotlist_entries.c.created_at, hotlist_entries.c.entry_id)
        if offset:
            statement = statement.offset(offset)
        if limit is not None:
            statement = statement.limit(limit)
        async with self._sessions() as session:
            rows = (await session.execute(statement)).all()
        return [entry_of(row._mapping) for row in rows]

    async def export(self, list_name: str | None = None) -> list[HotlistEntry]:
        """Entries not deleted, of one list or all, as entered."""
        statement = select(hotlist_entries).where(hotlist_entries.c.deleted.is_(False))
        if list_name:
            statement = statement.where(hotlist_entries.c.list_name == list_name)
        async with self._sessions() as session:
            rows = (await session.execute(statement.order_by(hotlist_entries.c.created_at))).all()
        return [entry_of(row._mapping) for row in rows]
