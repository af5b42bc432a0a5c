"""The audit log and its signed checkpoints as the last release before migrations (442a33f) made
them at start, with the triggers that refuse UPDATE, DELETE and TRUNCATE on both (PostgreSQL). A
database that release made is adopted as it is (its triggers made again, the same); an empty one
gets them.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from anpr_core.migrations import create_or_complete

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_metadata = sa.MetaData(schema="audit")
_time = sa.DateTime(timezone=True)

audit_log = sa.Table(
    "audit_log",
    _metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("event_id", sa.String(36), nullable=False, unique=True),
    sa.Column("occurred_at", _time, nullable=False),
    sa.Column("appended_at", _time, nullable=False),
    sa.Column("actor_user", sa.String(200), nullable=False),
    sa.Column("actor_role", sa.String(32), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("service", sa.String(32), nullable=False),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("case_reference", sa.String(100), nullable=False),
    sa.Column("content", sa.LargeBinary, nullable=False),
    sa.Column("previous_hash", sa.String(64), nullable=False),
    sa.Column("row_hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_audit_log_appended_at", "appended_at"),
    sa.Index("ix_audit_audit_log_action", "action"),
    sa.Index("ix_audit_audit_log_case_reference", "case_reference"),
    sa.Index("ix_audit_log_actor_user", "actor_user"),
)

checkpoints = sa.Table(
    "checkpoints",
    _metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("head_hash", sa.String(64), nullable=False),
    sa.Column("created_at", _time, nullable=False),
    sa.Column("key_id", sa.String(16), nullable=False),
    sa.Column("signature", sa.LargeBinary, nullable=False),
)

_REFUSE_CHANGE = """
CREATE OR REPLACE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP;
END $$
"""


def _append_only(table: str) -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_no_update ON audit.{table}",
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE OR DELETE ON audit.{table} "
        "FOR EACH ROW EXECUTE FUNCTION audit.refuse_change()",
        f"DROP TRIGGER IF EXISTS {table}_no_truncate ON audit.{table}",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON audit.{table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()",
    ]


def upgrade() -> None:
    create_or_complete(audit_log, checkpoints)
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite (embedded): no triggers; the chain and its anchors still catch a change
    for statement in (_REFUSE_CHANGE, *_append_only("audit_log"), *_append_only("checkpoints")):
        op.execute(statement)
