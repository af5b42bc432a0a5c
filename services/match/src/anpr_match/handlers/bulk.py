"""The hotlist in bulk: a CSV import (every line checked first, then all stored and announced in
one transaction, or nothing) and an export (a disclosure: stated, audited)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from anpr_core.auth import Principal
from anpr_core.events import utcnow
from anpr_core.ids import event_ids
from anpr_match.domain.entries import HotlistEntry
from anpr_match.domain.errors import Invalid
from anpr_match.domain.hotlist_csv import parse_import
from anpr_match.domain.operators import Justification
from anpr_match.handlers.context import HotlistPorts
from anpr_match.handlers.looks import record_look

# Entries indexed here at a time after the commit, between which requests and consumers run.
INDEX_CHUNK = 10_000


@dataclass(frozen=True)
class Imported:
    count: int
    lists: list[str]


class _CollectorPause:
    """Keeps Python's cycle collector off a bulk import's million long-lived entries.

    Paused while they are built, then they are frozen (left out of collections) until the import
    is done: each collection would otherwise walk every one of them again, some 6 s of a
    million-line import. Reference counting frees as usual meanwhile, and cycles made elsewhere
    are collected once the collector resumes. Imports at the same time nest.
    """

    def __init__(self) -> None:
        self._depth = 0
        self._resume = False

    @contextlib.contextmanager
    def __call__(self) -> Iterator[Callable[[], None]]:
        if self._depth == 0:
            self._resume = gc.isenabled()
        gc.disable()
        self._depth += 1
        try:
            yield self._built
        finally:
            self._depth -= 1
            if self._depth == 0:
                gc.unfreeze()
                if self._resume:
                    gc.enable()

    def _built(self) -> None:
        """The long-lived objects exist: freeze them and let the collector see only newer ones."""
        gc.freeze()
        if self._resume and self._depth == 1:
            gc.enable()


_collector_paused = _CollectorPause()


async def import_hotlist(ports: HotlistPorts, principal: Principal, text: str) -> Imported:
    """All or nothing: every line is checked first; one bad line and nothing is imported."""
    # A neighbour zone's shared lists take no imports: only that zone adds to them.
    lists = {rules.name: rules for rules in await ports.hotlists.lists() if not rules.owner_zone}
    # Whole milliseconds, as the entries' UUIDv7 ids (made after it) have: an entry without a
    # start starts when it was entered, not a fraction of a millisecond after.
    now = utcnow()
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    with _collector_paused() as built:
        parsed = await asyncio.to_thread(
            parse_import,
            text,
            lists,
            now=now,
            source_zone=ports.zone_id,
            entered_by=principal.subject,
            new_id=event_ids().__next__,
        )
        built()
        if parsed.error_count:
            count = parsed.error_count
            raise Invalid(
                f"{count} line(s) are invalid and nothing was imported; correct them and retry",
                title="Invalid CSV",
                errors=[{"line": e.line, "reason": e.reason} for e in parsed.errors],
                error_count=parsed.error_count,
            )
        return await _import(ports, parsed.entries, principal, now)


async def _import(
    ports: HotlistPorts, entries: list[HotlistEntry], principal: Principal, now: datetime
) -> Imported:
    """Stores, announces and indexes checked entries, all or nothing."""
    names = sorted({e.list_name for e in entries})
    # 1. one transaction: every row stored (COPY on PostgreSQL), an event for each staged in the
    # outbox (marked as indexed by this replica) and the import's audit record; 2. commit: all or
    # nothing, so no replica ever indexes an entry that is not stored; 3. the relay publishes.
    async with ports.hotlists.change() as change:
        await change.add_imported(entries, now)
        await change.audit(
            ports.audit.event(
                principal,
                "hotlist_change",
                query={"op": "import", "lists": names, "count": len(entries)},
                record_ids=[e.entry_id for e in entries],
            )
        )
    # This replica indexes now rather than waiting for its own records to come back.
    for start in range(0, len(entries), INDEX_CHUNK):
        for entry in entries[start : start + INDEX_CHUNK]:
            ports.pipeline.on_entry(entry)
        await asyncio.sleep(0)
    return Imported(len(entries), names)


async def export_hotlist(
    ports: HotlistPorts, principal: Principal, why: Justification, list_name: str | None
) -> list[HotlistEntry]:
    """The entries to export: a disclosure, so it states why (purpose), for what (case_reference)
    and to whom (recipient), and is audited as an export with every entry's id."""
    recipients = [why.recipient or principal.subject]
    query: dict[str, Any] = {"what": "hotlist", "list_name": list_name or "*"}
    missing = why.missing_for_export()
    if missing:
        reason = f"an export of the hotlist needs its {' and '.join(missing)}"
        await record_look(
            ports.audit,
            principal,
            "export",
            why,
            query,
            outcome="refused",
            detail=reason,
            recipients=recipients,
        )
        raise Invalid(f"{reason}; give them and retry", title="Export refused")
    entries = await ports.hotlists.export(list_name)
    await record_look(
        ports.audit,
        principal,
        "export",
        why,
        {**query, "count": len(entries)},
        [e.entry_id for e in entries],
        recipients=recipients,
    )
    return entries
