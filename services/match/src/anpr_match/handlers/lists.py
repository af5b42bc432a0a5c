"""The hotlists' commands and reads: a list and its rules made or changed (stored, announced to
every replica, applied here at once, audited), all lists, one list."""

from __future__ import annotations

from anpr_core.auth import Principal
from anpr_core.events import utcnow
from anpr_match.domain.entries import PARTNER_LIST_PREFIX, ListRules, rules_fields
from anpr_match.domain.errors import Conflict, Invalid, NotFound, OwnedElsewhere
from anpr_match.handlers.context import HotlistPorts


async def save_list(
    ports: HotlistPorts, principal: Principal, rules: ListRules, *, create: bool
) -> ListRules:
    now = utcnow()
    # The rules, their event and the change's audit record (outbox rows) in one transaction; the
    # relay publishes them.
    async with ports.hotlists.change() as change:
        existing = await change.rules(rules.name)
        exists = existing is not None
        if existing is not None and existing.owner_zone:
            raise OwnedElsewhere(
                f"list {rules.name!r} is zone {existing.owner_zone}'s: only that zone changes it"
            )
        if create and rules.name.startswith(PARTNER_LIST_PREFIX):
            raise Invalid(
                f"list names starting with {PARTNER_LIST_PREFIX!r} are neighbour zones' shared lists; "
                "choose another name",
                title="Invalid list",
            )
        if create and exists:
            raise Conflict(f"list {rules.name!r} exists; change it with PUT")
        if not create and not exists:
            raise NotFound(f"list {rules.name!r} does not exist; create it with POST")
        if create:
            await change.add_list(rules, principal.subject, now)
        else:
            await change.replace_list(rules, now)
        await change.announce_rules(rules)
        await change.audit(
            ports.audit.event(
                principal,
                "hotlist_change",
                purpose=rules.category.value,
                query={"op": "create_list" if create else "change_list", **rules_fields(rules)},
                record_ids=[f"list:{rules.name}"],
            )
        )
    ports.pipeline.index.set_rules(rules)
    return rules


async def all_lists(ports: HotlistPorts) -> list[ListRules]:
    return await ports.hotlists.lists()


async def one_list(ports: HotlistPorts, name: str) -> ListRules:
    rules = await ports.hotlists.rules(name)
    if rules is None:
        raise NotFound(f"list {name!r} does not exist")
    return rules
