"""The camera register over REST (admins and viewers), and the public camera map (no token)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from anpr_ingest.domain.public_map import geojson_text, to_csv
from anpr_ingest.entrypoints.deps import CameraAdmin, Cameras, CameraViewer
from anpr_ingest.entrypoints.schemas import (
    CameraCreated,
    CameraIn,
    CameraOut,
    CameraPatch,
    camera_out,
    stored_fields,
)
from anpr_ingest.handlers import cameras

router = APIRouter(prefix="/v1")


@router.post("/cameras", status_code=201, response_model=CameraCreated, tags=["cameras"])
async def register_camera(body: CameraIn, principal: CameraAdmin, ports: Cameras) -> CameraCreated:
    camera, api_key = await cameras.register_camera(
        ports,
        principal,
        body.camera_id,
        stored_fields(body.model_dump(exclude={"camera_id"})),
        body.model_dump(mode="json"),
    )
    return CameraCreated(
        **camera_out(camera, ports.silent_gap, camera.created_at).model_dump(), api_key=api_key
    )


@router.patch("/cameras/{camera_id}", response_model=CameraOut, tags=["cameras"])
async def update_camera(
    camera_id: str, body: CameraPatch, principal: CameraAdmin, ports: Cameras
) -> CameraOut:
    changes = stored_fields(body.model_dump(exclude_unset=True))
    as_sent = body.model_dump(mode="json", exclude_unset=True)
    updated = await cameras.update_camera(ports, principal, camera_id, changes, as_sent)
    return camera_out(updated, ports.silent_gap)


@router.post("/cameras/{camera_id}/key", response_model=CameraCreated, tags=["cameras"])
async def rotate_key(camera_id: str, principal: CameraAdmin, ports: Cameras) -> CameraCreated:
    rotated, api_key = await cameras.rotate_key(ports, principal, camera_id)
    return CameraCreated(**camera_out(rotated, ports.silent_gap).model_dump(), api_key=api_key)


@router.delete("/cameras/{camera_id}/key", status_code=204, tags=["cameras"])
async def revoke_key(camera_id: str, principal: CameraAdmin, ports: Cameras) -> Response:
    """The camera has no valid key until one is rotated in (POST .../key)."""
    await cameras.revoke_key(ports, principal, camera_id)
    return Response(status_code=204)


@router.get("/cameras", response_model=list[CameraOut], tags=["cameras"])
async def list_cameras(_principal: CameraViewer, ports: Cameras) -> list[CameraOut]:
    now = datetime.now(UTC)
    return [camera_out(camera, ports.silent_gap, now) for camera in await cameras.list_cameras(ports)]


# Declared before /cameras/{camera_id} so "export" is not taken for an id.
@router.get(
    "/cameras/export",
    tags=["public"],
    responses={200: {"content": {"text/csv": {}, "application/geo+json": {}}}},
    response_class=Response,
)
async def export_cameras(
    ports: Cameras,
    export_format: Annotated[Literal["csv", "geojson"], Query(alias="format")] = "geojson",
) -> Response:
    """The public camera map (no token): positions and signs only; see the README for what is left out."""
    entries = await cameras.public_map(ports)
    if export_format == "csv":
        return Response(
            to_csv(entries),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="cameras.csv"'},
        )
    return Response(geojson_text(entries), media_type="application/geo+json")


@router.get("/cameras/{camera_id}", response_model=CameraOut, tags=["cameras"])
async def get_camera(camera_id: str, _principal: CameraViewer, ports: Cameras) -> CameraOut:
    return camera_out(await cameras.get_camera(ports, camera_id), ports.silent_gap)
