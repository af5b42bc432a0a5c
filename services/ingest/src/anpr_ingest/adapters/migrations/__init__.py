"""Ingest's schema history (Alembic): `anpr migrate ingest` runs it as the owner role; the service
checks at start that its schema is at its head (anpr_core.migrations)."""

from __future__ import annotations

from pathlib import Path

from anpr_core.migrations import SchemaHistory
from anpr_ingest.adapters.tables import SCHEMA, metadata

HISTORY = SchemaHistory(service="ingest", schema=SCHEMA, metadata=metadata, directory=Path(__file__).parent)
