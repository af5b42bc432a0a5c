"""The hotlist entries' commands and reads: an entry entered, changed or ended (stored and announced
in one transaction, then audited), the entries looked at (audited)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from anpr_core.auth import Principal
from anpr_core.events import utcnow
from anpr_core.ids import new_event_id
from anpr_core.plates import normalise_plate
from anpr_match.domain.entries import Category, HotlistEntry, entered_at
from anpr_match.domain.errors import Conflict, Invalid, NotFound, OwnedElsewhere
from anpr_match.domain.operators import Justification
from anpr_match.handlers.context import HotlistPorts
from anpr_match.handlers.looks import not_found, record_look


@dataclass(frozen=True)
class EntryRequest:
    """A new entry as asked for: a normalised plate, times in UTC; the list gives what is left out."""

    plate: str
    country: str
    list_name: str
    category: Category | None
    priority: int
    action: str
    valid_from: datetime | None
    valid_until: datetime | None
    reason: str
    case_reference: str


@dataclass(frozen=True)
class EntryState:
    """An entry as answered: with whether this replica's matching index holds it yet."""

    entry: HotlistEntry
    indexed: bool


async def create_entry(ports: HotlistPorts, principal: Principal, request: EntryRequest) -> EntryState:
    rules = await ports.hotlists.rules(request.list_name)
    if rules is None:
        raise Invalid(
            f"list {request.list_name!r} does not exist; create it with POST /v1/lists", title="Unknown list"
        )
    if rules.owner_zone:
        raise OwnedElsewhere(
            f"list {request.list_name!r} is zone {rules.owner_zone}'s: only that zone adds to it"
        )
    entry_id = new_event_id()
    # Without a start, it starts when it is entered: the time its UUIDv7 id carries.
    entered = entered_at(entry_id) or utcnow()
    entry = HotlistEntry(
        entry_id=entry_id,
        plate=request.plate,
        country=request.country.upper(),
        list_name=request.list_name,
        category=request.category or rules.category,
        priority=request.priority,
        action=request.action,
        valid_from=request.valid_from or entered,
        valid_until=request.valid_until,
        source_zone=ports.zone_id,
        reason=request.reason,
        case_reference=request.case_reference,
        entered_by=principal.subject,
    )
    # 1. the entry, its event and its audit record (outbox rows) in one transaction; 2. commit;
    # 3. the relay publishes them, and every replica's index consumer indexes the entry.
    async with ports.hotlists.change() as change:
        await change.add_entry(entry)
        await change.announce_entries([entry])
        await change.audit(
            ports.audit.event(
                principal,
                "hotlist_change",
                purpose=entry.category.value,
                case_reference=request.case_reference,
                query={"op": "create", "list_name": request.list_name, "category": entry.category.value},
                record_ids=[entry.entry_id],
            )
        )
    return EntryState(entry, ports.indexed(entry.entry_id))


async def update_entry(
    ports: HotlistPorts, principal: Principal, entry_id: str, changes: dict[str, Any], why: str
) -> EntryState:
    return await _change_entry(ports, principal, entry_id, "update", why, changes)


async def expire_entry(ports: HotlistPorts, principal: Principal, entry_id: str, reason: str) -> EntryState:
    """Ends an entry in force now; one that ended already, or is not in force yet, is a conflict."""
    entry = await ports.hotlists.entry(entry_id)
    if entry is None:
        raise NotFound(f"hotlist entry {entry_id} does not exist")
    _refuse_a_neighbours(ports, entry)
    now = utcnow()
    if entry.valid_until is not None and entry.valid_until <= now:
        raise Conflict(f"entry {entry_id} already expired at {entry.valid_until.isoformat()}")
    if entry.valid_from >= now:
        raise Conflict(
            f"entry {entry_id} is not in force until {entry.valid_from.isoformat()}; "
            "to cancel it, PATCH its valid_until"
        )
    return await _change_entry(ports, principal, entry_id, "expire", reason, {"valid_until": now})


async def _change_entry(
    ports: HotlistPorts, principal: Principal, entry_id: str, op: str, why: str, changes: dict[str, Any]
) -> EntryState:
    async with ports.hotlists.change() as change:
        entry = await change.entry(entry_id)
        if entry is None:
            raise NotFound(f"hotlist entry {entry_id} does not exist")
        _refuse_a_neighbours(ports, entry)
        changed = replace(entry, **changes)
        if changed.valid_until is not None and changed.valid_until <= changed.valid_from:
            raise Invalid(
                f"valid_until must be after valid_from ({changed.valid_from.isoformat()})",
                title="Invalid change",
            )
        await change.change_entry(entry_id, changes)
        await change.announce_entries([changed])
        await change.audit(
            ports.audit.event(
                principal,
                "hotlist_change",
                purpose=changed.category.value,
                case_reference=changed.case_reference,
                query={"op": op, "list_name": changed.list_name, "fields": sorted(changes), "why": why},
                record_ids=[entry_id],
            )
        )
    return EntryState(changed, ports.indexed(entry_id))


def _refuse_a_neighbours(ports: HotlistPorts, entry: HotlistEntry) -> None:
    if entry.source_zone and entry.source_zone != ports.zone_id:
        raise OwnedElsewhere(
            f"entry {entry.entry_id} is zone {entry.source_zone}'s: only that zone changes or ends it"
        )


async def list_entries(
    ports: HotlistPorts,
    principal: Principal,
    why: Justification,
    *,
    plate: str | None,
    list_name: str | None,
    in_force: bool | None,
    limit: int,
    offset: int,
) -> list[EntryState]:
    normalised = normalise_plate(plate) if plate else None
    entries = await ports.hotlists.entries(
        plate=normalised, list_name=list_name, in_force=in_force, limit=limit, offset=offset
    )
    found = [EntryState(entry, ports.indexed(entry.entry_id)) for entry in entries]
    query = {
        "view": "list",
        "plate": normalised,
        "list_name": list_name,
        "in_force": in_force,
        "limit": limit,
        "offset": offset,
    }
    await record_look(ports.audit, principal, "view_hotlist", why, query, [e.entry_id for e in entries])
    return found


async def one_entry(
    ports: HotlistPorts, principal: Principal, why: Justification, entry_id: str
) -> EntryState:
    query = {"view": "entry", "entry_id": entry_id}
    entry = await ports.hotlists.entry(entry_id)
    if entry is None:
        detail = f"hotlist entry {entry_id} does not exist"
        raise await not_found(ports.audit, principal, "view_hotlist", why, query, detail)
    found = EntryState(entry, ports.indexed(entry_id))
    await record_look(ports.audit, principal, "view_hotlist", why, query, [entry_id])
    return found
