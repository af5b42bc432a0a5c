"""Match's tables (schema `match`): hotlists and their rules, entries as entered, hits as raised,
and the outbox of hotlist changes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_core.db import UtcDateTime
from anpr_core.outbox import Outbox

SCHEMA = "match"
metadata = MetaData(schema=SCHEMA)

hotlists = Table(
    "hotlists",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("category", String(32), nullable=False),
    Column("max_substitutions", Integer, nullable=False),
    Column("allow_edit", Boolean, nullable=False),
    # Comma-separated; empty = any.
    Column("directions", String(16), nullable=False, default=""),
    Column("active_from", String(5), nullable=True),
    Column("active_until", String(5), nullable=True),
    Column("timezone", String(64), nullable=False),
    Column("camera_ids", Text, nullable=False, default=""),
    Column("description", String(500), nullable=False, default=""),
    # A neighbour zone's shared list (only that zone changes it); "" for this zone's own.
    Column("owner_zone", String(32), nullable=False, server_default=""),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

hotlist_entries = Table(
    "hotlist_entries",
    metadata,
    Column("entry_id", String(36), primary_key=True),
    Column("plate", String(16), nullable=False, index=True),
    Column("country", String(2), nullable=False, default=""),
    Column("list_name", String(64), nullable=False, index=True),
    Column("category", String(32), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("action", String(200), nullable=False),
    Column("valid_from", UtcDateTime(), nullable=False),
    Column("valid_until", UtcDateTime(), nullable=True),
    Column("source_zone", String(32), nullable=False),
    Column("reason", String(500), nullable=False),
    Column("case_reference", String(100), nullable=False),
    Column("entered_by", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
)

# The column order of a bulk import row (see `store_new_entries`).
ENTRY_COLUMNS: tuple[str, ...] = tuple(c.name for c in hotlist_entries.columns)

hits = Table(
    "hits",
    metadata,
    Column("hit_id", String(36), primary_key=True),
    Column("read_event_id", String(36), nullable=False),
    Column("entry_id", String(36), nullable=False),
    Column("camera_id", String(64), nullable=False),
    Column("captured_at", UtcDateTime(), nullable=False, index=True),
    Column("plate_read", String(16), nullable=False),
    Column("plate_listed", String(16), nullable=False),
    Column("match_kind", String(16), nullable=False),
    # Comma-separated 0-based positions in the listed plate.
    Column("differing_positions", String(64), nullable=False, default=""),
    Column("score", Float, nullable=False),
    Column("list_name", String(64), nullable=False),
    Column("category", String(32), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("action", String(200), nullable=False),
    Column("direction", String(8), nullable=False, default="unknown"),
    Column("from_lookback", Boolean, nullable=False, default=False),
    # The neighbour zone whose shared list was hit; "" for this zone's own lists.
    Column("source_zone", String(32), nullable=False, server_default=""),
    Column("created_at", UtcDateTime(), nullable=False),
    # The operator's verdict: confirmed, false_alarm or not_seen; null until acknowledged.
    Column("ack_outcome", String(16), nullable=True),
    Column("ack_reason", String(500), nullable=True),
    Column("ack_by", String(200), nullable=True),
    Column("ack_at", UtcDateTime(), nullable=True),
    UniqueConstraint("read_event_id", "entry_id", name="hits_one_per_read_and_entry"),
    Index("hits_by_list_and_camera", "list_name", "camera_id"),
)

# Hotlist changes staged in the transaction that makes them; the relay publishes them.
outbox = Outbox(metadata)


async def add_missing_columns(engine: AsyncEngine) -> list[str]:
    """Adds the columns tables of an earlier version lack (each with a default), so an existing
    database or var/match.db keeps working: hotlists.owner_zone, hits.source_zone."""

    def upgrade(connection: Any) -> list[str]:
        # On SQLite the schema is translated away (anpr_core.db).
        schema = SCHEMA if connection.dialect.name == "postgresql" else None
        added = []
        for table, column in ((hotlists, hotlists.c.owner_zone), (hits, hits.c.source_zone)):
            present = {c["name"] for c in inspect(connection).get_columns(table.name, schema=schema)}
            if column.name in present:
                continue
            name = f"{schema}.{table.name}" if schema else table.name
            kind = column.type.compile(connection.dialect)
            connection.execute(
                text(f"ALTER TABLE {name} ADD COLUMN {column.name} {kind} NOT NULL DEFAULT ''")
            )
            added.append(f"{table.name}.{column.name}")
        return added

    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Replicas starting together: one adds them, the others find them there.
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": f"schema:{SCHEMA}"}
            )
        return await connection.run_sync(upgrade)
