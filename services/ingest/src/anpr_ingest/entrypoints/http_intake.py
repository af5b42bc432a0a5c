"""The camera side over REST: frames (a multipart form, or the image itself as the body), camera-side
reads, heartbeats. Raw-body frames are served by the ASGI fast path (entrypoints.fast_path) through
raw_frame below, the same intake the route uses."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import UploadFile as StarletteUploadFile

from anpr_core.metrics import FRAMES_REJECTED
from anpr_core.problems import Problem
from anpr_ingest.domain.errors import RejectedFrame
from anpr_ingest.entrypoints.deps import CameraKey, Intake
from anpr_ingest.entrypoints.schemas import (
    FRAME_BODY,
    RAW_IMAGE_TYPES,
    FrameAccepted,
    FrameFields,
    ReadAccepted,
    frame_accepted,
    frame_fields,
    read_accepted,
)
from anpr_ingest.handlers import intake
from anpr_ingest.handlers.intake import IntakePorts

router = APIRouter(prefix="/v1")


@router.post(
    "/frames", status_code=202, response_model=FrameAccepted, tags=["intake"], openapi_extra=FRAME_BODY
)
async def post_frame(
    request: Request,
    ports: Intake,
    x_camera_key: CameraKey = None,
    x_camera_id: Annotated[str | None, Header(description="Raw-body intake: the camera id")] = None,
    x_captured_at: Annotated[
        str | None, Header(description="Raw-body intake: capture time, ISO 8601 with offset")
    ] = None,
) -> Response:
    """One frame, as a multipart form (`camera_id`, `captured_at`, `image`), or as the image itself
    (`Content-Type: image/jpeg` or `image/png`) with the `X-Camera-Id` and `X-Captured-At` headers,
    which spares the multipart parsing. The type is taken from the bytes either way."""
    # The raw-body headers are declared above for the API description; raw_frame reads them
    # from the request, as the ASGI fast path (which serves these requests) does.
    del x_camera_id, x_captured_at
    began = time.perf_counter()
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        fields, data = await _multipart_frame(request, ports.limits.max_bytes)
    elif content_type.partition(";")[0].strip().lower() in RAW_IMAGE_TYPES:
        accepted = await raw_frame(ports, request.headers, request.stream(), began)
        return Response(accepted.model_dump_json(), status_code=202, media_type="application/json")
    else:
        raise Problem(
            422,
            "Invalid request",
            "send the frame as multipart/form-data (camera_id, captured_at, image), or the image itself "
            "as the body (Content-Type image/jpeg or image/png) with X-Camera-Id and X-Captured-At",
        )
    frame = await intake.accept_frame(ports, fields.camera_id, fields.captured_at, data, x_camera_key, began)
    # Built here rather than by FastAPI: the model is validated once, not again on the way out.
    return Response(frame_accepted(frame).model_dump_json(), status_code=202, media_type="application/json")


@router.post("/reads", status_code=202, response_model=ReadAccepted, tags=["intake"])
async def post_read(
    camera_id: Annotated[str, Form(min_length=1, max_length=64)],
    captured_at: Annotated[datetime, Form(description="ISO 8601 with offset")],
    text: Annotated[str, Form(min_length=1, max_length=64, description="The plate as the camera read it")],
    confidence: Annotated[float, Form(description="0 to 1")],
    ports: Intake,
    crop: Annotated[UploadFile | None, File(description="JPEG crop of the plate")] = None,
    x_camera_key: CameraKey = None,
) -> ReadAccepted:
    crop_bytes = await crop.read(ports.crop_limits.max_bytes + 1) if crop is not None else None
    read = await intake.accept_read(ports, camera_id, captured_at, text, confidence, crop_bytes, x_camera_key)
    return read_accepted(read)


@router.post("/cameras/{camera_id}/heartbeat", status_code=204, tags=["intake"])
async def heartbeat(camera_id: str, ports: Intake, x_camera_key: CameraKey = None) -> Response:
    """A camera with nothing to send says it is alive; it is not marked silent."""
    await intake.heartbeat(ports, camera_id, x_camera_key)
    return Response(status_code=204)


async def raw_frame(
    ports: IntakePorts, headers: Mapping[str, str], body: AsyncIterator[bytes], began: float
) -> FrameAccepted:
    """A raw-body frame: the request headers (lower-case names), the body's chunks, and when it began."""
    fields = frame_fields(
        {"camera_id": headers.get("x-camera-id"), "captured_at": headers.get("x-captured-at")},
        "header",
        {"camera_id": "x-camera-id", "captured_at": "x-captured-at"},
    )
    data = await _raw_image(ports.limits.max_bytes, headers.get("content-length", ""), body)
    frame = await intake.accept_frame(
        ports, fields.camera_id, fields.captured_at, data, headers.get("x-camera-key"), began
    )
    return frame_accepted(frame)


async def _raw_image(limit: int, declared: str, body: AsyncIterator[bytes]) -> bytes:
    """The body as it comes, refused as soon as it is known to pass the frame limit."""
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(f"the image is {declared} bytes; the limit is {limit}")
    chunks = []
    size = 0
    async for chunk in body:
        size += len(chunk)
        if size > limit:
            raise _too_large(f"the image is over {limit} bytes; the limit is {limit}")
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(message: str) -> RejectedFrame:
    FRAMES_REJECTED.labels("too_large").inc()
    return RejectedFrame("too_large", message, status=413)


async def _multipart_frame(request: Request, max_bytes: int) -> tuple[FrameFields, bytes]:
    async with request.form() as form:
        fields = frame_fields(
            {"camera_id": form.get("camera_id"), "captured_at": form.get("captured_at")}, "body", {}
        )
        image = form.get("image")
        if not isinstance(image, StarletteUploadFile):
            raise RequestValidationError(
                [{"loc": ("body", "image"), "msg": "Field required: the JPEG or PNG file", "type": "missing"}]
            )
        return fields, await image.read(max_bytes + 1)
