"""The intake dedupe table: which event id each accepted frame or read got, claimed once per batch."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

from sqlalchemy import delete, false, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from anpr_core.db import is_postgres
from anpr_ingest.adapters.tables import intake_dedupe
from anpr_ingest.domain.intake import IntakeEntry


class IntakeClaims:
    """The dedupe claims of one batch, in a transaction still open (see IntakeDedupe.claim_batch)."""

    def __init__(self, connection: AsyncConnection, originals: dict[str, str]) -> None:
        self._connection = connection
        self._originals = originals

    def original(self, entry: IntakeEntry) -> str | None:
        """None when this batch owns the entry (the caller publishes it), else the event id under
        which the broker already holds it."""
        return self._originals.get(entry.event_id)

    async def keep_unconfirmed(self, entries: Sequence[IntakeEntry]) -> None:
        """Marks claims whose publish did not end in an acknowledgement: the record may still reach
        Kafka, so the claim stays, but a resend is published again (same event id) instead of being
        answered as a duplicate."""
        if not entries:
            return
        await self._connection.execute(
            update(intake_dedupe)
            .where(
                tuple_(intake_dedupe.c.camera_id, intake_dedupe.c.captured_at, intake_dedupe.c.sha256).in_(
                    [(e.camera_id, e.captured_at, e.sha256) for e in entries]
                )
            )
            .values(published=False)
        )


class IntakeDedupe:
    """Remembers which event id each accepted frame or read got, for the dedupe window."""

    def __init__(self, engine: AsyncEngine) -> None:
        # SQLAlchemy Core on a connection of its own pool: one claim per batch, no ORM session.
        self._engine = engine
        insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        claim = insert(intake_dedupe)
        # Executed with a list of rows: one multi-row INSERT, compiled once for every batch size. A
        # new key is inserted; a key left unconfirmed is taken over (its row locked, marked as if
        # published); both come back. An acknowledged key is left alone and does not come back.
        self._claim = claim.on_conflict_do_update(
            index_elements=[intake_dedupe.c.camera_id, intake_dedupe.c.captured_at, intake_dedupe.c.sha256],
            set_={"published": True, "event_id": claim.excluded.event_id},
            where=intake_dedupe.c.published == false(),
        ).returning(intake_dedupe.c.event_id)

    @asynccontextmanager
    async def claim_batch(self, entries: Sequence[IntakeEntry]) -> AsyncIterator[IntakeClaims]:
        """Claims every entry in one transaction, held open while the caller publishes the new ones.

        One INSERT ... ON CONFLICT DO UPDATE ... WHERE NOT published RETURNING for the whole batch,
        each row written as published (the caller marks what the broker did not acknowledge,
        before the commit). The entries it did not return are held by Kafka already, and their
        first event id is looked up. A second replica's insert of the same key waits on this
        transaction, then sees an acknowledged row (a duplicate), or an unconfirmed one, which it
        takes over and publishes again. Rows go in key order, so two batches never wait on each other
        in a cycle. Entries must have distinct keys. A taken-over row gets the entry's event id,
        which is the one it had: event ids are derived from the key and the zone
        (anpr_ingest.domain.event_ids.intake_event_id). An exception inside rolls everything back.
        """
        rows = [
            {
                "camera_id": e.camera_id,
                "captured_at": e.captured_at,
                "sha256": e.sha256,
                "event_id": e.event_id,
                "created_at": e.created_at,
                "published": True,
            }
            for e in sorted(entries, key=lambda e: e.key)
        ]
        async with self._engine.begin() as connection:
            claimed = set((await connection.execute(self._claim, rows)).scalars())
            originals: dict[str, str] = {}
            for entry in entries:
                if entry.event_id in claimed:
                    continue
                original = (
                    await connection.execute(
                        select(intake_dedupe.c.event_id).where(
                            intake_dedupe.c.camera_id == entry.camera_id,
                            intake_dedupe.c.captured_at == entry.captured_at,
                            intake_dedupe.c.sha256 == entry.sha256,
                        )
                    )
                ).scalar_one()
                originals[entry.event_id] = str(original)
            yield IntakeClaims(connection, originals)

    async def forget_before(self, cutoff: datetime) -> int:
        """Drops entries older than the dedupe window; returns how many went."""
        async with self._engine.begin() as connection:
            result = await connection.execute(
                delete(intake_dedupe).where(intake_dedupe.c.created_at < cutoff)
            )
        return int(getattr(result, "rowcount", 0) or 0)


def intake_engine_of(engine: AsyncEngine, pool_size: int) -> AsyncEngine:
    """PostgreSQL: a pool of its own for dedupe claims, held while the broker acknowledges a frame.
    SQLite (embedded) has one writer anyway and keeps the one engine."""
    if not is_postgres(engine):
        return engine
    # No ping before each checkout (a round trip per frame); connections are recycled instead, and
    # a dead one fails the claim, which answers 503 so the camera sends the frame again.
    # synchronous_commit off for these claims only: a claim's commit no longer waits for its WAL
    # flush, which stalls behind the broker's writes on a shared disk (the frame itself is durable
    # in Kafka, acks=all, before the claim commits). A claim lost in a database crash can only
    # let the camera's retry publish the frame twice: at-least-once, as everywhere else.
    return create_async_engine(
        engine.url,
        pool_size=pool_size,
        max_overflow=pool_size // 4,
        pool_recycle=300,
        connect_args={"server_settings": {"synchronous_commit": "off"}},
    )
