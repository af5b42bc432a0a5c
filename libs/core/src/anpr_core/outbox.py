"""The transactional outbox: an event is staged in the same transaction as the change it reports,
and a relay publishes it afterwards, so the change and the event happen both or neither.

Usage in a service whose action is also a database change:

    outbox = Outbox(metadata)                       # an `outbox` table in the service's schema
    async with sessions.begin() as session:
        session.add(entry)                          # the change
        await outbox.stage(session, topic, key, event.SerializeToString())
    relay = OutboxRelay(engine, outbox, bus, service="match")   # started in the lifespan

Delivery is at-least-once: a relay that dies after publishing and before marking the rows sent
publishes them again, so consumers must be idempotent on event_id (as every sink here is).
A bulk change stages its events with `stage_many` (COPY on PostgreSQL), in the same transaction.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from anpr_core.bus import Bus, OutgoingRecord
from anpr_core.db import UtcDateTime, is_postgres
from anpr_core.events import utcnow
from anpr_core.metrics import OUTBOX_PENDING, OUTBOX_PUBLISHED

log = logging.getLogger(__name__)


class Outbox:
    """The outbox table of one service (in that service's metadata, so in its schema)."""

    def __init__(self, metadata: MetaData, name: str = "outbox") -> None:
        self.table = Table(
            name,
            metadata,
            Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
            Column("topic", String(255), nullable=False),
            Column("key", LargeBinary, nullable=True),
            Column("value", LargeBinary, nullable=False),
            # The record's headers (encode_headers); null for none.
            Column("headers", LargeBinary, nullable=True),
            Column("staged_at", UtcDateTime(), nullable=False),
            Column("sent_at", UtcDateTime(), nullable=True),
        )
        unsent = self.table.c.sent_at.is_(None)
        Index(f"ix_{name}_unsent", self.table.c.id, postgresql_where=unsent, sqlite_where=unsent)

    async def stage(
        self,
        session: AsyncSession | AsyncConnection,
        topic: str,
        key: bytes | None,
        value: bytes,
        headers: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        """Adds the event to the caller's transaction; it is published only if that transaction commits."""
        await session.execute(
            self.table.insert().values(
                topic=topic, key=key, value=value, headers=encode_headers(headers), staged_at=utcnow()
            )
        )

    async def stage_many(
        self, session: AsyncSession, records: Sequence[OutgoingRecord], chunk: int = 20_000
    ) -> None:
        """Adds many events to the caller's transaction, in their order: COPY on PostgreSQL, the
        driver's executemany on SQLite (a bulk import stages a million)."""
        staged_at = utcnow()
        # A batch's records mostly share their headers: each distinct set is encoded once.
        encoded: dict[tuple[tuple[str, bytes], ...], bytes | None] = {}

        def row(record: OutgoingRecord, stamp: Any) -> tuple[Any, ...]:
            if record.headers not in encoded:
                encoded[record.headers] = encode_headers(record.headers)
            return (record.topic, record.key, record.value, encoded[record.headers], stamp)

        columns = ("topic", "key", "value", "headers", "staged_at")
        connection = await session.connection()
        if connection.dialect.name == "postgresql":
            # The driver opens the transaction at the first statement SQLAlchemy sends; COPY goes
            # to the driver directly, and would commit alone as the transaction's first statement.
            await connection.exec_driver_sql("SELECT 1")
            raw = await connection.get_raw_connection()
            driver: Any = raw.driver_connection

            async def rows() -> AsyncIterator[tuple[Any, ...]]:
                for start in range(0, len(records), chunk):
                    for record in records[start : start + chunk]:
                        yield row(record, staged_at)
                    await asyncio.sleep(0)  # other requests and consumers run between chunks

            try:
                await driver.copy_records_to_table(
                    self.table.name, schema_name=self.table.schema, columns=list(columns), records=rows()
                )
            except Exception as error:
                # As SQLAlchemy reports the driver's failures everywhere else (so callers, and the
                # services' answers, tell a passing failure from a refusal the same way).
                raise DBAPIError(f"COPY {self.table.name}", None, error) from error
            return
        # SQLite keeps times as naive UTC text, as UtcDateTime has SQLAlchemy write them.
        stamp = staged_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        statement = (
            f"INSERT INTO {self.table.name} ({', '.join(columns)}) "  # noqa: S608 - our own names
            f"VALUES ({', '.join('?' for _ in columns)})"
        )
        for start in range(0, len(records), chunk):
            await connection.exec_driver_sql(
                statement, [row(record, stamp) for record in records[start : start + chunk]]
            )

    async def pending(self, engine: AsyncEngine) -> int:
        async with engine.connect() as conn:
            query = select(func.count()).select_from(self.table).where(self.table.c.sent_at.is_(None))
            return int((await conn.execute(query)).scalar_one())


class OutboxRelay:
    """Publishes staged rows in order and marks them sent; several replicas may run one each.

    On PostgreSQL a relay locks the batch it takes (FOR UPDATE SKIP LOCKED), so another relay
    never waits on it nor takes the same rows; and it publishes only when its batch starts at
    the oldest unsent row, so a second relay cannot overtake the first and reorder events.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        outbox: Outbox,
        bus: Bus,
        *,
        service: str,
        batch: int = 500,
        interval_s: float = 0.2,
        keep_sent: timedelta = timedelta(days=1),
    ) -> None:
        self._engine = engine
        self._table = outbox.table
        self._outbox = outbox
        self._bus = bus
        self._service = service
        self._batch = batch
        self._interval_s = interval_s
        self._keep_sent = keep_sent
        self._postgres = is_postgres(engine)
        self._local = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def relay_once(self) -> int:
        """Publishes one batch; returns how many rows it published (0: nothing to do, or not our turn)."""
        table = self._table
        async with self._local, self._engine.begin() as conn:
            query: Any = (
                select(table.c.id, table.c.topic, table.c.key, table.c.value, table.c.headers)
                .where(table.c.sent_at.is_(None))
                .order_by(table.c.id)
                .limit(self._batch)
            )
            if self._postgres:
                query = query.with_for_update(skip_locked=True)
            rows = (await conn.execute(query)).all()
            if not rows:
                return 0
            if self._postgres:
                oldest = (
                    await conn.execute(select(func.min(table.c.id)).where(table.c.sent_at.is_(None)))
                ).scalar_one()
                if oldest is not None and oldest < rows[0].id:
                    return 0  # another relay holds older rows; publishing ours now would reorder
            # A batch's rows mostly share their headers: each distinct set is decoded once.
            headers = functools.lru_cache(maxsize=64)(decode_headers)
            # 1. publish in order and wait for every acknowledgement; 2. mark the rows sent;
            # 3. commit. A crash between 1 and 3 leaves them unsent: they are published again.
            await self._bus.publish_many(
                [OutgoingRecord(r.topic, r.key, r.value, headers(r.headers)) for r in rows]
            )
            await conn.execute(
                update(table).where(table.c.id.in_([r.id for r in rows])).values(sent_at=utcnow())
            )
        OUTBOX_PUBLISHED.labels(self._service).inc(len(rows))
        return len(rows)

    async def drain(self) -> int:
        """Publishes until nothing is left that this relay may publish."""
        total = 0
        while published := await self.relay_once():
            total += published
        return total

    async def purge_sent(self) -> int:
        """Deletes rows published longer ago than `keep_sent`; the topic is the record now."""
        cutoff = utcnow() - self._keep_sent
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(self._table).where(self._table.c.sent_at.is_not(None), self._table.c.sent_at < cutoff)
            )
        return int(result.rowcount or 0)

    def wake(self) -> None:
        """Asks the relay to look now (after a commit that staged something) rather than at its interval."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay:{self._service}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        rounds = 0
        while True:
            # Cleared before looking, so a wake() that arrives while draining is not lost.
            self._wake.clear()
            try:
                await self.drain()
                rounds += 1
                if rounds % 1000 == 0:
                    await self.purge_sent()
                OUTBOX_PENDING.labels(self._service).set(await self._outbox.pending(self._engine))
            except Exception:
                # The rows stay staged; the next round publishes them (the bus may be down).
                log.exception("outbox relay of %s failed; retrying", self._service)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval_s)


def encode_headers(headers: Sequence[tuple[str, bytes]]) -> bytes | None:
    """A record's headers as stored in the outbox: JSON pairs of name and base64 value; None for none."""
    if not headers:
        return None
    return json.dumps([[name, base64.b64encode(value).decode()] for name, value in headers]).encode()


def decode_headers(stored: bytes | None) -> tuple[tuple[str, bytes], ...]:
    if not stored:
        return ()
    return tuple((str(name), base64.b64decode(value)) for name, value in json.loads(stored))
