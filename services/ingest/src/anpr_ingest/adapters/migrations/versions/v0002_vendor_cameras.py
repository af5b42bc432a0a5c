"""Vendor cameras: each camera's vendor format, the time zone of its local times and its Digest
hashes; the vehicles a vendor camera tracks (vendor_tracks). Tolerant of a database that a build
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

vendor_tracks = sa.Table(
    "vendor_tracks",
    sa.MetaData(schema="ingest"),
    sa.Column("camera_id", sa.String(64), nullable=False),
    sa.Column("track", sa.String(64), nullable=False),
    sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("camera_id", "track"),
    sa.Index("ix_vendor_tracks_last_at", "last_at"),
)


def upgrade() -> None:
    # Cameras registered before: their own API's format, Brussels time, no Digest until a new key.
    add_columns(
        "cameras",
        "ingest",
        sa.Column("vendor", sa.String(16), nullable=False, server_default=""),
        sa.Column("time_zone", sa.String(64), nullable=False, server_default="Europe/Brussels"),
        sa.Column("digest_ha1_md5", sa.String(32), nullable=False, server_default=""),
        sa.Column("digest_ha1_sha256", sa.String(64), nullable=False, server_default=""),
    )
    create_or_complete(vendor_tracks)
