"""The agreements in the database, read by the REST surface and the bridge's refresh, and changed in
one transaction with the audit record and the events that announce the change (outbox rows, which
the relays publish once it is committed)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from anpr.v1 import audit_pb2
from anpr_core.bus import OutgoingRecord
from anpr_core.outbox import OutboxRelay
from anpr_share.adapters.tables import SCHEMA, agreements, exchange_outbox, outbox
from anpr_share.domain.agreements import (
    Agreement,
    HotlistScope,
    InboundScope,
    ReadField,
    ReadScope,
    Terms,
)


def agreement_row(agreement: Agreement) -> dict[str, Any]:
    terms = agreement.terms
    return {
        "agreement_id": agreement.agreement_id,
        "partner_zone": agreement.partner_zone,
        "reference": terms.reference,
        "legal_basis": terms.legal_basis,
        "valid_from": terms.valid_from,
        "valid_until": terms.valid_until,
        "reads_camera_ids": sorted(terms.reads_out.camera_ids),
        "reads_border": terms.reads_out.border_cameras,
        "reads_fields": sorted(f.value for f in terms.reads_out.fields),
        "hotlist_lists": sorted(terms.hotlists_out.list_names),
        "hotlist_categories": sorted(terms.hotlists_out.categories),
        "inbound_reads": terms.inbound.reads,
        "inbound_hotlists": terms.inbound.hotlists,
        "created_by": agreement.created_by,
        "created_at": agreement.created_at,
        "updated_at": agreement.updated_at,
        "revoked_at": agreement.revoked_at,
        "revoked_by": agreement.revoked_by,
        "revocation_reason": agreement.revocation_reason,
    }


def agreement_of(row: Mapping[Any, Any]) -> Agreement:
    terms = Terms(
        reference=row["reference"],
        legal_basis=row["legal_basis"],
        valid_from=row["valid_from"],
        valid_until=row["valid_until"],
        reads_out=ReadScope(
            camera_ids=frozenset(row["reads_camera_ids"]),
            border_cameras=row["reads_border"],
            fields=frozenset(ReadField(f) for f in row["reads_fields"]),
        ),
        hotlists_out=HotlistScope(frozenset(row["hotlist_lists"]), frozenset(row["hotlist_categories"])),
        inbound=InboundScope(reads=row["inbound_reads"], hotlists=row["inbound_hotlists"]),
    )
    return Agreement(
        agreement_id=row["agreement_id"],
        partner_zone=row["partner_zone"],
        terms=terms,
        created_by=row["created_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        revoked_at=row["revoked_at"],
        revoked_by=row["revoked_by"],
        revocation_reason=row["revocation_reason"],
    )


class AgreementChange:
    """One transaction: agreements added or saved, with their audit records and events."""

    def __init__(self, session: AsyncSession, audit_topic: str) -> None:
        self._session = session
        self._audit_topic = audit_topic

    async def all(self) -> list[Agreement]:
        rows = (await self._session.execute(select(agreements))).all()
        return [agreement_of(row._mapping) for row in rows]

    async def get(self, agreement_id: str) -> Agreement | None:
        statement = select(agreements).where(agreements.c.agreement_id == agreement_id)
        row = (await self._session.execute(statement)).first()
        return None if row is None else agreement_of(row._mapping)

    async def add(self, agreement: Agreement) -> None:
        await self._session.execute(agreements.insert().values(**agreement_row(agreement)))

    async def save(self, agreement: Agreement) -> None:
        row = agreement_row(agreement)
        await self._session.execute(
            update(agreements).where(agreements.c.agreement_id == agreement.agreement_id).values(**row)
        )

    async def audit(self, event: audit_pb2.AuditEvent) -> None:
        """The change's audit record, published with it: a change is never kept unaudited."""
        key = event.actor.user_id.encode()
        await outbox.stage(self._session, self._audit_topic, key, event.SerializeToString())

    async def announce(self, record: OutgoingRecord) -> None:
        """An event of this zone's bus, published once the change is committed."""
        await outbox.stage(self._session, record.topic, record.key, record.value, record.headers)

    async def tell_neighbour(self, record: OutgoingRecord) -> None:
        """A record for the exchange, published once the change is committed."""
        await exchange_outbox.stage(self._session, record.topic, record.key, record.value, record.headers)


class AgreementStore:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        audit_topic: str,
        relays: tuple[OutboxRelay, ...],
        *,
        postgres: bool,
    ) -> None:
        self._sessions = sessions
        self._audit_topic = audit_topic
        self._relays = relays
        self._postgres = postgres

    @asynccontextmanager
    async def change(self) -> AsyncIterator[AgreementChange]:
        """A transaction, taken one at a time across replicas (one agreement per neighbour at a
        time is checked against the others): 1. the changes and their outbox rows are written;
        2. it commits (or nothing is kept, nor published); 3. the relays are woken."""
        async with self._sessions.begin() as session:
            if self._postgres:
                await session.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"{SCHEMA}:agreements"}
                )
            yield AgreementChange(session, self._audit_topic)
        for relay in self._relays:
            relay.wake()

    async def all(self) -> list[Agreement]:
        async with self._sessions() as session:
            return await AgreementChange(session, self._audit_topic).all()

    async def get(self, agreement_id: str) -> Agreement | None:
        async with self._sessions() as session:
            return await AgreementChange(session, self._audit_topic).get(agreement_id)
