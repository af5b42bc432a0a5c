"""Stored plate keys follow the zone's confusable classes: when the classes differ from those the
keys were made with, every key is made again, in SQL, at start.

The keys are made from the stored plate, which is normalised text (A-Z, 0-9: what detect, ingest
and a rectification store), so replacing each confusable character by its class representative in
SQL gives what Confusables.key gives in Python.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_access.adapters.tables import passages, plate_key_classes, reads
from anpr_core.db import is_postgres
from anpr_core.plates import DEFAULT_CONFUSABLE_CLASSES, Confusables

_log = logging.getLogger(__name__)
# Every table holding a plate and its key.
KEYED_TABLES: tuple[Table, ...] = (reads, passages)


def canonical_sql(column: Any, confusables: Confusables) -> Any:
    """The SQL expression of Confusables.canonical over a column of normalised plates."""
    expression = column
    for group in confusables.classes:
        for character in group[1:]:
            expression = func.replace(expression, character, group[0])
    return expression


async def rekey_plates(engine: AsyncEngine, confusables: Confusables, now: datetime) -> bool:
    """Makes every stored key again when `confusables` are not the classes the keys were made with
    (no record: the defaults, which access used before the classes were a setting). True if it did."""
    wanted = list(confusables.classes)
    async with engine.begin() as conn:
        if is_postgres(engine):
            # Replicas starting together re-key once, one after the other sees the new record.
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('access:plate-keys'))"))
        stored = await conn.scalar(select(plate_key_classes.c.classes))
        made_with = list(stored) if stored is not None else list(DEFAULT_CONFUSABLE_CLASSES)
        changed = made_with != wanted
        if changed:
            for table in KEYED_TABLES:
                result = await conn.execute(
                    update(table).values(plate_key=canonical_sql(table.c.plate, confusables))
                )
                _log.info(
                    "confusable classes changed: %d plate keys of %s made again", result.rowcount, table.name
                )
        if changed or stored is None:
            await conn.execute(delete(plate_key_classes))
            await conn.execute(insert(plate_key_classes).values(singleton=1, classes=wanted, keyed_at=now))
    return changed
