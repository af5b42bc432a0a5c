"""Share's tables (schema `share`): the agreements, and two outboxes, one per bus: the events of
this zone (audit records, the end of a neighbour's lists for match) and those of the exchange (the
end of this zone's lists, for the neighbour)."""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, Index, MetaData, String, Table, Text

from anpr_core.db import UtcDateTime
from anpr_core.outbox import Outbox

SCHEMA = "share"
metadata = MetaData(schema=SCHEMA)

agreements = Table(
    "agreements",
    metadata,
    Column("agreement_id", String(36), primary_key=True),
    Column("partner_zone", String(32), nullable=False),
    Column("reference", String(200), nullable=False),
    Column("legal_basis", Text, nullable=False),
    Column("valid_from", UtcDateTime(), nullable=False),
    Column("valid_until", UtcDateTime(), nullable=True),
    # What is shared out: reads of these cameras (JSON list) and of every border camera shared with
    # the neighbour (reads_border), minimised to reads_fields (JSON list); entries of these lists
    # and categories (JSON lists).
    Column("reads_camera_ids", JSON, nullable=False),
    Column("reads_border", Boolean, nullable=False),
    Column("reads_fields", JSON, nullable=False),
    Column("hotlist_lists", JSON, nullable=False),
    Column("hotlist_categories", JSON, nullable=False),
    # What is taken in from the neighbour.
    Column("inbound_reads", Boolean, nullable=False),
    Column("inbound_hotlists", Boolean, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Column("revoked_at", UtcDateTime(), nullable=True),
    Column("revoked_by", String(200), nullable=False, default=""),
    Column("revocation_reason", Text, nullable=False, default=""),
    Index("agreements_partner", "partner_zone"),
)

# Events of this zone's bus (audit records of agreement changes, the end of a neighbour's lists).
outbox = Outbox(metadata)
# Records for the exchange (the end of this zone's lists, told to the neighbour).
exchange_outbox = Outbox(metadata, name="exchange_outbox")
