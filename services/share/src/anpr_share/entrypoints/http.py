"""REST: the sharing agreements with neighbour zones (an admin makes, changes and revokes them,
each change audited; the supervisor and the DPO read them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from anpr_core.events import utcnow
from anpr_core.problems import Problem
from anpr_share.domain.agreements import AgreementStatus
from anpr_share.entrypoints.deps import AgreementManager, AgreementReader, Ports
from anpr_share.entrypoints.schemas import AgreementIn, AgreementOut, AgreementPatch, Revocation
from anpr_share.handlers import agreements

router = APIRouter(prefix="/v1/agreements", tags=["agreements"])


@router.post("", status_code=201, response_model=AgreementOut)
async def create_agreement(body: AgreementIn, principal: AgreementManager, ports: Ports) -> AgreementOut:
    now = utcnow()
    made = await agreements.create_agreement(ports, principal, body.partner_zone_id, body.terms(now))
    return AgreementOut.of(made, ports.zone_id, ports.zone_topics, now)


@router.get("", response_model=list[AgreementOut])
async def list_agreements(
    _principal: AgreementReader,
    ports: Ports,
    status: Annotated[AgreementStatus | None, Query()] = None,
    partner_zone_id: Annotated[str | None, Query(max_length=32)] = None,
) -> list[AgreementOut]:
    now = utcnow()
    found = await agreements.list_agreements(ports, status=status, partner_zone=partner_zone_id)
    return [AgreementOut.of(a, ports.zone_id, ports.zone_topics, now) for a in found]


@router.get("/{agreement_id}", response_model=AgreementOut)
async def get_agreement(agreement_id: str, _principal: AgreementReader, ports: Ports) -> AgreementOut:
    found = await agreements.one_agreement(ports, agreement_id)
    return AgreementOut.of(found, ports.zone_id, ports.zone_topics, utcnow())


@router.patch("/{agreement_id}", response_model=AgreementOut)
async def change_agreement(
    agreement_id: str, body: AgreementPatch, principal: AgreementManager, ports: Ports
) -> AgreementOut:
    try:
        changes = body.changes()
    except ValueError as error:
        raise Problem(422, "Invalid change", str(error)) from error
    changed = await agreements.change_agreement(ports, principal, agreement_id, changes)
    return AgreementOut.of(changed, ports.zone_id, ports.zone_topics, utcnow())


@router.post("/{agreement_id}/revoke", response_model=AgreementOut)
async def revoke_agreement(
    agreement_id: str, body: Revocation, principal: AgreementManager, ports: Ports
) -> AgreementOut:
    revoked = await agreements.revoke_agreement(ports, principal, agreement_id, body.reason)
    return AgreementOut.of(revoked, ports.zone_id, ports.zone_topics, utcnow())
