"""Match's tables as the last release before migrations (442a33f) made them at start: hotlists,
their entries and the hits. A database that release made is adopted as it is; an empty one gets them.

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

_metadata = sa.MetaData(schema="match")
_time = sa.DateTime(timezone=True)

hotlists = sa.Table(
    "hotlists",
    _metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("max_substitutions", sa.Integer, nullable=False),
    sa.Column("allow_edit", sa.Boolean, nullable=False),
    sa.Column("directions", sa.String(16), nullable=False),
    sa.Column("active_from", sa.String(5), nullable=True),
    sa.Column("active_until", sa.String(5), nullable=True),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("camera_ids", sa.Text, nullable=False),
    sa.Column("description", sa.String(500), nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", _time, nullable=False),
    sa.Column("updated_at", _time, nullable=False),
)

hotlist_entries = sa.Table(
    "hotlist_entries",
    _metadata,
    sa.Column("entry_id", sa.String(36), primary_key=True),
    sa.Column("plate", sa.String(16), nullable=False),
    sa.Column("country", sa.String(2), nullable=False),
    sa.Column("list_name", sa.String(64), nullable=False),
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("action", sa.String(200), nullable=False),
    sa.Column("valid_from", _time, nullable=False),
    sa.Column("valid_until", _time, nullable=True),
    sa.Column("source_zone", sa.String(32), nullable=False),
    sa.Column("reason", sa.String(500), nullable=False),
    sa.Column("case_reference", sa.String(100), nullable=False),
    sa.Column("entered_by", sa.String(200), nullable=False),
    sa.Column("created_at", _time, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Index("ix_match_hotlist_entries_plate", "plate"),
    sa.Index("ix_match_hotlist_entries_list_name", "list_name"),
)

hits = sa.Table(
    "hits",
    _metadata,
    sa.Column("hit_id", sa.String(36), primary_key=True),
    sa.Column("read_event_id", sa.String(36), nullable=False),
    sa.Column("entry_id", sa.String(36), nullable=False),
    sa.Column("camera_id", sa.String(64), nullable=False),
    sa.Column("captured_at", _time, nullable=False),
    sa.Column("plate_read", sa.String(16), nullable=False),
    sa.Column("plate_listed", sa.String(16), nullable=False),
    sa.Column("match_kind", sa.String(16), nullable=False),
    sa.Column("differing_positions", sa.String(64), nullable=False),
    sa.Column("score", sa.Float, nullable=False),
    sa.Column("list_name", sa.String(64), nullable=False),
    sa.Column("category", sa.String(32), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("action", sa.String(200), nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("from_lookback", sa.Boolean, nullable=False),
    sa.Column("created_at", _time, nullable=False),
    sa.Column("ack_outcome", sa.String(16), nullable=True),
    sa.Column("ack_reason", sa.String(500), nullable=True),
    sa.Column("ack_by", sa.String(200), nullable=True),
    sa.Column("ack_at", _time, nullable=True),
    sa.UniqueConstraint("read_event_id", "entry_id", name="hits_one_per_read_and_entry"),
    sa.Index("ix_match_hits_captured_at", "captured_at"),
    sa.Index("hits_by_list_and_camera", "list_name", "camera_id"),
)


def upgrade() -> None:
    create_or_complete(hotlists, hotlist_entries, hits)
