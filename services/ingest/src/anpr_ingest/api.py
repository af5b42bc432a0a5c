"""Ingest's REST surface: the camera register and frame intake."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Header, Request, UploadFile
from pydantic import BaseModel, Field

from anpr.v1 import common_pb2, frame_pb2
from anpr_core.auditing import AuditTrail
from anpr_core.auth import Action, Principal, require
from anpr_core.bus import Bus, BusUnavailable
from anpr_core.events import Topics, new_meta, to_timestamp, utcnow
from anpr_core.metrics import CAMERA_LAST_SEEN, FRAMES_RECEIVED, FRAMES_REJECTED
from anpr_core.problems import Problem
from anpr_ingest.domain import (
    CameraStatus,
    Direction,
    FrameLimits,
    RejectedFrame,
    check_frame,
    hash_api_key,
    key_matches,
    new_api_key,
)
from anpr_ingest.settings import IngestSettings
from anpr_ingest.storage import Camera, CameraRegister

_DIRECTIONS = {
    Direction.IN: common_pb2.DIRECTION_IN,
    Direction.OUT: common_pb2.DIRECTION_OUT,
    Direction.BOTH: common_pb2.DIRECTION_BOTH,
}

# Dependency aliases live at module level: FastAPI resolves string annotations there.
CameraAdmin = Annotated[Principal, Depends(require(Action.MANAGE_CAMERAS))]
CameraViewer = Annotated[Principal, Depends(require(Action.VIEW_CAMERAS))]


class CameraIn(BaseModel):
    camera_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    name: str = Field(min_length=1, max_length=200)
    direction: Direction


class CameraOut(BaseModel):
    camera_id: str
    name: str
    direction: Direction
    status: CameraStatus
    last_seen_at: datetime | None


class CameraCreated(CameraOut):
    api_key: str = Field(description="Shown once; only its hash is stored.")


class FrameAccepted(BaseModel):
    event_id: str
    camera_id: str
    content_type: str
    width: int
    height: int


def _camera_out(camera: Camera) -> CameraOut:
    return CameraOut(
        camera_id=camera.camera_id,
        name=camera.name,
        direction=Direction(camera.direction),
        status=CameraStatus(camera.status),
        last_seen_at=camera.last_seen_at,
    )


def build_router(
    settings: IngestSettings, bus: Bus, register: CameraRegister, audit: AuditTrail
) -> APIRouter:
    router = APIRouter(prefix="/v1")
    topics = Topics(settings.topic_prefix)
    limits = FrameLimits(
        max_bytes=settings.max_frame_bytes,
        min_side=settings.min_frame_side,
        max_side=settings.max_frame_side,
        max_clock_skew=timedelta(seconds=settings.max_clock_skew_s),
    )

    @router.post("/cameras", status_code=201, response_model=CameraCreated, tags=["cameras"])
    async def register_camera(body: CameraIn, principal: CameraAdmin) -> CameraCreated:
        api_key = new_api_key()
        camera = Camera(
            camera_id=body.camera_id,
            name=body.name,
            direction=body.direction.value,
            status=CameraStatus.ACTIVE.value,
            api_key_hash=hash_api_key(api_key),
            created_at=utcnow(),
            last_seen_at=None,
        )
        if not await register.add(camera):
            raise Problem(409, "Conflict", f"camera {body.camera_id} is already registered")
        await audit.record(
            principal,
            "camera_change",
            query={"op": "register", **body.model_dump(mode="json")},
            record_ids=[body.camera_id],
        )
        return CameraCreated(**_camera_out(camera).model_dump(), api_key=api_key)

    @router.post("/cameras/{camera_id}/key", response_model=CameraCreated, tags=["cameras"])
    async def rotate_key(camera_id: str, principal: CameraAdmin) -> CameraCreated:
        camera = await register.get(camera_id)
        if camera is None:
            raise Problem(404, "Not Found", f"camera {camera_id} is not registered")
        api_key = new_api_key()
        await register.set_key_hash(camera_id, hash_api_key(api_key))
        await audit.record(principal, "camera_change", query={"op": "rotate_key"}, record_ids=[camera_id])
        return CameraCreated(**_camera_out(camera).model_dump(), api_key=api_key)

    @router.get("/cameras", response_model=list[CameraOut], tags=["cameras"])
    async def list_cameras(_principal: CameraViewer) -> list[CameraOut]:
        return [_camera_out(camera) for camera in await register.list()]

    @router.post("/frames", status_code=202, response_model=FrameAccepted, tags=["intake"])
    async def post_frame(
        request: Request,
        camera_id: Annotated[str, Form(min_length=1, max_length=64)],
        captured_at: Annotated[datetime, Form(description="ISO 8601 with offset")],
        image: Annotated[UploadFile, File(description="JPEG or PNG")],
        x_camera_key: Annotated[str | None, Header()] = None,
    ) -> FrameAccepted:
        camera = await _authenticate_camera(register, camera_id, x_camera_key)
        data = await image.read(settings.max_frame_bytes + 1)
        now = datetime.now(UTC)
        try:
            info = check_frame(data, captured_at, now, limits)
        except RejectedFrame as rejection:
            FRAMES_REJECTED.labels(rejection.reason).inc()
            raise Problem(
                rejection.status,
                "Frame rejected",
                str(rejection),
                problem_type=f"urn:schild:frame:{rejection.reason}",
            ) from rejection
        frame = frame_pb2.Frame(
            meta=new_meta(settings.zone_id, "ingest"),
            camera_id=camera.camera_id,
            captured_at=to_timestamp(captured_at),
            content_type=info.content_type,
            image=data,
            width=info.width,
            height=info.height,
            sha256=hashlib.sha256(data).hexdigest(),
            direction=_DIRECTIONS[Direction(camera.direction)],
        )
        try:
            # 202 only once the broker holds the frame (acks=all); never a silent drop.
            await bus.publish(topics.frames, camera.camera_id.encode(), frame.SerializeToString())
        except BusUnavailable as error:
            FRAMES_REJECTED.labels("bus_unavailable").inc()
            raise Problem(
                503,
                "Service Unavailable",
                "the frame could not be stored; retry",
                headers={"Retry-After": "5"},
            ) from error
        FRAMES_RECEIVED.labels(camera.camera_id).inc()
        CAMERA_LAST_SEEN.labels(camera.camera_id).set(now.timestamp())
        await register.touch(camera.camera_id, now)
        return FrameAccepted(
            event_id=frame.meta.event_id,
            camera_id=camera.camera_id,
            content_type=info.content_type,
            width=info.width,
            height=info.height,
        )

    return router


async def _authenticate_camera(register: CameraRegister, camera_id: str, key: str | None) -> Camera:
    if not key:
        raise Problem(401, "Unauthorized", "the X-Camera-Key header is required")
    camera = await register.get(camera_id)
    if camera is None:
        FRAMES_REJECTED.labels("unknown_camera").inc()
        raise Problem(404, "Unknown camera", f"camera {camera_id} is not registered")
    if not key_matches(key, camera.api_key_hash):
        FRAMES_REJECTED.labels("bad_key").inc()
        raise Problem(401, "Unauthorized", f"the key is not valid for camera {camera_id}")
    if camera.status == CameraStatus.RETIRED.value:
        raise Problem(403, "Forbidden", f"camera {camera_id} is retired")
    return camera
