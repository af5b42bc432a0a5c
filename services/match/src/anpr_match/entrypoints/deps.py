"""What match's routes are handed: the caller (by the action the route needs), why they look, and
the ports of the handlers they call. The one module that reads app.state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from anpr_core.auth import Action, Principal, require
from anpr_match.domain.operators import Justification, Purpose
from anpr_match.entrypoints.stream import HitStream
from anpr_match.handlers.context import HitPorts, HotlistPorts
from anpr_match.handlers.hit_rates import HitRatePorts


def view_justification(
    purpose: Annotated[
        Purpose,
        Query(description="operational (default: following up hits), administrative or judicial"),
    ] = Purpose.OPERATIONAL,
    case_reference: Annotated[str, Query(max_length=100, description="case or PV number, if any")] = "",
) -> Justification:
    return Justification(purpose, case_reference.strip())


def export_justification(
    purpose: Annotated[
        Purpose | None, Query(description="required: operational, administrative or judicial")
    ] = None,
    case_reference: Annotated[
        str, Query(max_length=100, description="required: the case, PV or request the file is for")
    ] = "",
    recipient: Annotated[
        str, Query(max_length=200, description="to whom the file is disclosed; default: the caller")
    ] = "",
) -> Justification:
    return Justification(purpose, case_reference.strip(), recipient.strip())


def hotlist_ports(request: Request) -> HotlistPorts:
    ports: HotlistPorts = request.app.state.hotlist_ports
    return ports


def hit_ports(request: Request) -> HitPorts:
    ports: HitPorts = request.app.state.hit_ports
    return ports


def hit_rate_ports(request: Request) -> HitRatePorts:
    ports: HitRatePorts = request.app.state.hit_rate_ports
    return ports


def hit_stream(request: Request) -> HitStream:
    stream: HitStream = request.app.state.hit_stream
    return stream


# Dependency aliases live at module level: FastAPI resolves string annotations there.
HotlistManager = Annotated[Principal, Depends(require(Action.MANAGE_HOTLIST))]
HotlistViewer = Annotated[Principal, Depends(require(Action.VIEW_HOTLIST))]
HitViewer = Annotated[Principal, Depends(require(Action.VIEW_HITS))]
HitAcknowledger = Annotated[Principal, Depends(require(Action.ACK_HIT))]
Looking = Annotated[Justification, Depends(view_justification)]
Exporting = Annotated[Justification, Depends(export_justification)]
Hotlist = Annotated[HotlistPorts, Depends(hotlist_ports)]
Hits = Annotated[HitPorts, Depends(hit_ports)]
Stream = Annotated[HitStream, Depends(hit_stream)]
HitRates = Annotated[HitRatePorts, Depends(hit_rate_ports)]
