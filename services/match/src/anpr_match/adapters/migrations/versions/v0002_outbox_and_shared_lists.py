"""The outbox of hotlist changes (published by the relay), and neighbour zones' shared lists: whose
list it is (hotlists.owner_zone) and whose list a hit was on (hits.source_zone), "" for this zone's
own. Tolerant of a database that a build between 442a33f and migrations already gave them.

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

_time = sa.DateTime(timezone=True)

outbox = sa.Table(
    "outbox",
    sa.MetaData(schema="match"),
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
    sa.Column("topic", sa.String(255), nullable=False),
    sa.Column("key", sa.LargeBinary, nullable=True),
    sa.Column("value", sa.LargeBinary, nullable=False),
    sa.Column("headers", sa.LargeBinary, nullable=True),
    sa.Column("staged_at", _time, nullable=False),
    sa.Column("sent_at", _time, nullable=True),
)
_unsent = outbox.c.sent_at.is_(None)
sa.Index("ix_outbox_unsent", outbox.c.id, postgresql_where=_unsent, sqlite_where=_unsent)


def upgrade() -> None:
    create_or_complete(outbox)
    add_columns(
        "hotlists", "match", sa.Column("owner_zone", sa.String(32), nullable=False, server_default="")
    )
    add_columns("hits", "match", sa.Column("source_zone", sa.String(32), nullable=False, server_default=""))
