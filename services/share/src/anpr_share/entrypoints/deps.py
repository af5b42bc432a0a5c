"""What share's routes are handed: the caller (by the action the route needs) and the handlers'
ports. The one module that reads app.state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from anpr_core.auth import Action, Principal, require
from anpr_share.handlers.ports import SharePorts


def share_ports(request: Request) -> SharePorts:
    ports: SharePorts = request.app.state.share_ports
    return ports


AgreementManager = Annotated[Principal, Depends(require(Action.MANAGE_AGREEMENTS))]
AgreementReader = Annotated[Principal, Depends(require(Action.VIEW_AGREEMENTS))]
Ports = Annotated[SharePorts, Depends(share_ports)]
