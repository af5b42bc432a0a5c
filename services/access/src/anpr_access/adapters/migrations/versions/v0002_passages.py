"""Passages (one vehicle passing one camera: its reads fused) and the reads each one fused; each
read's passage (reads.passage_id: null for reads stored before, which belong to none); the
confusable classes the stored plate keys were made with. Tolerant of a database that a build
between 442a33f and migrations already gave them.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa

from anpr_core.migrations import add_columns, create_or_complete

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_metadata = sa.MetaData(schema="access")
_time = sa.DateTime(timezone=True)

passages = sa.Table(
    "passages",
    _metadata,
    sa.Column("passage_id", sa.String(128), primary_key=True),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("zone_id", sa.String(32), nullable=False),
    sa.Column("camera_id", sa.String(64), nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("first_seen", _time, nullable=False),
    sa.Column("last_seen", _time, nullable=False),
    sa.Column("plate", sa.String(16), nullable=False),
    sa.Column("plate_key", sa.String(16), nullable=False),
    sa.Column("formatted", sa.String(32), nullable=False),
    sa.Column("country", sa.String(2), nullable=False),
    sa.Column("confidence", sa.Float, nullable=False),
    sa.Column("read_count", sa.Integer, nullable=False),
    sa.Column("stored_at", _time, nullable=False),
    sa.Index("passages_plate_time", "plate", "first_seen"),
    sa.Index("passages_plate_key_time", "plate_key", "first_seen"),
    sa.Index("passages_camera_time", "camera_id", "first_seen"),
    sa.Index("passages_time", "first_seen"),
)

passage_reads = sa.Table(
    "passage_reads",
    _metadata,
    sa.Column("read_id", sa.String(36), primary_key=True),
    sa.Column("passage_id", sa.String(128), nullable=False),
    sa.Column("first_seen", _time, nullable=False),
    sa.Index("passage_reads_passage", "passage_id"),
    sa.Index("passage_reads_time", "first_seen"),
)

plate_key_classes = sa.Table(
    "plate_key_classes",
    _metadata,
    sa.Column("singleton", sa.Integer, primary_key=True),
    sa.Column("classes", sa.JSON, nullable=False),
    sa.Column("keyed_at", _time, nullable=False),
)


def upgrade() -> None:
    # On PostgreSQL the column reaches every month partition of the table.
    add_columns("reads", "access", sa.Column("passage_id", sa.String(128), nullable=True))
    create_or_complete(passages, passage_reads, plate_key_classes)
