"""Access's schema history (Alembic): `anpr migrate access` runs it as the owner role; the service
checks at start that its schema is at its head (anpr_core.migrations). The month partitions of
access.reads are not in it: the owner makes them as the data needs them (adapters/partitions.py)."""

from __future__ import annotations

from pathlib import Path

from anpr_access.adapters.tables import SCHEMA, metadata
from anpr_core.migrations import SchemaHistory

HISTORY = SchemaHistory(
    service="access",
    schema=SCHEMA,
    metadata=metadata,
    directory=Path(__file__).parent,
    unmodelled=("reads_p",),
)
