"""The append-only audit table (schema `audit`) and the one writer that extends the chain.

Replicas must not fork the chain: every append takes a PostgreSQL transaction-level advisory
lock, reads the head and inserts after it, so appends are serialised across replicas while
reads stay concurrent. It is simpler than one-partition consumers and keeps working when the
audit topic has several partitions. On SQLite (embedded, one process) the database lock serialises.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    func,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from anpr.v1 import audit_pb2
from anpr_audit.chain import GENESIS, ChainRow, link_hash
from anpr_core.db import UtcDateTime, is_postgres
from anpr_core.events import from_timestamp, utcnow

SCHEMA = "audit"
metadata = MetaData(schema=SCHEMA)
# Arbitrary constant shared by every replica: the lock that serialises chain appends.
_APPEND_LOCK = 0x5C41D0A1

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("appended_at", UtcDateTime(), nullable=False),
    Column("actor_user", String(200), nullable=False),
    Column("actor_role", String(32), nullable=False),
    Column("action", String(32), nullable=False, index=True),
    Column("service", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("case_reference", String(100), nullable=False, index=True),
    Column("content", LargeBinary, nullable=False),
    Column("previous_hash", String(64), nullable=False),
    Column("row_hash", String(64), nullable=False),
)

_APPEND_ONLY_DDL = [
    f"""
    CREATE OR REPLACE FUNCTION {SCHEMA}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP;
    END $$
    """,
    f"DROP TRIGGER IF EXISTS audit_log_no_update ON {SCHEMA}.audit_log",
    f"""CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON {SCHEMA}.audit_log
        FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.refuse_change()""",
    f"DROP TRIGGER IF EXISTS audit_log_no_truncate ON {SCHEMA}.audit_log",
    f"""CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON {SCHEMA}.audit_log
        FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.refuse_change()""",
]


async def install_append_only_guards(engine: AsyncEngine) -> None:
    if not is_postgres(engine):
        return
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _APPEND_LOCK})
        for statement in _APPEND_ONLY_DDL:
            await conn.execute(text(statement))


def canonical_bytes(event: audit_pb2.AuditEvent) -> bytes:
    return event.SerializeToString(deterministic=True)


@dataclass(frozen=True)
class AuditRow:
    seq: int
    event_id: str
    occurred_at: datetime
    actor_user: str
    actor_role: str
    action: str
    service: str
    outcome: str
    case_reference: str
    row_hash: str


class AuditLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions: async_sessionmaker[AsyncSession] = async_sessionmaker(engine, expire_on_commit=False)

    async def append(self, event: audit_pb2.AuditEvent) -> bool:
        """Appends the event to the chain; False when its event_id is already there (redelivery)."""
        content = canonical_bytes(event)
        async with self._sessions.begin() as session:
            if is_postgres(self._engine):
                await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _APPEND_LOCK})
            exists = await session.execute(
                select(audit_log.c.seq).where(audit_log.c.event_id == event.meta.event_id)
            )
            if exists.first() is not None:
                return False
            head = await session.execute(
                select(audit_log.c.row_hash).order_by(audit_log.c.seq.desc()).limit(1)
            )
            previous = head.scalar_one_or_none() or GENESIS
            await session.execute(
                audit_log.insert().values(
                    event_id=event.meta.event_id,
                    occurred_at=from_timestamp(event.meta.occurred_at),
                    appended_at=utcnow(),
                    actor_user=event.actor.user_id,
                    actor_role=event.actor.role,
                    action=event.action,
                    service=event.service,
                    outcome=event.outcome,
                    case_reference=event.case_reference,
                    content=content,
                    previous_hash=previous,
                    row_hash=link_hash(previous, content),
                )
            )
        return True

    async def chain_rows(self, batch: int = 5000, after_seq: int = 0) -> AsyncIterator[ChainRow]:
        """Streams the chain in order from `after_seq`, in batches, without holding it all in memory."""
        last_seq = after_seq
        while True:
            async with self._sessions() as session:
                rows = (
                    await session.execute(
                        select(
                            audit_log.c.seq,
                            audit_log.c.content,
                            audit_log.c.previous_hash,
                            audit_log.c.row_hash,
                        )
                        .where(audit_log.c.seq > last_seq)
                        .order_by(audit_log.c.seq)
                        .limit(batch)
                    )
                ).all()
            if not rows:
                return
            for row in rows:
                yield ChainRow(
                    seq=row.seq, content=row.content, previous_hash=row.previous_hash, row_hash=row.row_hash
                )
            last_seq = rows[-1].seq

    async def search(
        self,
        *,
        actor: str | None,
        action: str | None,
        case_reference: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int,
    ) -> Sequence[AuditRow]:
        query = select(
            audit_log.c.seq,
            audit_log.c.event_id,
            audit_log.c.occurred_at,
            audit_log.c.actor_user,
            audit_log.c.actor_role,
            audit_log.c.action,
            audit_log.c.service,
            audit_log.c.outcome,
            audit_log.c.case_reference,
            audit_log.c.row_hash,
        )
        if actor:
            query = query.where(audit_log.c.actor_user == actor)
        if action:
            query = query.where(audit_log.c.action == action)
        if case_reference:
            query = query.where(audit_log.c.case_reference == case_reference)
        if since:
            query = query.where(audit_log.c.occurred_at >= since)
        if until:
            query = query.where(audit_log.c.occurred_at < until)
        async with self._sessions() as session:
            rows = (await session.execute(query.order_by(audit_log.c.seq).limit(limit))).all()
        return [AuditRow(**row._mapping) for row in rows]

    async def count(self) -> int:
        async with self._sessions() as session:
            return int((await session.execute(select(func.count()).select_from(audit_log))).scalar_one())
