"""What detect's routes are handed, as Annotated dependencies: the principal a route requires and
the reading ports. The only reader of app.state."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from anpr_core.auth import Action, Principal, require
from anpr_detect.handlers import ReadPorts


def _read_ports(request: Request) -> ReadPorts:
    ports: ReadPorts = request.app.state.read_ports
    return ports


ReadDeps = Annotated[ReadPorts, Depends(_read_ports)]
ReaderUser = Annotated[Principal, Depends(require(Action.TRY_READER))]
