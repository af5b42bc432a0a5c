"""The agreements' commands and reads: an agreement made, changed or revoked (stored, audited and,
where sharing of hotlists ends, announced, in one transaction; in force on this replica at once),
the agreements looked at."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from anpr.v1 import audit_pb2
from anpr_core.auth import Principal
from anpr_core.bus import OutgoingRecord
from anpr_core.events import utcnow
from anpr_core.ids import new_event_id
from anpr_share.domain.agreements import (
    Agreement,
    AgreementStatus,
    Terms,
    changed_agreement,
    lists_ending,
    new_agreement,
    revoked_agreement,
    terms_changes,
    terms_fields,
)
from anpr_share.domain.errors import NotFound
from anpr_share.handlers.ports import AgreementChanges, SharePorts
from anpr_share.handlers.views import SharingEnd

# The purpose every sharing action is audited under.
PURPOSE = "neighbour_sharing"


async def create_agreement(
    ports: SharePorts, principal: Principal, partner_zone: str, terms: Terms
) -> Agreement:
    now = utcnow()
    async with ports.flow:
        async with ports.store.change() as change:
            agreement = new_agreement(
                new_event_id(),
                ports.zone_id,
                partner_zone,
                terms,
                await change.all(),
                by=principal.subject,
                now=now,
            )
            await change.add(agreement)
            await change.audit(
                _audited(
                    ports, principal, agreement, "create", changes={"terms": [None, terms_fields(terms)]}
                )
            )
        ports.book.put(agreement)
    return agreement


async def change_agreement(
    ports: SharePorts, principal: Principal, agreement_id: str, changes: dict[str, Any]
) -> Agreement:
    now = utcnow()
    async with ports.flow:
        async with ports.store.change() as change:
            before = await _existing(change, agreement_id)
            after = changed_agreement(before, changes, await change.all(), now=now)
            await change.save(after)
            await change.audit(
                _audited(ports, principal, after, "change", changes=terms_changes(before.terms, after.terms))
            )
            await _end_lists(ports, change, before, after, now, "agreement changed")
        ports.book.put(after)
    return after


async def revoke_agreement(
    ports: SharePorts, principal: Principal, agreement_id: str, reason: str
) -> Agreement:
    """Ends the agreement now. Under the flow lock: once answered, this replica sends nothing more
    under it; the others stop at their next refresh (ANPR_SHARE_REFRESH_S)."""
    now = utcnow()
    async with ports.flow:
        async with ports.store.change() as change:
            before = await _existing(change, agreement_id)
            after = revoked_agreement(before, reason, by=principal.subject, now=now)
            await change.save(after)
            await change.audit(_audited(ports, principal, after, "revoke", detail=reason))
            await _end_lists(ports, change, before, after, now, reason)
        ports.book.put(after)
    return after


async def list_agreements(
    ports: SharePorts, *, status: AgreementStatus | None = None, partner_zone: str | None = None
) -> list[Agreement]:
    now = utcnow()
    found = [
        a
        for a in await ports.store.all()
        if (status is None or a.status(now) is status)
        and (partner_zone is None or a.partner_zone == partner_zone)
    ]
    return sorted(found, key=lambda a: (a.partner_zone, a.terms.valid_from))


async def one_agreement(ports: SharePorts, agreement_id: str) -> Agreement:
    agreement = await ports.store.get(agreement_id)
    if agreement is None:
        raise NotFound(f"agreement {agreement_id} does not exist")
    return agreement


async def _existing(change: AgreementChanges, agreement_id: str) -> Agreement:
    agreement = await change.get(agreement_id)
    if agreement is None:
        raise NotFound(f"agreement {agreement_id} does not exist")
    return agreement


def _audited(
    ports: SharePorts,
    principal: Principal,
    agreement: Agreement,
    op: str,
    *,
    changes: dict[str, Any] | None = None,
    detail: str = "",
) -> audit_pb2.AuditEvent:
    return ports.audit.event(
        principal,
        "agreement_change",
        purpose=PURPOSE,
        case_reference=agreement.terms.reference,
        legal_basis=agreement.terms.legal_basis,
        query={"op": op, "agreement_id": agreement.agreement_id, "partner_zone": agreement.partner_zone},
        recipients=[f"zone:{agreement.partner_zone}"],
        target=f"agreement:{agreement.agreement_id}",
        changes=changes,
        detail=detail,
    )


async def _end_lists(
    ports: SharePorts, change: AgreementChanges, before: Agreement, after: Agreement, now: datetime, why: str
) -> None:
    """Hotlists shared under the agreement end with it: this zone's at the neighbour (told over the
    exchange), the neighbour's here (told to match)."""
    partner = after.partner_zone
    for end in lists_ending(before, after, now):
        if end.ours:
            encoded = ports.codec.sharing_ended(SharingEnd(ports.zone_id, end.at, after.terms.reference, why))
            topic = ports.zone_topics.hotlist(ports.zone_id, partner)
            key = f"ended:{ports.zone_id}".encode()
            await change.tell_neighbour(OutgoingRecord(topic, key, encoded.value, encoded.headers))
        else:
            encoded = ports.codec.sharing_ended(SharingEnd(partner, end.at, after.terms.reference, why))
            key = f"zone:{partner}".encode()
            await change.announce(
                OutgoingRecord(ports.topics.shared_hotlist, key, encoded.value, encoded.headers)
            )
