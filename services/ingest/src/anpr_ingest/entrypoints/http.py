"""Ingest's REST surface: the camera register, the public camera map, frame and read intake."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal, Self

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, ValidationError, model_validator
from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import UploadFile as StarletteUploadFile

from anpr.v1 import common_pb2, frame_pb2, read_pb2
from anpr_core.auditing import AuditTrail
from anpr_core.auth import Action, Principal, require
from anpr_core.bus import BusUnavailable
from anpr_core.events import Topics, new_meta, to_timestamp, utcnow
from anpr_core.metrics import (
    CAMERA_CLOCK_SKEW,
    CAMERA_LAST_SEEN,
    CAMERA_READS_RECEIVED,
    FRAMES_RECEIVED,
    FRAMES_REJECTED,
    INTAKE_DUPLICATES,
    READS,
)
from anpr_core.problems import RETRY_AFTER_S, Problem
from anpr_ingest import timing
from anpr_ingest.adapters.camera_cache import CameraCache
from anpr_ingest.adapters.camera_register import CameraRegister
from anpr_ingest.adapters.images import ImageChecker
from anpr_ingest.adapters.publish_once import DedupeUnavailable, IntakeBatcher
from anpr_ingest.domain.cameras import (
    Camera,
    CameraKind,
    CameraStatus,
    Direction,
    StatusChangeRefused,
    check_status_change,
    hash_api_key,
    is_silent,
    key_matches,
    new_api_key,
)
from anpr_ingest.domain.errors import RejectedFrame
from anpr_ingest.domain.event_ids import intake_event_id
from anpr_ingest.domain.intake import (
    CropLimits,
    FrameLimits,
    Intake,
    IntakeEntry,
    check_crop,
    check_frame,
    check_read,
    clock_skew_seconds,
    frame_digest,
    read_digest,
)
from anpr_ingest.domain.public_map import MapCamera, geojson_text, to_csv
from anpr_ingest.settings import IngestSettings

log = logging.getLogger(__name__)

_DIRECTIONS = {
    Direction.IN: common_pb2.DIRECTION_IN,
    Direction.OUT: common_pb2.DIRECTION_OUT,
    Direction.BOTH: common_pb2.DIRECTION_BOTH,
}
_ZONE_ID = r"^[A-Za-z0-9_.-]{1,32}$"
# Frame.image: field number, wire type 2 (length-delimited); one byte while the number is below 16.
_IMAGE_TAG = bytes([frame_pb2.Frame.DESCRIPTOR.fields_by_name["image"].number << 3 | 2])


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def frame_record(frame: frame_pb2.Frame, image: bytes) -> bytes:
    """`frame` (without its image) serialized with `image` as its image field, the image copied once
    instead of twice (into the message, then out): a parser takes fields in any order."""
    return b"".join((frame.SerializeToString(), _IMAGE_TAG, _varint(len(image)), image))


# Dependency aliases live at module level: FastAPI resolves string annotations there.
CameraAdmin = Annotated[Principal, Depends(require(Action.MANAGE_CAMERAS))]
CameraViewer = Annotated[Principal, Depends(require(Action.VIEW_CAMERAS))]
CameraKey = Annotated[str | None, Header(description="The camera's own key")]


class Position(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Sign(Position):
    description: str = Field(default="", max_length=500, description="Where the pictogram sign stands")


class SignChange(Position):
    """A PATCH replaces the whole sign: its description is sent too ("" to clear it), so that moving
    a sign never wipes its description unnoticed."""

    description: str = Field(max_length=500, description="Where the pictogram sign stands")


class CameraFields(BaseModel):
    """What an admin may set on a camera, at registration or later (PATCH)."""

    name: str = Field(min_length=1, max_length=200)
    direction: Direction
    kind: CameraKind = CameraKind.FRAME
    position: Position | None = None
    road: str = Field(default="", max_length=200)
    zone_id: str | None = Field(default=None, pattern=_ZONE_ID, description="Defaults to this zone")
    border_camera: bool = Field(default=False, description="Shared with a neighbour zone")
    neighbour_zone_id: str | None = Field(default=None, pattern=_ZONE_ID)
    approval_reference: str = Field(default="", max_length=200, description="Council approval")
    approval_date: date | None = None
    sign: Sign | None = None
    impact_analysis_reference: str = Field(default="", max_length=200)


class CameraIn(CameraFields):
    camera_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

    @model_validator(mode="after")
    def _border_names_its_neighbour(self) -> Self:
        _check_border(self.border_camera, self.neighbour_zone_id)
        return self


class CameraPatch(BaseModel):
    """Only the fields sent are changed; `null` clears an optional one."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    direction: Direction | None = None
    kind: CameraKind | None = None
    position: Position | None = None
    road: str | None = Field(default=None, max_length=200)
    zone_id: str | None = Field(default=None, pattern=_ZONE_ID)
    border_camera: bool | None = None
    neighbour_zone_id: str | None = Field(default=None, pattern=_ZONE_ID)
    approval_reference: str | None = Field(default=None, max_length=200)
    approval_date: date | None = None
    sign: SignChange | None = None
    impact_analysis_reference: str | None = Field(default=None, max_length=200)
    status: CameraStatus | None = None


class CameraOut(BaseModel):
    camera_id: str
    name: str
    direction: Direction
    kind: CameraKind
    position: Position | None
    road: str
    zone_id: str
    border_camera: bool
    neighbour_zone_id: str | None
    approval_reference: str
    approval_date: date | None
    sign: Sign | None
    impact_analysis_reference: str
    status: CameraStatus
    has_key: bool = Field(description="False after revocation, until the key is rotated")
    created_at: datetime
    updated_at: datetime | None
    last_seen_at: datetime | None
    silent: bool


class CameraCreated(CameraOut):
    api_key: str = Field(description="Shown once; only its hash is stored.")


class FrameFields(BaseModel):
    """What comes with a frame's bytes: form fields, or headers when the body is the image itself."""

    camera_id: str = Field(min_length=1, max_length=64)
    captured_at: datetime = Field(description="ISO 8601 with offset")


# Raw-body intake: the body is the image, its metadata in headers (no multipart to parse).
RAW_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "application/octet-stream"})
_BINARY = {"type": "string", "format": "binary"}
_FRAME_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["camera_id", "captured_at", "image"],
                    "properties": {
                        "camera_id": {"type": "string", "minLength": 1, "maxLength": 64},
                        "captured_at": {
                            "type": "string",
                            "format": "date-time",
                            "description": "ISO 8601 with offset",
                        },
                        "image": {**_BINARY, "description": "JPEG or PNG"},
                    },
                }
            },
            "image/jpeg": {"schema": _BINARY},
            "image/png": {"schema": _BINARY},
        },
    }
}


def _frame_fields(values: dict[str, Any], where: str, names: dict[str, str]) -> FrameFields:
    """Validates a frame's fields like FastAPI validates a form: a 422 that names each bad field."""
    try:
        return FrameFields.model_validate({k: v for k, v in values.items() if v is not None})
    except ValidationError as error:
        raise RequestValidationError(
            [
                {**e, "loc": (where, names.get(str(e["loc"][0]), e["loc"][0]), *e["loc"][1:])}
                for e in error.errors()
            ]
        ) from error


class FrameAccepted(BaseModel):
    event_id: str = Field(
        description="Derived from the camera, capture time and bytes: a resend is the same event"
    )
    camera_id: str
    content_type: str
    width: int
    height: int
    duplicate: bool = Field(default=False, description="Sent before: the first event id, not published again")


class ReadAccepted(BaseModel):
    event_id: str
    camera_id: str
    plate: str
    duplicate: bool = False


def _check_border(border: bool, neighbour: str | None) -> None:
    if border and not neighbour:
        raise ValueError("a border camera names the neighbour zone it is shared with (neighbour_zone_id)")
    if not border and neighbour:
        raise ValueError("neighbour_zone_id is only for border cameras (set border_camera: true)")


# A raw-body frame: the request headers (lower-case names), the body's chunks, and when it began.
RawFrameIntake = Callable[[Mapping[str, str], AsyncIterator[bytes], float], Awaitable["FrameAccepted"]]


@dataclass(frozen=True)
class IngestRoutes:
    router: APIRouter
    # The intake behind POST /v1/frames for a raw image body, shared by the route and the ASGI fast
    # path (anpr_ingest.entrypoints.fast_path) that serves it without FastAPI's routing.
    raw_frame: RawFrameIntake


def build_router(
    settings: IngestSettings,
    register: CameraRegister,
    batcher: IntakeBatcher,
    audit: AuditTrail,
    cache: CameraCache,
    images: ImageChecker,
) -> IngestRoutes:
    router = APIRouter(prefix="/v1")
    topics = Topics(settings.topic_prefix)
    limits = FrameLimits(
        max_bytes=settings.max_frame_bytes,
        min_side=settings.min_frame_side,
        max_side=settings.max_frame_side,
        max_clock_skew=timedelta(seconds=settings.max_clock_skew_s),
        max_pixels=settings.max_image_pixels,
    )
    crop_limits = CropLimits(
        settings.max_crop_bytes, settings.min_crop_side, settings.max_crop_side, settings.max_image_pixels
    )
    silent_gap = timedelta(seconds=settings.silent_after_s)
    last_written: dict[str, float] = {}

    def camera_out(camera: Camera, now: datetime | None = None) -> CameraOut:
        return CameraOut(
            camera_id=camera.camera_id,
            name=camera.name,
            direction=Direction(camera.direction),
            kind=CameraKind(camera.kind),
            position=Position(lat=camera.latitude, lon=camera.longitude)
            if camera.latitude is not None and camera.longitude is not None
            else None,
            road=camera.road,
            zone_id=camera.zone_id,
            border_camera=camera.border_camera,
            neighbour_zone_id=camera.neighbour_zone_id,
            approval_reference=camera.approval_reference,
            approval_date=camera.approval_date,
            sign=Sign(
                lat=camera.sign_latitude, lon=camera.sign_longitude, description=camera.sign_description
            )
            if camera.sign_latitude is not None and camera.sign_longitude is not None
            else None,
            impact_analysis_reference=camera.impact_analysis_reference,
            status=CameraStatus(camera.status),
            has_key=bool(camera.api_key_hash),
            created_at=camera.created_at,
            updated_at=camera.updated_at,
            last_seen_at=camera.last_seen_at,
            silent=is_silent(
                CameraStatus(camera.status),
                camera.last_seen_at,
                camera.created_at,
                now or datetime.now(UTC),
                silent_gap,
            ),
        )

    async def existing(camera_id: str) -> Camera:
        camera = await register.get(camera_id)
        if camera is None:
            raise Problem(
                404, "Not Found", f"camera {camera_id} is not registered; GET /v1/cameras lists them"
            )
        return camera

    # --- the register (admin) -------------------------------------------------------------------

    @router.post("/cameras", status_code=201, response_model=CameraCreated, tags=["cameras"])
    async def register_camera(body: CameraIn, principal: CameraAdmin) -> CameraCreated:
        api_key = new_api_key()
        now = utcnow()
        camera = Camera(
            camera_id=body.camera_id,
            status=CameraStatus.ACTIVE.value,
            api_key_hash=hash_api_key(api_key),
            created_at=now,
            last_seen_at=None,
            **_stored_fields(body.model_dump(exclude={"camera_id"}), settings.zone_id),
        )
        if not await register.add(camera):
            raise Problem(409, "Conflict", f"camera {body.camera_id} is already registered")
        await audit.record(
            principal,
            "camera_change",
            query={"op": "register", **body.model_dump(mode="json")},
            record_ids=[body.camera_id],
        )
        return CameraCreated(**camera_out(camera, now).model_dump(), api_key=api_key)

    @router.patch("/cameras/{camera_id}", response_model=CameraOut, tags=["cameras"])
    async def update_camera(camera_id: str, body: CameraPatch, principal: CameraAdmin) -> CameraOut:
        camera = await existing(camera_id)
        sent = body.model_dump(exclude_unset=True)
        for required in ("name", "direction", "kind", "border_camera", "status"):
            if required in sent and sent[required] is None:
                raise Problem(422, "Invalid request", f"{required} cannot be cleared; send a value")
        if "status" in sent:
            try:
                check_status_change(CameraStatus(camera.status), CameraStatus(sent["status"]))
            except StatusChangeRefused as refused:
                raise Problem(409, "Conflict", str(refused)) from refused
        changes = _stored_fields(sent, camera.zone_id, partial=True)
        updated = camera.changed(**changes, updated_at=utcnow())
        try:
            _check_border(updated.border_camera, updated.neighbour_zone_id)
        except ValueError as error:
            raise Problem(422, "Invalid request", str(error)) from error
        await register.save(updated)
        cache.evict(camera_id)
        await audit.record(
            principal,
            "camera_change",
            query={"op": "update", **body.model_dump(mode="json", exclude_unset=True)},
            record_ids=[camera_id],
        )
        return camera_out(updated)

    @router.post("/cameras/{camera_id}/key", response_model=CameraCreated, tags=["cameras"])
    async def rotate_key(camera_id: str, principal: CameraAdmin) -> CameraCreated:
        camera = await existing(camera_id)
        api_key = new_api_key()
        await register.set_key_hash(camera_id, hash_api_key(api_key))
        cache.evict(camera_id)
        await audit.record(principal, "camera_change", query={"op": "rotate_key"}, record_ids=[camera_id])
        rotated = camera.changed(api_key_hash=hash_api_key(api_key))
        return CameraCreated(**camera_out(rotated).model_dump(), api_key=api_key)

    @router.delete("/cameras/{camera_id}/key", status_code=204, tags=["cameras"])
    async def revoke_key(camera_id: str, principal: CameraAdmin) -> Response:
        """The camera has no valid key until one is rotated in (POST .../key)."""
        await existing(camera_id)
        await register.set_key_hash(camera_id, "")
        cache.evict(camera_id)
        await audit.record(principal, "camera_change", query={"op": "revoke_key"}, record_ids=[camera_id])
        return Response(status_code=204)

    @router.get("/cameras", response_model=list[CameraOut], tags=["cameras"])
    async def list_cameras(_principal: CameraViewer) -> list[CameraOut]:
        now = datetime.now(UTC)
        return [camera_out(camera, now) for camera in await register.list()]

    # Declared before /cameras/{camera_id} so "export" is not taken for an id.
    @router.get(
        "/cameras/export",
        tags=["public"],
        responses={200: {"content": {"text/csv": {}, "application/geo+json": {}}}},
        response_class=Response,
    )
    async def export_cameras(
        export_format: Annotated[Literal["csv", "geojson"], Query(alias="format")] = "geojson",
    ) -> Response:
        """The public camera map (no token): positions and signs only; see the README for what is left out."""
        entries = [
            MapCamera(
                camera_id=c.camera_id,
                name=c.name,
                road=c.road,
                direction=c.direction,
                latitude=c.latitude,
                longitude=c.longitude,
                sign_latitude=c.sign_latitude,
                sign_longitude=c.sign_longitude,
                sign_description=c.sign_description,
            )
            for c in await register.list()
            if c.status != CameraStatus.RETIRED.value and c.latitude is not None and c.longitude is not None
        ]
        if export_format == "csv":
            return Response(
                to_csv(entries),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": 'attachment; filename="cameras.csv"'},
            )
        return Response(geojson_text(entries), media_type="application/geo+json")

    @router.get("/cameras/{camera_id}", response_model=CameraOut, tags=["cameras"])
    async def get_camera(camera_id: str, _principal: CameraViewer) -> CameraOut:
        return camera_out(await existing(camera_id))

    # --- the camera side ------------------------------------------------------------------------

    async def authenticate(camera_id: str, key: str | None) -> Camera:
        if not key:
            FRAMES_REJECTED.labels("no_key").inc()
            raise Problem(401, "Unauthorized", "the X-Camera-Key header is required")
        try:
            camera = await cache.get(camera_id)
        except (SQLAlchemyError, OSError) as error:
            FRAMES_REJECTED.labels("register_unavailable").inc()
            raise unavailable("the camera register did not answer, so nothing was stored") from error
        if camera is None:
            FRAMES_REJECTED.labels("unknown_camera").inc()
            raise Problem(404, "Unknown camera", f"camera {camera_id} is not registered")
        if not key_matches(key, camera.api_key_hash):
            FRAMES_REJECTED.labels("bad_key").inc()
            raise Problem(
                401,
                "Unauthorized",
                f"the key is not valid for camera {camera_id}; ask the administrator for the current key",
            )
        if camera.status == CameraStatus.RETIRED.value:
            FRAMES_REJECTED.labels("retired").inc()
            raise Problem(403, "Forbidden", f"camera {camera_id} is retired")
        return camera

    async def seen(camera_id: str, now: datetime, *, required: bool = False) -> None:
        """Records that the camera reported. `required` (a heartbeat, which is nothing else): a
        register that does not answer is a 503; after a frame or read, only a logged warning."""
        CAMERA_LAST_SEEN.labels(camera_id).set(now.timestamp())
        # The metric is exact; the register's column is written at most every few seconds per
        # camera, so a busy camera does not cost a database write per frame.
        tick = time.monotonic()
        if tick - last_written.get(camera_id, -1e9) >= settings.last_seen_write_interval_s:
            last_written[camera_id] = tick
            try:
                await register.touch(camera_id, now)
            except (SQLAlchemyError, OSError) as error:
                del last_written[camera_id]  # written on the next report instead
                if required:
                    raise unavailable("the register did not answer; the heartbeat is not recorded") from error
                log.warning("could not record last-seen of camera %s", camera_id, exc_info=True)

    def observe_skew(camera_id: str, captured_at: datetime, now: datetime) -> None:
        if captured_at.tzinfo is not None:
            CAMERA_CLOCK_SKEW.labels(camera_id).set(clock_skew_seconds(captured_at, now))

    def refused(rejection: RejectedFrame) -> Problem:
        FRAMES_REJECTED.labels(rejection.reason).inc()
        return Problem(
            rejection.status,
            "Frame rejected",
            str(rejection),
            problem_type=f"urn:schild:frame:{rejection.reason}",
        )

    async def publish_once(
        camera: Camera,
        captured_at: datetime,
        digest: str,
        event_id: str,
        topic: str,
        value: bytes,
        now: datetime,
    ) -> str | None:
        """Publishes unless Kafka holds it already; returns the original event id of a duplicate.

        The batcher claims (camera, captured_at, digest) in the dedupe table, publishes, waits for the
        broker's acknowledgement (acks=all) and commits the claim, together with the intakes that
        arrived at the same time (anpr_ingest.adapters.publish_once). A publish without an
        acknowledgement keeps its claim, unconfirmed: the camera's resend is published again under
        the same event id (derived from the content), so whichever copies reach Kafka, the sinks
        keep one.
        """
        intake = Intake(
            IntakeEntry(camera.camera_id, captured_at, digest, event_id, now),
            topic,
            camera.camera_id.encode(),
            value,
        )
        try:
            return await batcher.submit(intake)
        except BusUnavailable as error:
            FRAMES_REJECTED.labels("bus_unavailable").inc()
            raise unavailable(
                "the broker did not acknowledge it in time, so it may or may not be stored; send it "
                "again after Retry-After: the resend is the same event (same event_id) and is stored once",
                event_id=event_id,
                stored="unknown",
            ) from error
        except DedupeUnavailable as error:
            FRAMES_REJECTED.labels("dedupe_unavailable").inc()
            raise unavailable(
                "the intake database did not answer, so nothing was stored; send it again after Retry-After",
                event_id=event_id,
                stored="no",
            ) from error

    async def raw_image(declared: str, body: AsyncIterator[bytes]) -> bytes:
        """The body as it comes, refused as soon as it is known to pass the frame limit."""
        limit = settings.max_frame_bytes
        if declared.isdigit() and int(declared) > limit:
            too_large = RejectedFrame(
                "too_large", f"the image is {declared} bytes; the limit is {limit}", status=413
            )
            raise refused(too_large)
        chunks = []
        size = 0
        async for chunk in body:
            size += len(chunk)
            if size > limit:
                too_large = RejectedFrame(
                    "too_large", f"the image is over {limit} bytes; the limit is {limit}", status=413
                )
                raise refused(too_large)
            chunks.append(chunk)
        return b"".join(chunks)

    async def multipart_frame(request: Request) -> tuple[FrameFields, bytes]:
        async with request.form() as form:
            fields = _frame_fields(
                {"camera_id": form.get("camera_id"), "captured_at": form.get("captured_at")}, "body", {}
            )
            image = form.get("image")
            if not isinstance(image, StarletteUploadFile):
                raise RequestValidationError(
                    [
                        {
                            "loc": ("body", "image"),
                            "msg": "Field required: the JPEG or PNG file",
                            "type": "missing",
                        }
                    ]
                )
            return fields, await image.read(settings.max_frame_bytes + 1)

    @router.post(
        "/frames", status_code=202, response_model=FrameAccepted, tags=["intake"], openapi_extra=_FRAME_BODY
    )
    async def post_frame(
        request: Request,
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
            fields, data = await multipart_frame(request)
        elif content_type.partition(";")[0].strip().lower() in RAW_IMAGE_TYPES:
            accepted = await raw_frame(request.headers, request.stream(), began)
            return Response(accepted.model_dump_json(), status_code=202, media_type="application/json")
        else:
            raise Problem(
                422,
                "Invalid request",
                "send the frame as multipart/form-data (camera_id, captured_at, image), or the image itself "
                "as the body (Content-Type image/jpeg or image/png) with X-Camera-Id and X-Captured-At",
            )
        accepted = await accept_frame(fields, data, x_camera_key, began)
        # Built here rather than by FastAPI: the model is validated once, not again on the way out.
        return Response(accepted.model_dump_json(), status_code=202, media_type="application/json")

    async def raw_frame(
        headers: Mapping[str, str], body: AsyncIterator[bytes], began: float
    ) -> FrameAccepted:
        fields = _frame_fields(
            {"camera_id": headers.get("x-camera-id"), "captured_at": headers.get("x-captured-at")},
            "header",
            {"camera_id": "x-camera-id", "captured_at": "x-captured-at"},
        )
        data = await raw_image(headers.get("content-length", ""), body)
        return await accept_frame(fields, data, headers.get("x-camera-key"), began)

    async def accept_frame(
        fields: FrameFields, data: bytes, camera_key: str | None, began: float
    ) -> FrameAccepted:
        """A frame and its fields, received since `began`: checks, dedupe, publish; raises Problem."""
        received = time.perf_counter()
        timing.BODY.observe(received - began)
        captured_at = fields.captured_at
        camera = await authenticate(fields.camera_id, camera_key)
        checked = time.perf_counter()
        timing.CREDENTIALS.observe(checked - received)
        now = datetime.now(UTC)
        observe_skew(camera.camera_id, captured_at, now)
        try:
            info = check_frame(data, captured_at, now, limits)
            headed = time.perf_counter()
            timing.IMAGE_CHECK.observe(headed - checked)
            await images.verify(data, info)
        except RejectedFrame as rejection:
            raise refused(rejection) from rejection
        sniffed = time.perf_counter()
        timing.IMAGE_DECODE.observe(sniffed - headed)
        digest = frame_digest(data)
        hashed = time.perf_counter()
        timing.DIGEST.observe(hashed - sniffed)
        meta = new_meta(settings.zone_id, "ingest")
        meta.event_id = intake_event_id(settings.zone_id, camera.camera_id, captured_at, digest)
        frame = frame_pb2.Frame(
            meta=meta,
            camera_id=camera.camera_id,
            captured_at=to_timestamp(captured_at),
            content_type=info.content_type,
            width=info.width,
            height=info.height,
            sha256=digest,
            direction=_DIRECTIONS[Direction(camera.direction)],
        )
        value = frame_record(frame, data)
        built = time.perf_counter()
        timing.EVENT.observe(built - hashed)
        original = await publish_once(camera, captured_at, digest, meta.event_id, topics.frames, value, now)
        timing.WAIT.observe(time.perf_counter() - built)
        if original is not None:
            INTAKE_DUPLICATES.labels("frame").inc()
        else:
            FRAMES_RECEIVED.labels(camera.camera_id).inc()
        await seen(camera.camera_id, now)
        accepted = FrameAccepted(
            event_id=original or meta.event_id,
            camera_id=camera.camera_id,
            content_type=info.content_type,
            width=info.width,
            height=info.height,
            duplicate=original is not None,
        )
        timing.HANDLER.observe(time.perf_counter() - began)
        return accepted

    @router.post("/reads", status_code=202, response_model=ReadAccepted, tags=["intake"])
    async def post_read(
        camera_id: Annotated[str, Form(min_length=1, max_length=64)],
        captured_at: Annotated[datetime, Form(description="ISO 8601 with offset")],
        text: Annotated[
            str, Form(min_length=1, max_length=64, description="The plate as the camera read it")
        ],
        confidence: Annotated[float, Form(description="0 to 1")],
        crop: Annotated[UploadFile | None, File(description="JPEG crop of the plate")] = None,
        x_camera_key: CameraKey = None,
    ) -> ReadAccepted:
        camera = await authenticate(camera_id, x_camera_key)
        if camera.kind != CameraKind.SMART.value:
            FRAMES_REJECTED.labels("not_smart").inc()
            raise Problem(
                403,
                "Forbidden",
                f"camera {camera_id} is registered as a frame camera; it sends frames to /v1/frames, "
                "or an admin registers it as kind smart",
            )
        now = datetime.now(UTC)
        observe_skew(camera.camera_id, captured_at, now)
        crop_bytes = b""
        try:
            plate = check_read(text, confidence, captured_at, now, limits.max_clock_skew)
            if crop is not None:
                crop_bytes = await crop.read(settings.max_crop_bytes + 1)
                await images.verify(crop_bytes, check_crop(crop_bytes, crop_limits), "crop")
        except RejectedFrame as rejection:
            raise refused(rejection) from rejection
        digest = read_digest(plate, crop_bytes)
        meta = new_meta(settings.zone_id, "ingest")
        meta.event_id = intake_event_id(settings.zone_id, camera.camera_id, captured_at, digest)
        read = read_pb2.PlateRead(
            meta=meta,
            camera_id=camera.camera_id,
            captured_at=to_timestamp(captured_at),
            direction=_DIRECTIONS[Direction(camera.direction)],
            plate=plate,
            confidence=confidence,
            candidates=[read_pb2.PlateCandidate(text=plate, confidence=confidence)],
            camera_read=True,
            plate_crop=crop_bytes,
            reader=f"camera:{camera.camera_id}",
        )
        original = await publish_once(
            camera, captured_at, digest, meta.event_id, topics.reads, read.SerializeToString(), now
        )
        if original is not None:
            INTAKE_DUPLICATES.labels("read").inc()
        else:
            CAMERA_READS_RECEIVED.labels(camera.camera_id).inc()
            READS.labels("camera").inc()
        await seen(camera.camera_id, now)
        return ReadAccepted(
            event_id=original or meta.event_id,
            camera_id=camera.camera_id,
            plate=plate,
            duplicate=original is not None,
        )

    @router.post("/cameras/{camera_id}/heartbeat", status_code=204, tags=["intake"])
    async def heartbeat(camera_id: str, x_camera_key: CameraKey = None) -> Response:
        """A camera with nothing to send says it is alive; it is not marked silent."""
        camera = await authenticate(camera_id, x_camera_key)
        await seen(camera.camera_id, datetime.now(UTC), required=True)
        return Response(status_code=204)

    return IngestRoutes(router, raw_frame)


def unavailable(detail: str, **extensions: Any) -> Problem:
    """503 with Retry-After: a dependency (the broker, the database) did not answer; it will again."""
    return Problem(
        503,
        "Service Unavailable",
        detail,
        problem_type="urn:schild:unavailable",
        headers={"Retry-After": str(RETRY_AFTER_S)},
        **extensions,
    )


def _stored_fields(sent: dict[str, Any], default_zone: str, *, partial: bool = False) -> dict[str, Any]:
    """Maps the API's shape (nested position and sign) onto the register's columns."""
    fields: dict[str, Any] = {}
    for name, value in sent.items():
        if name == "position":
            fields["latitude"] = value["lat"] if value else None
            fields["longitude"] = value["lon"] if value else None
        elif name == "sign":
            fields["sign_latitude"] = value["lat"] if value else None
            fields["sign_longitude"] = value["lon"] if value else None
            fields["sign_description"] = value["description"] if value else ""
        elif name == "zone_id":
            fields["zone_id"] = value or default_zone
        elif name in ("road", "approval_reference", "impact_analysis_reference"):
            fields[name] = value or ""
        elif hasattr(value, "value"):  # enums are stored as their text
            fields[name] = value.value
        else:
            fields[name] = value
    if not partial:
        fields.setdefault("zone_id", default_zone)
    return fields
