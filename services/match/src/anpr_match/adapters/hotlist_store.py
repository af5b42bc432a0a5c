"""The hotlist in the database: lists and their rules, entries as entered, read by the REST surface
and changed in one transaction together with the event that announces the change."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, time
from typing import Any

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from anpr_core.events import utcnow
from anpr_match.adapters.bulk_entries import store_new_entries
from anpr_match.adapters.hotlist_publisher import HotlistPublisher
from anpr_match.adapters.tables import hotlist_entries, hotlists
from anpr_match.domain.entries import Category, Direction, HotlistEntry, ListRules, rules_fields


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
    )


class HotlistChange:
    """One transaction of hotlist changes and their events: all of it is committed, or none."""

    def __init__(self, session: AsyncSession, publisher: HotlistPublisher) -> None:
        self._session = session
        self._publisher = publisher

    async def list_exists(self, name: str) -> bool:
        found = await self._session.execute(select(hotlists.c.name).where(hotlists.c.name == name))
        return found.first() is not None

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

    async def add_new_entries(self, entries: Sequence[HotlistEntry], created_at: datetime) -> None:
        """A bulk import's entries, all new (COPY on PostgreSQL)."""
        await store_new_entries(self._session, entries, created_at)

    async def announce_rules(self, rules: ListRules) -> None:
        await self._publisher.publish_rules(rules)

    async def announce_entries(
        self, entries: Sequence[HotlistEntry], *, deleted: bool = False, indexed: bool = False
    ) -> None:
        await self._publisher.publish_entries(entries, deleted=deleted, indexed=indexed)


class HotlistStore:
    """Reads of the hotlist, and `change()`: a transaction to change it in."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], publisher: HotlistPublisher) -> None:
        self._sessions = sessions
        self._publisher = publisher

    @asynccontextmanager
    async def change(self) -> AsyncIterator[HotlistChange]:
        async with self._sessions.begin() as session:
            yield HotlistChange(session, self._publisher)

    async def withdraw(self, entries: Sequence[HotlistEntry]) -> None:
        """Announces the deletion of entries whose change was announced but not committed."""
        await self._publisher.publish_entries(entries, deleted=True)

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
            return await HotlistChange(session, self._publisher).entry(entry_id)

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
