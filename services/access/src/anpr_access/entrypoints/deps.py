"""The dependencies routes are handed: who calls (by the action they need), why (the justification),
and the ports of each area. Only this module reads app.state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from anpr_access.domain.hit_images import HitLook, LookPurpose
from anpr_access.domain.legal import Justification, Purpose
from anpr_access.ports import AccessPorts, DpoPorts, HitImagePorts, HoldPorts, RetentionPorts, SearchPorts
from anpr_core.auth import Action, Principal, require


def _ports(request: Request) -> AccessPorts:
    ports: AccessPorts = request.app.state.ports
    return ports


def _search(request: Request) -> SearchPorts:
    return _ports(request).search


def _holds(request: Request) -> HoldPorts:
    return _ports(request).holds


def _dpo(request: Request) -> DpoPorts:
    return _ports(request).dpo


def _retention(request: Request) -> RetentionPorts:
    return _ports(request).retention


def _hit_images(request: Request) -> HitImagePorts:
    return _ports(request).hit_images


SearchDeps = Annotated[SearchPorts, Depends(_search)]
HoldDeps = Annotated[HoldPorts, Depends(_holds)]
DpoDeps = Annotated[DpoPorts, Depends(_dpo)]
RetentionDeps = Annotated[RetentionPorts, Depends(_retention)]
HitImageDeps = Annotated[HitImagePorts, Depends(_hit_images)]

Searcher = Annotated[Principal, Depends(require(Action.SEARCH_PASSAGES))]
ImageViewer = Annotated[Principal, Depends(require(Action.VIEW_IMAGE))]
HitViewer = Annotated[Principal, Depends(require(Action.VIEW_HITS))]
StatsViewer = Annotated[Principal, Depends(require(Action.VIEW_STATS))]
HoldKeeper = Annotated[Principal, Depends(require(Action.MANAGE_HOLDS))]
RetentionRunner = Annotated[Principal, Depends(require(Action.RUN_RETENTION))]
Dpo = Annotated[Principal, Depends(require(Action.DPO_REQUESTS))]


def justification(
    purpose: Annotated[Purpose | None, Query(description="administrative or judicial")] = None,
    case_reference: Annotated[str, Query(max_length=100, description="case or PV number")] = "",
    legal_basis: Annotated[str, Query(max_length=200, description="e.g. art. 44/5 WPA")] = "",
    prosecutor_decision: Annotated[
        str, Query(max_length=100, description="reference of the prosecutor's written decision")
    ] = "",
) -> Justification:
    return Justification(purpose, case_reference, legal_basis, prosecutor_decision)


Justified = Annotated[Justification, Depends(justification)]


def hit_look(
    purpose: Annotated[
        LookPurpose,
        Query(description="operational (default: following up hits), administrative or judicial"),
    ] = LookPurpose.OPERATIONAL,
    case_reference: Annotated[str, Query(max_length=100, description="case or PV number, if any")] = "",
    legal_basis: Annotated[str, Query(max_length=200, description="past the first month")] = "",
    prosecutor_decision: Annotated[
        str, Query(max_length=100, description="past the first month: the prosecutor's written decision")
    ] = "",
) -> HitLook:
    return HitLook(purpose, case_reference.strip(), legal_basis.strip(), prosecutor_decision.strip())


LookingAtHit = Annotated[HitLook, Depends(hit_look)]
