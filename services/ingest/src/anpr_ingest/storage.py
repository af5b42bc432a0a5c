"""Ingest's tables (schema `ingest`): the camera register and the intake dedupe table."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Float,
    Index,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    delete,
    false,
    inspect,
    select,
    text,
    true,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from anpr_core.db import UtcDateTime, insert_ignoring_duplicates
from anpr_ingest.domain.cameras import Camera

SCHEMA = "ingest"
metadata = MetaData(schema=SCHEMA)

cameras = Table(
    "cameras",
    metadata,
    Column("camera_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    # SHA-256 of the camera's key; empty after revocation, which no key matches.
    Column("api_key_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("last_seen_at", UtcDateTime(), nullable=True),
    Column("kind", String(8), nullable=False, server_default="frame"),
    Column("latitude", Float(), nullable=True),
    Column("longitude", Float(), nullable=True),
    Column("road", String(200), nullable=False, server_default=""),
    Column("zone_id", String(32), nullable=False, server_default=""),
    Column("border_camera", Boolean(), nullable=False, server_default=false()),
    Column("neighbour_zone_id", String(32), nullable=True),
    Column("approval_reference", String(200), nullable=False, server_default=""),
    Column("approval_date", Date(), nullable=True),
    Column("sign_latitude", Float(), nullable=True),
    Column("sign_longitude", Float(), nullable=True),
    Column("sign_description", String(500), nullable=False, server_default=""),
    Column("impact_analysis_reference", String(200), nullable=False, server_default=""),
    Column("updated_at", UtcDateTime(), nullable=True),
)

# One row per frame or read handed to the broker: (camera, captured_at, content digest) -> the event
# id it got, and whether the broker acknowledged it. The primary key is the unique constraint that
# makes two replicas racing on one frame publish once.
intake_dedupe = Table(
    "intake_dedupe",
    metadata,
    Column("camera_id", String(64), nullable=False),
    Column("captured_at", UtcDateTime(), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # False while the outcome of its publish is unknown (the broker did not acknowledge in time, or
    # errored: the record may still reach Kafka). A resend then publishes again, with the same event
    # id, instead of being answered as a duplicate. Rows of earlier versions were all acknowledged.
    Column("published", Boolean(), nullable=False, server_default=true()),
    PrimaryKeyConstraint("camera_id", "captured_at", "sha256"),
    Index("ix_intake_dedupe_created_at", "created_at"),
)


async def add_missing_columns(engine: AsyncEngine) -> list[str]:
    """Adds the columns that tables made by an earlier version lack (each has a server default or is
    nullable), so an existing database or `var/ingest.db` keeps working."""

    def upgrade(connection: Any) -> list[str]:
        # On SQLite the schema is translated away (anpr_core.db), so the table has no schema there.
        schema = SCHEMA if connection.dialect.name == "postgresql" else None
        added = []
        for table in (cameras, intake_dedupe):
            name = f"{schema}.{table.name}" if schema else table.name
            present = {c["name"] for c in inspect(connection).get_columns(table.name, schema=schema)}
            for column in table.columns:
                if column.name in present:
                    continue
                ddl = f"{column.name} {column.type.compile(connection.dialect)}"
                if column.server_default is not None:
                    default = column.server_default.arg  # type: ignore[attr-defined]
                    literal = (
                        default.compile(dialect=connection.dialect)
                        if hasattr(default, "compile")
                        else f"'{default}'"
                    )
                    ddl += f" NOT NULL DEFAULT {literal}"
                connection.execute(text(f"ALTER TABLE {name} ADD COLUMN {ddl}"))
                added.append(f"{table.name}.{column.name}")
        return added

    async with engine.begin() as connection:
        return await connection.run_sync(upgrade)


class CameraRegister:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def get(self, camera_id: str) -> Camera | None:
        async with self._sessions() as session:
            row = (await session.execute(select(cameras).where(cameras.c.camera_id == camera_id))).first()
        return Camera(**row._mapping) if row else None

    async def list(self) -> list[Camera]:
        async with self._sessions() as session:
            rows = (await session.execute(select(cameras).order_by(cameras.c.camera_id))).all()
        return [Camera(**row._mapping) for row in rows]

    async def add(self, camera: Camera) -> bool:
        """Adds the camera; False when the id is taken (also when another replica just took it)."""
        async with self._sessions.begin() as session:
            return await insert_ignoring_duplicates(session, cameras, [dataclasses.asdict(camera)]) == 1

    async def save(self, camera: Camera) -> None:
        """Writes every field but the key hash and last-seen time, which have their own writers."""
        fields = dataclasses.asdict(camera)
        for own_writer in ("camera_id", "api_key_hash", "last_seen_at", "created_at"):
            fields.pop(own_writer)
        async with self._sessions.begin() as session:
            await session.execute(
                update(cameras).where(cameras.c.camera_id == camera.camera_id).values(**fields)
            )

    async def set_key_hash(self, camera_id: str, api_key_hash: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(cameras).where(cameras.c.camera_id == camera_id).values(api_key_hash=api_key_hash)
            )

    async def touch(self, camera_id: str, seen_at: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(cameras)
                .where(cameras.c.camera_id == camera_id)
                .where((cameras.c.last_seen_at.is_(None)) | (cameras.c.last_seen_at < seen_at))
                .values(last_seen_at=seen_at)
            )


@dataclass(frozen=True, slots=True)
class IntakeEntry:
    """One accepted frame or read as the dedupe table keeps it."""

    camera_id: str
    captured_at: datetime
    sha256: str
    event_id: str
    created_at: datetime

    @property
    def key(self) -> tuple[str, float, str]:
        """The dedupe key; the capture time as a POSIX timestamp, so offsets do not matter."""
        return (self.camera_id, self.captured_at.timestamp(), self.sha256)


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
