"""The append-only audit tables (schema `audit`); the triggers that keep them so are made with them
by the owner role, in the schema's history (migrations/, `anpr migrate audit`).

The service's runtime role may only INSERT and SELECT these tables and owns none of them (the
owner role, ANPR_DATABASE_OWNER_URL, created them and their triggers), so it can neither change a
row nor switch the triggers off. The triggers stop the owner by accident; the chain, the signed
checkpoints and their anchors outside the database catch the owner, or a restored backup, on
purpose.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
)

from anpr_core.db import UtcDateTime

SCHEMA = "audit"
metadata = MetaData(schema=SCHEMA)
# Arbitrary constant shared by every replica: the lock that serialises chain appends.
APPEND_LOCK = 0x5C41D0A1
# What the runtime role may do with the audit tables: nothing else (granted by the owner role).
RUNTIME_PRIVILEGES = ("SELECT", "INSERT")

audit_log = Table(
    "audit_log",
    metadata,
    # Assigned by the appender under the lock: contiguous, so a missing row is a gap.
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("occurred_at", UtcDateTime(), nullable=False),
    Column("appended_at", UtcDateTime(), nullable=False, index=True),
    Column("actor_user", String(200), nullable=False),
    Column("actor_role", String(32), nullable=False),
    Column("action", String(32), nullable=False, index=True),
    Column("service", String(32), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("case_reference", String(100), nullable=False, index=True),
    Column("content", LargeBinary, nullable=False),
    Column("previous_hash", String(64), nullable=False),
    Column("row_hash", String(64), nullable=False),
)
Index("ix_audit_log_actor_user", audit_log.c.actor_user)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("head_hash", String(64), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("signature", LargeBinary, nullable=False),
)

# The columns of audit_log, in the order the appender writes them.
LOG_COLUMNS = (
    "seq",
    "event_id",
    "occurred_at",
    "appended_at",
    "actor_user",
    "actor_role",
    "action",
    "service",
    "outcome",
    "case_reference",
    "content",
    "previous_hash",
    "row_hash",
)
