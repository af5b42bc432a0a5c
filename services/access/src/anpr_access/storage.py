"""Access's tables (schema `access`): every read with its crop, and every hit."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

from anpr_core.db import UtcDateTime

SCHEMA = "access"
metadata = MetaData(schema=SCHEMA)

reads = Table(
    "reads",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("zone_id", String(32), nullable=False),
    Column("camera_id", String(64), nullable=False),
    Column("captured_at", UtcDateTime(), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("plate", String(16), nullable=False),
    Column("formatted", String(32), nullable=False),
    Column("country", String(2), nullable=False),
    Column("format_valid", Boolean, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("candidates", JSON, nullable=False),
    Column("box", JSON, nullable=False),
    Column("camera_read", Boolean, nullable=False),
    Column("reader", String(64), nullable=False),
    Column("plate_crop", LargeBinary, nullable=True),
    Column("stored_at", UtcDateTime(), nullable=False),
    Index("reads_plate_time", "plate", "captured_at"),
    Index("reads_camera_time", "camera_id", "captured_at"),
)

hits = Table(
    "hits",
    metadata,
    Column("hit_id", String(36), primary_key=True),
    Column("read_event_id", String(36), nullable=False, index=True),
    Column("entry_id", String(36), nullable=False),
    Column("camera_id", String(64), nullable=False),
    Column("captured_at", UtcDateTime(), nullable=False),
    Column("plate_listed", String(16), nullable=False),
    Column("match_kind", String(16), nullable=False),
    Column("list_name", String(64), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("stored_at", UtcDateTime(), nullable=False),
)
