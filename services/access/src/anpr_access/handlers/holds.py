"""Legal holds: placed, listed and lifted; each change a recorded, audited decision."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from anpr_access.domain.errors import Conflict, Invalid, NotFound
from anpr_access.domain.records import Hold
from anpr_access.ports import HoldPorts
from anpr_core.auth import Principal
from anpr_core.ids import uuid7
from anpr_core.plates import normalise_plate


def _checked_bounds(
    plate: str | None, since: datetime | None, until: datetime | None
) -> tuple[str | None, datetime | None, datetime | None]:
    plate = normalise_plate(plate) if plate else None
    if not plate and since is None and until is None:
        raise Invalid("a hold must name a plate, a time range, or both", title="Invalid hold")
    for moment in (since, until):
        if moment is not None and moment.tzinfo is None:
            raise Invalid("since and until need a timezone offset", title="Invalid hold")
    if since and until and until <= since:
        raise Invalid("the time range is empty: `until` must be after `since`", title="Invalid hold")
    return plate, since, until


async def place_hold(
    ports: HoldPorts,
    principal: Principal,
    *,
    case_reference: str,
    plate: str | None,
    since: datetime | None,
    until: datetime | None,
    reason: str,
    now: datetime,
) -> tuple[Hold, int]:
    """The hold placed, and how many reads it covers now."""
    plate, since, until = _checked_bounds(plate, since, until)
    hold = Hold(
        hold_id=str(uuid7()),
        case_reference=case_reference.strip(),
        plate=plate,
        since=since,
        until=until,
        reason=reason,
        decided_by=principal.subject,
        created_at=now,
    )
    covered = await ports.store.place(hold)
    await ports.audit.record(
        principal,
        "manage_holds",
        case_reference=hold.case_reference,
        query={"change": "place", "hold_id": hold.hold_id, "plate": plate, "since": since, "until": until},
        detail=reason,
    )
    return hold, covered


async def list_holds(ports: HoldPorts, *, include_lifted: bool, case_reference: str | None) -> list[Hold]:
    return await ports.store.listed(include_lifted=include_lifted, case_reference=case_reference)


async def lift_hold(ports: HoldPorts, principal: Principal, hold_id: str, reason: str, now: datetime) -> Hold:
    """The hold as lifted; NotFound or Conflict (already lifted), audited as refused attempts."""
    before = await ports.store.lift(hold_id, lifted_by=principal.subject, reason=reason, now=now)
    if before is None:
        await _refused_lift(ports, principal, hold_id, f"no hold {hold_id}: list them with GET /v1/holds")
        raise NotFound(f"no hold {hold_id}: list them with GET /v1/holds", title="Hold not liftable")
    if before.lifted_at is not None:
        detail = f"hold {hold_id} was already lifted at {before.lifted_at.isoformat()}"
        await _refused_lift(ports, principal, hold_id, detail)
        raise Conflict(detail, title="Hold not liftable")
    await ports.audit.record(
        principal,
        "manage_holds",
        case_reference=before.case_reference,
        query={"change": "lift", "hold_id": hold_id},
        detail=reason,
    )
    return replace(before, lifted_at=now, lifted_by=principal.subject, lift_reason=reason)


async def _refused_lift(ports: HoldPorts, principal: Principal, hold_id: str, detail: str) -> None:
    await ports.audit.record(
        principal,
        "manage_holds",
        query={"change": "lift", "hold_id": hold_id},
        outcome="refused",
        detail=detail,
    )
