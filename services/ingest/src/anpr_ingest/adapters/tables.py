"""Ingest's tables (schema `ingest`): the camera register, the intake dedupe table, and the vehicles
vendor cameras track (Axis's carID). Their history is in migrations/; the models and its head agree."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    false,
    true,
)

from anpr_core.db import UtcDateTime

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
    # The vendor format a smart camera pushes ("" for the platform's own API), and the IANA time zone
    # its local times are in. Registers of earlier versions got both with these defaults (migration 0002).
    Column("vendor", String(16), nullable=False, server_default=""),
    Column("time_zone", String(64), nullable=False, server_default="Europe/Brussels"),
    # Digest's H(camera:realm:key), written with the key and cleared with it; "" (cameras registered
    # before: until their key is rotated) means Digest is not possible.
    Column("digest_ha1_md5", String(32), nullable=False, server_default=""),
    Column("digest_ha1_sha256", String(64), nullable=False, server_default=""),
    # The region of interest ([x, y] corners in frame pixels) and expected plate width; NULL: the
    # whole frame, any width (migration 0003).
    Column("region", JSON(), nullable=True),
    Column("min_plate_width", Integer(), nullable=True),
    Column("max_plate_width", Integer(), nullable=True),
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


# Vehicles a vendor camera reported under its own id (Axis's carID): that one of their reads was
# published, so that the LOST event repeating it later adds no passage. Kept for minutes.
vendor_tracks = Table(
    "vendor_tracks",
    metadata,
    Column("camera_id", String(64), nullable=False),
    Column("track", String(64), nullable=False),
    Column("last_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("camera_id", "track"),
    Index("ix_vendor_tracks_last_at", "last_at"),
)
