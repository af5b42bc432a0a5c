"""The one writer that extends the chain: appends audit events to `audit.audit_log`.

Replicas must not fork the chain. Every append transaction takes one PostgreSQL
transaction-level advisory lock, then reads the head and inserts after it, so appends are
serialised across replicas (and across partitions of the audit topic) while reads stay
concurrent. Without the lock two replicas could read the same head and both link to it: two
rows with one previous_hash, a fork. Partition-per-replica ordering would not help, since the
chain is one total order over every partition; a SERIALIZABLE transaction would detect the
race only after the fact and abort whole batches. The lock is cheap because one lock covers a
whole polled batch. On SQLite (embedded, one process) the database lock serialises.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from anpr.v1 import audit_pb2
from anpr_audit.adapters.columns import canonical_bytes, occurred_us, row_columns
from anpr_audit.adapters.tables import APPEND_LOCK, LOG_COLUMNS, SCHEMA, audit_log
from anpr_audit.domain.chain import GENESIS, link_hash, micros
from anpr_core.db import is_postgres
from anpr_core.events import utcnow

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class AuditAppender:
    """Appends to the chain; takes the engine of the runtime role (INSERT and SELECT only)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._postgres = is_postgres(engine)

    async def _begin_append(self, conn: AsyncConnection) -> None:
        if self._postgres:
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": APPEND_LOCK})

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
                "audit_log", schema_name=SCHEMA, columns=LOG_COLUMNS, records=rows
            )
            return
        await conn.execute(audit_log.insert(), [dict(zip(LOG_COLUMNS, row, strict=True)) for row in rows])
