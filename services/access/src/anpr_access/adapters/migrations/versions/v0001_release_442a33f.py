"""Access's tables as the last release before migrations (442a33f) made them at start: reads
(partitioned by month on PostgreSQL; the partitions are made by the service's owner engine, not
here), hits, legal holds and DPO requests. A database that release made is adopted as it is; an
empty one gets them.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa

from anpr_core.migrations import create_or_complete

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_metadata = sa.MetaData(schema="access")
_time = sa.DateTime(timezone=True)

reads = sa.Table(
    "reads",
    _metadata,
    sa.Column("event_id", sa.String(36), primary_key=True),
    sa.Column("captured_at", _time, primary_key=True),
    sa.Column("zone_id", sa.String(32), nullable=False),
    sa.Column("camera_id", sa.String(64), nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("plate", sa.String(16), nullable=False),
    sa.Column("plate_key", sa.String(16), nullable=False),
    sa.Column("formatted", sa.String(32), nullable=False),
    sa.Column("country", sa.String(2), nullable=False),
    sa.Column("format_valid", sa.Boolean, nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("candidates", sa.JSON, nullable=False),
    sa.Column("box", sa.JSON, nullable=False),
    sa.Column("frame_event_id", sa.String(36), nullable=False, server_default=""),
    sa.Column("camera_read", sa.Boolean, nullable=False),
    sa.Column("reader", sa.String(64), nullable=False),
    sa.Column("plate_crop", sa.LargeBinary, nullable=True),
    sa.Column("overview", sa.LargeBinary, nullable=True),
    sa.Column("stored_at", _time, nullable=False),
    sa.Index("reads_plate_time", "plate", "captured_at"),
    sa.Index("reads_plate_key_time", "plate_key", "captured_at"),
    sa.Index("reads_camera_time", "camera_id", "captured_at"),
    postgresql_partition_by="RANGE (captured_at)",
)

hits = sa.Table(
    "hits",
    _metadata,
    sa.Column("hit_id", sa.String(36), primary_key=True),
    sa.Column("zone_id", sa.String(32), nullable=False, server_default=""),
    sa.Column("read_event_id", sa.String(36), nullable=False),
    sa.Column("entry_id", sa.String(36), nullable=False),
    sa.Column("camera_id", sa.String(64), nullable=False),
    sa.Column("captured_at", _time, nullable=False),
    sa.Column("plate_listed", sa.String(16), nullable=False),
    sa.Column("match_kind", sa.String(16), nullable=False),
    sa.Column("list_name", sa.String(64), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("stored_at", _time, nullable=False),
    sa.Index("ix_access_hits_read_event_id", "read_event_id"),
    sa.Index("hits_zone_time", "zone_id", "captured_at"),
)

holds = sa.Table(
    "holds",
    _metadata,
    sa.Column("hold_id", sa.String(36), primary_key=True),
    sa.Column("case_reference", sa.String(100), nullable=False),
    sa.Column("plate", sa.String(16), nullable=True),
    sa.Column("since", _time, nullable=True),
    sa.Column("until", _time, nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("decided_by", sa.String(128), nullable=False),
    sa.Column("created_at", _time, nullable=False),
    sa.Column("lifted_at", _time, nullable=True),
    sa.Column("lifted_by", sa.String(128), nullable=True),
    sa.Column("lift_reason", sa.Text, nullable=True),
)

dpo_requests = sa.Table(
    "dpo_requests",
    _metadata,
    sa.Column("request_id", sa.String(36), primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("requester", sa.String(200), nullable=False),
    sa.Column("plate", sa.String(16), nullable=False),
    sa.Column("since", _time, nullable=False),
    sa.Column("until", _time, nullable=False),
    sa.Column("camera_id", sa.String(64), nullable=True),
    sa.Column("place", sa.String(200), nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("corrected_plate", sa.String(16), nullable=True),
    sa.Column("registered_at", _time, nullable=False),
    sa.Column("deadline", _time, nullable=False),
    sa.Column("located_ids", sa.JSON, nullable=False),
    sa.Column("decision", sa.String(16), nullable=True),
    sa.Column("decision_reasons", sa.Text, nullable=True),
    sa.Column("decided_ids", sa.JSON, nullable=True),
    sa.Column("outcome", sa.Text, nullable=True),
    sa.Column("updated_at", _time, nullable=False),
)


def upgrade() -> None:
    create_or_complete(reads, hits, holds, dpo_requests)
