"""Audit's schema history (Alembic): `anpr migrate audit` runs it as the owner role, which owns the
tables and their append-only triggers; the runtime role may only INSERT and SELECT. The service
checks at start that its schema is at its head (anpr_core.migrations)."""

from __future__ import annotations

from pathlib import Path

from anpr_audit.adapters.tables import RUNTIME_PRIVILEGES, SCHEMA, metadata
from anpr_core.migrations import SchemaHistory

HISTORY = SchemaHistory(
    service="audit",
    schema=SCHEMA,
    metadata=metadata,
    directory=Path(__file__).parent,
    privileges=RUNTIME_PRIVILEGES,
)
