"""Access's tables (schema `access`).

On PostgreSQL `reads` is RANGE-partitioned by month on captured_at. A primary key of a
partitioned table must contain the partition column, so the key is (event_id, captured_at).
Idempotency still rests on event_id alone: a read's captured_at is part of the event and never
changes, so a redelivered read carries the same pair and `ON CONFLICT DO NOTHING` skips it.
SQLite (embedded) keeps one table with the same columns and key.

A passage (one vehicle passing one camera) is a row of `passages`; `passage_reads` lists the reads
it fused, so a read that arrives after its passage finds it, and `reads.passage_id` links each read
to its passage once both are stored. Passages are small rows without images, deleted an hour's
worth at a time by the hourly retention run: they are not partitioned.
"""

from __future__ import annotations

from datetime import datetime, timedelta

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
    Text,
)

from anpr_core.db import UtcDateTime

SCHEMA = "access"
metadata = MetaData(schema=SCHEMA)

reads = Table(
    "reads",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("captured_at", UtcDateTime(), primary_key=True),
    Column("zone_id", String(32), nullable=False),
    Column("camera_id", String(64), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("plate", String(16), nullable=False),
    # The plate with each character replaced by its confusable class representative
    # (anpr_core.plates.Confusables.key, the zone's classes): fuzzy search is an indexed lookup.
    Column("plate_key", String(16), nullable=False),
    Column("formatted", String(32), nullable=False),
    Column("country", String(2), nullable=False),
    Column("format_valid", Boolean, nullable=False),
    Column("confidence", Float, nullable=False),
    Column("candidates", JSON, nullable=False),
    Column("box", JSON, nullable=False),
    Column("frame_event_id", String(36), nullable=False, server_default=""),
    Column("camera_read", Boolean, nullable=False),
    Column("reader", String(64), nullable=False),
    Column("plate_crop", LargeBinary, nullable=True),
    Column("overview", LargeBinary, nullable=True),
    Column("stored_at", UtcDateTime(), nullable=False),
    # The stored passage the read belongs to; None until both are stored (or where none was formed).
    Column("passage_id", String(128), nullable=True),
    Index("reads_plate_time", "plate", "captured_at"),
    Index("reads_plate_key_time", "plate_key", "captured_at"),
    Index("reads_camera_time", "camera_id", "captured_at"),
    postgresql_partition_by="RANGE (captured_at)",
)

passages = Table(
    "passages",
    metadata,
    # The camera and its first read's id (detect): the same when the same reads are fused again.
    Column("passage_id", String(128), primary_key=True),
    Column("event_id", String(36), nullable=False),
    Column("zone_id", String(32), nullable=False),
    Column("camera_id", String(64), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("first_seen", UtcDateTime(), nullable=False),
    Column("last_seen", UtcDateTime(), nullable=False),
    # The consensus of the reads, and its key (as reads.plate_key).
    Column("plate", String(16), nullable=False),
    Column("plate_key", String(16), nullable=False),
    Column("formatted", String(32), nullable=False),
    Column("country", String(2), nullable=False),
    Column("confidence", Float, nullable=False),
    Column("read_count", Integer, nullable=False),
    Column("stored_at", UtcDateTime(), nullable=False),
    Index("passages_plate_time", "plate", "first_seen"),
    Index("passages_plate_key_time", "plate_key", "first_seen"),
    Index("passages_camera_time", "camera_id", "first_seen"),
    Index("passages_time", "first_seen"),
)

passage_reads = Table(
    "passage_reads",
    metadata,
    # A read joins one passage: the first passage stored that names it keeps it.
    Column("read_id", String(36), primary_key=True),
    Column("passage_id", String(128), nullable=False),
    Column("first_seen", UtcDateTime(), nullable=False),
    Index("passage_reads_passage", "passage_id"),
    Index("passage_reads_time", "first_seen"),
)

hits = Table(
    "hits",
    metadata,
    Column("hit_id", String(36), primary_key=True),
    Column("zone_id", String(32), nullable=False, server_default=""),
    Column("read_event_id", String(36), nullable=False, index=True),
    Column("entry_id", String(36), nullable=False),
    Column("camera_id", String(64), nullable=False),
    Column("captured_at", UtcDateTime(), nullable=False),
    Column("plate_listed", String(16), nullable=False),
    Column("match_kind", String(16), nullable=False),
    Column("list_name", String(64), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("stored_at", UtcDateTime(), nullable=False),
    Index("hits_zone_time", "zone_id", "captured_at"),
)

# A legal hold keeps a case's records past retention (and refuses their erasure) until lifted.
holds = Table(
    "holds",
    metadata,
    Column("hold_id", String(36), primary_key=True),
    Column("case_reference", String(100), nullable=False),
    Column("plate", String(16), nullable=True),
    Column("since", UtcDateTime(), nullable=True),
    Column("until", UtcDateTime(), nullable=True),
    Column("reason", Text, nullable=False),
    Column("decided_by", String(128), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("lifted_at", UtcDateTime(), nullable=True),
    Column("lifted_by", String(128), nullable=True),
    Column("lift_reason", Text, nullable=True),
)

dpo_requests = Table(
    "dpo_requests",
    metadata,
    Column("request_id", String(36), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("requester", String(200), nullable=False),
    Column("plate", String(16), nullable=False),
    Column("since", UtcDateTime(), nullable=False),
    Column("until", UtcDateTime(), nullable=False),
    Column("camera_id", String(64), nullable=True),
    Column("place", String(200), nullable=False),
    Column("details", Text, nullable=False),
    Column("corrected_plate", String(16), nullable=True),
    Column("registered_at", UtcDateTime(), nullable=False),
    Column("deadline", UtcDateTime(), nullable=False),
    Column("located_ids", JSON, nullable=False),
    Column("decision", String(16), nullable=True),
    Column("decision_reasons", Text, nullable=True),
    Column("decided_ids", JSON, nullable=True),
    Column("outcome", Text, nullable=True),
    Column("updated_at", UtcDateTime(), nullable=False),
)


# The confusable classes the stored plate keys were made with (one row): a zone that changes its
# classes gets its keys made again at start (adapters/plate_keys.py), never stale keys.
plate_key_classes = Table(
    "plate_key_classes",
    metadata,
    Column("singleton", Integer, primary_key=True),
    Column("classes", JSON, nullable=False),
    Column("keyed_at", UtcDateTime(), nullable=False),
)


# A passage's first and last seen come from its reads' capture times through floating-point seconds
# (detect): a microsecond off either way. The bounds only narrow where the reads are looked for.
_SLACK = timedelta(seconds=1)


def time_bounds(first_seen: datetime, last_seen: datetime) -> tuple[datetime, datetime]:
    """Bounds that hold every read of a passage seen from first_seen to last_seen."""
    return first_seen - _SLACK, last_seen + _SLACK
