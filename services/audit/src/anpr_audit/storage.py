"""The append-only audit tables (schema `audit`) and the one writer that extends the chain.

Replicas must not fork the chain. Every append transaction takes one PostgreSQL
transaction-level advisory lock, then reads the head and inserts after it, so appends are
serialised across replicas (and across partitions of the audit topic) while reads stay
concurrent. Without the lock two replicas could read the same head and both link to it: two
rows with one previous_hash, a fork. Partition-per-replica ordering would not help, since the
chain is one total order over every partition; a SERIALIZABLE transaction would detect the
race only after the fact and abort whole batches. The lock is cheap because one lock covers a
whole polled batch. On SQLite (embedded, one process) the database lock serialises.

The service's runtime role may only INSERT and SELECT these tables and owns none of them (the
owner role, ANPR_DATABASE_OWNER_URL, created them and their triggers), so it can neither change a
row nor switch the triggers off. The triggers stop the owner by accident; the chain, the signed
checkpoints and their anchors outside the database catch the owner, or a restored backup, on
purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    func,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from anpr.v1 import audit_pb2
from anpr_audit.columns import canonical_bytes, occurred_us, row_columns
from anpr_audit.domain.chain import GENESIS, ChainRow, StoredRow, from_micros, link_hash, micros
from anpr_audit.domain.checkpoints import Checkpoint, newest
from anpr_audit.domain.verification import ChainCheck, Verification
from anpr_core.db import UtcDateTime, is_postgres
from anpr_core.events import utcnow

log = logging.getLogger(__name__)

SCHEMA = "audit"
metadata = MetaData(schema=SCHEMA)
# Arbitrary constant shared by every replica: the lock that serialises chain appends.
_APPEND_LOCK = 0x5C41D0A1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# ChainRow's order. extract() gives numeric since PostgreSQL 14, so the microseconds are exact.
_VERIFY_QUERY = (
    "SELECT seq, (extract(epoch FROM appended_at) * 1000000)::bigint, content, previous_hash, row_hash, "
    "(extract(epoch FROM occurred_at) * 1000000)::bigint, event_id, actor_user, actor_role, action, "
    "service, outcome, case_reference "
    "FROM audit.audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3"
)
# What the runtime role may do with the audit tables: nothing else (granted by the owner role).
RUNTIME_PRIVILEGES = ("SELECT", "INSERT")

audit_log = Table(
    "audit_log",
    metadata,
    # Assigned by the appender under the lock: contiguous, so a missing row is a gap.
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("appended_at", UtcDateTime(), nullable=False, index=True),
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
Index("ix_audit_log_actor_user", audit_log.c.actor_user)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("head_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("signature", LargeBinary, nullable=False),
)

_COLUMNS = (
    "seq",
    "event_id",
    "occurred_at",
    "appended_at",
    "actor_user",
    "actor_role",
    "action",
    "service",
    "outcome",
    "case_reference",
    "content",
    "previous_hash",
    "row_hash",
)


def _append_only_ddl(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_update ON {SCHEMA}.{table}",
        f"""CREATE TRIGGER {table}_no_update BEFORE UPDATE OR DELETE ON {SCHEMA}.{table}
            FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.refuse_change()""",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {SCHEMA}.{table}",
        f"""CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {SCHEMA}.{table}
            FOR EACH STATEMENT EXECUTE FUNCTION {SCHEMA}.refuse_change()""",
    ]


_APPEND_ONLY_DDL = [
    f"""
    CREATE OR REPLACE FUNCTION {SCHEMA}.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP;
    END $$
    """,
    *_append_only_ddl("audit_log"),
    *_append_only_ddl("checkpoints"),
]


async def install_append_only_guards(engine: AsyncEngine) -> None:
    if not is_postgres(engine):
        return
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _APPEND_LOCK})
        for statement in _APPEND_ONLY_DDL:
            await conn.execute(text(statement))


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


def _checkpoint(row: Any) -> Checkpoint:
    return Checkpoint(
        row.seq, row.head_hash, micros(row.created_at), row.key_id, bytes(row.signature), "database"
    )


class AuditLog:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._postgres = is_postgres(engine)

    async def _begin_append(self, conn: AsyncConnection) -> None:
        if self._postgres:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _APPEND_LOCK})

    async def append(self, event: audit_pb2.AuditEvent) -> bool:
        """Appends the event to the chain; False when its event_id is already there (redelivery)."""
        return len(await self.append_batch([event])) == 1

    async def append_batch(self, events: Sequence[audit_pb2.AuditEvent]) -> list[audit_pb2.AuditEvent]:
        """Appends the events in order, in one transaction; returns those that were new.

        Idempotent on event_id: an event already in the log (or earlier in the batch) is skipped,
        so a redelivered batch neither duplicates a row nor breaks the chain.
        """
        if not events:
            return []
        appended: list[audit_pb2.AuditEvent] = []
        async with self._engine.begin() as conn:
            # 1. serialise with every other appender; 2. drop what is already there;
            # 3. read the head; 4. link and insert; the commit releases the lock.
            await self._begin_append(conn)
            ids = list({event.meta.event_id: None for event in events})
            present = await self._present(conn, ids)
            head = (
                await conn.execute(
                    select(audit_log.c.seq, audit_log.c.row_hash, audit_log.c.appended_at)
                    .order_by(audit_log.c.seq.desc())
                    .limit(1)
                )
            ).first()
            seq, previous = (head.seq, head.row_hash) if head else (0, GENESIS)
            # Never earlier than the head, so time order is seq order even across replicas' clocks.
            appended_at = max(utcnow(), head.appended_at) if head else utcnow()
            appended_us = micros(appended_at)
            rows: list[tuple[Any, ...]] = []
            seen = present
            for event in events:
                event_id = event.meta.event_id
                if event_id in seen:
                    continue
                seen.add(event_id)
                content = canonical_bytes(event)
                happened_us = occurred_us(event)
                columns = row_columns(event)
                seq += 1
                row_hash = link_hash(
                    previous, seq, appended_us, content, occurred_us=happened_us, columns=columns
                )
                stored_id, actor_user, actor_role, action, service, outcome, case_reference = columns
                rows.append(
                    (
                        seq,
                        stored_id,
                        _EPOCH + timedelta(microseconds=happened_us),
                        appended_at,
                        actor_user,
                        actor_role,
                        action,
                        service,
                        outcome,
                        case_reference,
                        content,
                        previous,
                        row_hash,
                    )
                )
                previous = row_hash
                appended.append(event)
            if rows:
                await self._insert(conn, rows)
        return appended

    async def _present(self, conn: AsyncConnection, ids: list[str]) -> set[str]:
        if self._postgres:
            query = text(f"SELECT event_id FROM {SCHEMA}.audit_log WHERE event_id = ANY(:ids)")  # noqa: S608
            found = await conn.execute(query, {"ids": ids})
        else:
            found = await conn.execute(select(audit_log.c.event_id).where(audit_log.c.event_id.in_(ids)))
        return {row[0] for row in found}

    async def _insert(self, conn: AsyncConnection, rows: list[tuple[Any, ...]]) -> None:
        if self._postgres:
            # COPY: one round trip for the whole batch, the fastest way in.
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            await driver.copy_records_to_table(
                "audit_log", schema_name=SCHEMA, columns=_COLUMNS, records=rows
            )
            return
        await conn.execute(audit_log.insert(), [dict(zip(_COLUMNS, row, strict=True)) for row in rows])

    async def head(self) -> tuple[int, str]:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(audit_log.c.seq, audit_log.c.row_hash).order_by(audit_log.c.seq.desc()).limit(1)
                )
            ).first()
        return (row.seq, row.row_hash) if row else (0, GENESIS)

    async def appended_us_at(self, seq: int) -> int | None:
        async with self._engine.connect() as conn:
            found = await conn.execute(select(audit_log.c.appended_at).where(audit_log.c.seq == seq))
            value: datetime | None = found.scalar_one_or_none()
        return micros(value) if value is not None else None

    async def row_hash_at(self, seq: int) -> str | None:
        if seq == 0:
            return GENESIS
        async with self._engine.connect() as conn:
            found = await conn.execute(select(audit_log.c.row_hash).where(audit_log.c.seq == seq))
            value: str | None = found.scalar_one_or_none()
        return value

    async def seq_range(self, since: datetime | None, until: datetime | None) -> tuple[int, int] | None:
        """The first and last seq the log recorded in [since, until); None when it recorded nothing then."""
        query = select(func.min(audit_log.c.seq), func.max(audit_log.c.seq))
        if since is not None:
            query = query.where(audit_log.c.appended_at >= since)
        if until is not None:
            query = query.where(audit_log.c.appended_at < until)
        async with self._engine.connect() as conn:
            first, last = (await conn.execute(query)).one()
        return None if first is None else (int(first), int(last))

    async def stored_rows(
        self, after_seq: int = 0, last_seq: int | None = None, batch: int = 20_000
    ) -> AsyncIterator[list[StoredRow]]:
        """Streams the chain in order from `after_seq`, in batches, without holding it all in memory."""
        cursor = after_seq
        columns = (
            audit_log.c.seq,
            audit_log.c.event_id,
            audit_log.c.appended_at,
            audit_log.c.content,
            audit_log.c.previous_hash,
            audit_log.c.row_hash,
            audit_log.c.occurred_at,
            audit_log.c.actor_user,
            audit_log.c.actor_role,
            audit_log.c.action,
            audit_log.c.service,
            audit_log.c.outcome,
            audit_log.c.case_reference,
        )
        while True:
            query = select(*columns).where(audit_log.c.seq > cursor)
            if last_seq is not None:
                query = query.where(audit_log.c.seq <= last_seq)
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query.order_by(audit_log.c.seq).limit(batch))).all()
            if not rows:
                return
            yield [
                StoredRow(
                    r[0], r[1], r[2], bytes(r[3]), r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12]
                )
                for r in rows
            ]
            cursor = rows[-1][0]

    async def _chain_batches(
        self, after_seq: int, last_seq: int | None, batch: int = 25_000
    ) -> AsyncGenerator[Sequence[Sequence[Any]]]:
        """What verification reads, as plain tuples; on PostgreSQL the next batch is fetched while
        the current one is hashed, with the microseconds computed by the server (exact: numeric)."""
        if not self._postgres:
            async for rows in self.stored_rows(after_seq, last_seq, batch):
                yield [row.chain_row() for row in rows]
            return
        upper = last_seq if last_seq is not None else 2**62
        async with self._engine.connect() as conn:
            driver: Any = (await conn.get_raw_connection()).driver_connection
            statement = await driver.prepare(_VERIFY_QUERY)
            pending = asyncio.ensure_future(statement.fetch(after_seq, upper, batch))
            try:
                while True:
                    rows = await pending
                    if not rows:
                        return
                    if len(rows) == batch:
                        pending = asyncio.ensure_future(statement.fetch(rows[-1][0], upper, batch))
                    else:
                        pending = asyncio.ensure_future(asyncio.sleep(0, result=[]))
                    yield rows
            finally:
                # Stopped early (a broken row): let the prefetch end before the connection goes back.
                if not pending.done():
                    with contextlib.suppress(Exception):
                        await pending

    async def chain_rows(self, after_seq: int = 0, last_seq: int | None = None) -> AsyncIterator[ChainRow]:
        async for rows in self.stored_rows(after_seq, last_seq):
            for row in rows:
                yield row.chain_row()

    async def checkpoints(self, first_seq: int = 0, last_seq: int | None = None) -> list[Checkpoint]:
        query = select(checkpoints).where(checkpoints.c.seq >= first_seq)
        if last_seq is not None:
            query = query.where(checkpoints.c.seq <= last_seq)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.order_by(checkpoints.c.seq))).all()
        return [_checkpoint(row) for row in rows]

    async def newest_checkpoint(self) -> Checkpoint | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(checkpoints).order_by(checkpoints.c.seq.desc()).limit(1))
            ).first()
        return _checkpoint(row) if row else None

    async def add_checkpoint(self, checkpoint: Checkpoint) -> bool:
        """Stores a signed checkpoint; False when one for that seq is already there (another replica)."""
        values = {
            "seq": checkpoint.seq,
            "head_hash": checkpoint.head_hash,
            "created_at": from_micros(checkpoint.created_us),
            "key_id": checkpoint.key_id,
            "signature": checkpoint.signature,
        }
        if self._postgres:
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            statement: Any = pg_insert(checkpoints).values(values).on_conflict_do_nothing()
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            statement = sqlite_insert(checkpoints).values(values).on_conflict_do_nothing()
        async with self._engine.begin() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount)

    async def verify(
        self,
        public_key: Ed25519PublicKey,
        *,
        after_seq: int = 0,
        last_seq: int | None = None,
        expected_previous: str | None = None,
        anchors: Sequence[Checkpoint] = (),
        newest_anchor: Checkpoint | None = None,
    ) -> Verification:
        """Recomputes rows after `after_seq` (to `last_seq`) and the signed checkpoints among them,
        those of the database and `anchors` (kept outside it).

        The chain is anchored on the stored hash of row `after_seq` unless `expected_previous`
        gives one verified earlier. A signed checkpoint beyond the log's head (the database's
        newest, or `newest_anchor`) is reported as a cut, whatever the range.
        """
        start = expected_previous if expected_previous is not None else await self.row_hash_at(after_seq)
        if start is None:
            return Verification(
                False,
                0,
                after_seq,
                f"row {after_seq}, the row before the period, is missing",
                GENESIS,
                after_seq,
            )
        signed = {c.seq: c for c in await self.checkpoints(after_seq + 1, last_seq)}
        in_range = [a for a in anchors if a.seq > after_seq and (last_seq is None or a.seq <= last_seq)]
        latest = newest([await self.newest_checkpoint(), newest_anchor, newest(anchors)])
        log_head, _ = await self.head()
        check = ChainCheck(start, after_seq, signed, public_key, in_range)
        async with contextlib.aclosing(self._chain_batches(after_seq, last_seq)) as batches:
            async for rows in batches:
                if not await asyncio.to_thread(check.feed, rows):
                    break
        return check.finish(latest, log_head_seq=log_head)

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
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.order_by(audit_log.c.seq).limit(limit))).all()
        return [AuditRow(**row._mapping) for row in rows]

    async def count(self) -> int:
        async with self._engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(audit_log))).scalar_one())
