"""Share's tables, as the service came (after release 442a33f, before migrations): the agreements
with neighbour zones and two outboxes, one for this zone's bus and one for the exchange. A database
a build before migrations made is adopted as it is; an empty one gets them.

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

_metadata = sa.MetaData(schema="share")
_time = sa.DateTime(timezone=True)

agreements = sa.Table(
    "agreements",
    _metadata,
    sa.Column("agreement_id", sa.String(36), primary_key=True),
    sa.Column("partner_zone", sa.String(32), nullable=False),
    sa.Column("reference", sa.String(200), nullable=False),
    sa.Column("legal_basis", sa.Text, nullable=False),
    sa.Column("valid_from", _time, nullable=False),
    sa.Column("valid_until", _time, nullable=True),
    sa.Column("reads_camera_ids", sa.JSON, nullable=False),
    sa.Column("reads_border", sa.Boolean, nullable=False),
    sa.Column("reads_fields", sa.JSON, nullable=False),
    sa.Column("hotlist_lists", sa.JSON, nullable=False),
    sa.Column("hotlist_categories", sa.JSON, nullable=False),
    sa.Column("inbound_reads", sa.Boolean, nullable=False),
    sa.Column("inbound_hotlists", sa.Boolean, nullable=False),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", _time, nullable=False),
    sa.Column("updated_at", _time, nullable=False),
    sa.Column("revoked_at", _time, nullable=True),
    sa.Column("revoked_by", sa.String(200), nullable=False),
    sa.Column("revocation_reason", sa.Text, nullable=False),
    sa.Index("agreements_partner", "partner_zone"),
)


def _outbox(name: str) -> sa.Table:
    table = sa.Table(
        name,
        _metadata,
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("key", sa.LargeBinary, nullable=True),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.Column("headers", sa.LargeBinary, nullable=True),
        sa.Column("staged_at", _time, nullable=False),
        sa.Column("sent_at", _time, nullable=True),
    )
    unsent = table.c.sent_at.is_(None)
    sa.Index(f"ix_{name}_unsent", table.c.id, postgresql_where=unsent, sqlite_where=unsent)
    return table


def upgrade() -> None:
    create_or_complete(agreements, _outbox("outbox"), _outbox("exchange_outbox"))
