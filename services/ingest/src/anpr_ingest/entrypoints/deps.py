"""What the routes are handed, as Annotated dependencies: the handlers' ports (set on app.state by
bootstrap.py; this is the only module that reads app.state), the caller's role, the camera's key.

They live at module level: FastAPI resolves the routes' string annotations there."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from anpr_core.auth import Action, Principal, require
from anpr_ingest.handlers.cameras import CameraPorts
from anpr_ingest.handlers.intake import IntakePorts
from anpr_ingest.handlers.vendors import VendorPorts


# async: FastAPI runs a plain function dependency in a thread; these only read an attribute.
async def camera_ports(request: Request) -> CameraPorts:
    ports: CameraPorts = request.app.state.camera_ports
    return ports


async def intake_ports(request: Request) -> IntakePorts:
    ports: IntakePorts = request.app.state.intake_ports
    return ports


async def vendor_ports(request: Request) -> VendorPorts:
    ports: VendorPorts = request.app.state.vendor_ports
    return ports


Cameras = Annotated[CameraPorts, Depends(camera_ports)]
Vendors = Annotated[VendorPorts, Depends(vendor_ports)]
Intake = Annotated[IntakePorts, Depends(intake_ports)]
CameraAdmin = Annotated[Principal, Depends(require(Action.MANAGE_CAMERAS))]
CameraViewer = Annotated[Principal, Depends(require(Action.VIEW_CAMERAS))]
CameraKey = Annotated[str | None, Header(description="The camera's own key")]
