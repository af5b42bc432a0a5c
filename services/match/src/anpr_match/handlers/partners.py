"""A neighbour zone's shared hotlists, as share takes them in under an agreement: its lists (named
zone-<zone>.<name> here, owned by that zone: no one here changes them), its entries, their
withdrawal, and the end of its sharing (every entry of that zone ends then). Stored and announced
like this zone's own changes, so every replica indexes them, and audited."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from anpr_core.events import utcnow
from anpr_match.domain.entries import (
    Category,
    HotlistEntry,
    ListRules,
    SharingEnded,
    Withdrawal,
    partner_list_name,
)
from anpr_match.handlers.context import HotlistPorts
from anpr_match.handlers.ports import HotlistChanges

log = logging.getLogger(__name__)

PartnerChange = tuple[str, ListRules | HotlistEntry | Withdrawal | SharingEnded]


class NotTheirs(ValueError):
    """A neighbour's record names what is not that neighbour's here (a list or an entry of this zone,
    or of another neighbour): it is refused, and goes to the DLQ."""


async def take_partner_changes(ports: HotlistPorts, changes: Sequence[PartnerChange]) -> list[str]:
    """Applies a batch of neighbours' changes in one transaction, with one audit record naming what
    they touched; returns those records' ids. Raises NotTheirs for a change that may not be made."""
    now = utcnow()
    touched: list[str] = []
    zones: set[str] = set()
    # 1. every change and its event (outbox rows), with the batch's audit record, in one
    #    transaction; 2. commit; 3. the relay publishes them and every replica indexes them.
    async with ports.hotlists.change() as change:
        for zone_id, shared in changes:
            if not zone_id or zone_id == ports.zone_id:
                raise NotTheirs(f"a shared record names zone {zone_id or '(none)'}, not a neighbour")
            zones.add(zone_id)
            if isinstance(shared, ListRules):
                touched.append(await _take_list(change, zone_id, shared, now))
            elif isinstance(shared, HotlistEntry):
                touched.append(await _take_entry(change, zone_id, shared, now))
            elif isinstance(shared, Withdrawal):
                touched += await _withdraw(change, zone_id, shared)
            else:
                touched += await _end(change, zone_id, shared.ended_at)
        if touched:
            await change.audit(
                ports.audit.event(
                    None,
                    "hotlist_change",
                    purpose="neighbour_sharing",
                    query={"op": "neighbour_change", "zones": sorted(zones)},
                    record_ids=touched,
                )
            )
    return touched


async def _take_list(change: HotlistChanges, zone_id: str, shared: ListRules, now: datetime) -> str:
    rules = await _partner_rules(change, zone_id, shared.name, shared)
    if await change.list_exists(rules.name):
        await change.replace_list(rules, now)
    else:
        await change.add_list(rules, f"zone:{zone_id}", now)
    await change.announce_rules(rules)
    return f"list:{rules.name}"


async def _partner_rules(
    change: HotlistChanges, zone_id: str, name: str, shared: ListRules | None, category: str = ""
) -> ListRules:
    """The rules here of the neighbour's list `name`: theirs where they sent them (what is about
    their own cameras and hours stays theirs), else as stored, else made from an entry's category."""
    try:
        local = partner_list_name(zone_id, name)
    except ValueError as error:
        raise NotTheirs(str(error)) from error
    stored = await change.rules(local)
    if stored is not None and stored.owner_zone != zone_id:
        raise NotTheirs(f"list {local!r} here is not zone {zone_id}'s")
    if shared is not None:
        return ListRules(
            name=local,
            category=shared.category,
            max_substitutions=shared.max_substitutions,
            allow_edit=shared.allow_edit,
            description=f"shared by zone {zone_id}",
            owner_zone=zone_id,
        )
    if stored is not None:
        return stored
    try:
        kind = Category(category)
    except ValueError as error:
        raise NotTheirs(f"zone {zone_id}'s entry names no known category ({category!r})") from error
    return ListRules(name=local, category=kind, description=f"shared by zone {zone_id}", owner_zone=zone_id)


async def _take_entry(change: HotlistChanges, zone_id: str, shared: HotlistEntry, now: datetime) -> str:
    rules = await _partner_rules(change, zone_id, shared.list_name, None, shared.category.value)
    if not await change.list_exists(rules.name):
        await change.add_list(rules, f"zone:{zone_id}", now)
        await change.announce_rules(rules)
    entry = replace(
        shared, list_name=rules.name, source_zone=zone_id, entered_by=shared.entered_by or f"zone:{zone_id}"
    )
    stored = await change.entry(entry.entry_id)
    if stored is None:
        await change.add_entry(entry)
    elif stored.source_zone != zone_id:
        raise NotTheirs(f"entry {entry.entry_id} here is not zone {zone_id}'s")
    else:
        await change.change_entry(entry.entry_id, _fields(entry))
    await change.announce_entries([entry])
    return entry.entry_id


async def _withdraw(change: HotlistChanges, zone_id: str, withdrawal: Withdrawal) -> list[str]:
    stored = await change.entry(withdrawal.entry_id)
    if stored is None:
        return []  # never taken here (or before this version): nothing to withdraw
    if stored.source_zone != zone_id:
        raise NotTheirs(f"entry {withdrawal.entry_id} here is not zone {zone_id}'s")
    await change.withdraw_entry(stored)
    return [stored.entry_id]


async def _end(change: HotlistChanges, zone_id: str, ended_at: datetime) -> list[str]:
    """Every entry the neighbour shared ends no later than `ended_at`."""
    ending = [
        replace(entry, valid_until=ended_at)
        for entry in await change.zone_entries(zone_id)
        if entry.valid_until is None or entry.valid_until > ended_at
    ]
    for entry in ending:
        await change.change_entry(entry.entry_id, {"valid_until": ended_at})
    if ending:
        await change.announce_entries(ending)
    log.info("zone %s's shared lists end at %s: %d entries", zone_id, ended_at.isoformat(), len(ending))
    return [entry.entry_id for entry in ending]


def _fields(entry: HotlistEntry) -> dict[str, object]:
    return {
        "plate": entry.plate,
        "country": entry.country,
        "list_name": entry.list_name,
        "category": entry.category.value,
        "priority": entry.priority,
        "action": entry.action,
        "valid_from": entry.valid_from,
        "valid_until": entry.valid_until,
        "deleted": False,
    }
