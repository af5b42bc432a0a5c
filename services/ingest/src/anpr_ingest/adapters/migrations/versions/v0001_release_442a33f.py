"""Ingest's tables as the last release before migrations (442a33f) made them at start: the camera
register and the intake dedupe table. A database that release made is adopted as it is (what an
older one lacks is added); an empty one gets them.

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

_metadata = sa.MetaData(schema="ingest")
_time = sa.DateTime(timezone=True)

cameras = sa.Table(
    "cameras",
    _metadata,
    sa.Column("camera_id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("direction", sa.String(8), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("api_key_hash", sa.String(64), nullable=False),
    sa.Column("created_at", _time, nullable=False),
    sa.Column("last_seen_at", _time, nullable=True),
    sa.Column("kind", sa.String(8), nullable=False, server_default="frame"),
    sa.Column("latitude", sa.Float(), nullable=True),
    sa.Column("longitude", sa.Float(), nullable=True),
    sa.Column("road", sa.String(200), nullable=False, server_default=""),
    sa.Column("zone_id", sa.String(32), nullable=False, server_default=""),
    sa.Column("border_camera", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("neighbour_zone_id", sa.String(32), nullable=True),
    sa.Column("approval_reference", sa.String(200), nullable=False, server_default=""),
    sa.Column("approval_date", sa.Date(), nullable=True),
    sa.Column("sign_latitude", sa.Float(), nullable=True),
    sa.Column("sign_longitude", sa.Float(), nullable=True),
    sa.Column("sign_description", sa.String(500), nullable=False, server_default=""),
    sa.Column("impact_analysis_reference", sa.String(200), nullable=False, server_default=""),
    sa.Column("updated_at", _time, nullable=True),
)

intake_dedupe = sa.Table(
    "intake_dedupe",
    _metadata,
    sa.Column("camera_id", sa.String(64), nullable=False),
    sa.Column("captured_at", _time, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("created_at", _time, nullable=False),
    # Rows of releases before it were all acknowledged by the broker.
    sa.Column("published", sa.Boolean(), nullable=False, server_default=sa.true()),
    sa.PrimaryKeyConstraint("camera_id", "captured_at", "sha256"),
    sa.Index("ix_intake_dedupe_created_at", "created_at"),
)


def upgrade() -> None:
    create_or_complete(cameras, intake_dedupe)
