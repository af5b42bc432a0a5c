"""The audit log: its appender, and its reads: the head, the chain streamed for verification and
export, the signed checkpoints kept beside it, and the auditor's search.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select

from anpr_audit.adapters.appender import AuditAppender
from anpr_audit.adapters.tables import audit_log, checkpoints
from anpr_audit.domain.chain import GENESIS, ChainRow, StoredRow, from_micros, micros
from anpr_audit.domain.checkpoints import Checkpoint, newest
from anpr_audit.domain.verification import ChainCheck, Verification

# ChainRow's order. extract() gives numeric since PostgreSQL 14, so the microseconds are exact.
_VERIFY_QUERY = (
    "SELECT seq, (extract(epoch FROM appended_at) * 1000000)::bigint, content, previous_hash, row_hash, "
    "(extract(epoch FROM occurred_at) * 1000000)::bigint, event_id, actor_user, actor_role, action, "
    "service, outcome, case_reference "
    "FROM audit.audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3"
)


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


class AuditLog(AuditAppender):
    """The whole log on one engine: the appender, and every read of the chain and its checkpoints."""

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
