"""Match's tables (schema `match`): hotlists and their rules, entries as entered, hits as raised,
and the outbox of hotlist changes. Their history is in migrations/; the models and its head agree."""

from __future__ import annotations

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
)

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
