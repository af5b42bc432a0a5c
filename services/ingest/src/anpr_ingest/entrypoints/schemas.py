"""The shapes of ingest's REST API (requests and answers), and how they map onto the register's
records: what the routes parse and what they answer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Self

from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, Field, ValidationError, model_validator

from anpr_ingest.domain.cameras import (
    DEFAULT_TIME_ZONE,
    MAX_FRAME_SIDE,
    Camera,
    CameraKind,
    CameraStatus,
    Direction,
    check_border,
    check_plate_width,
    check_region,
    is_silent,
)
from anpr_ingest.domain.vendors import Vendor
from anpr_ingest.handlers.intake import AcceptedFrame, AcceptedRead

_ZONE_ID = r"^[A-Za-z0-9_.-]{1,32}$"


class Position(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Sign(Position):
    description: str = Field(default="", max_length=500, description="Where the pictogram sign stands")


class SignChange(Position):
    """A PATCH replaces the whole sign: its description is sent too ("" to clear it), so that moving
    a sign never wipes its description unnoticed."""

    description: str = Field(max_length=500, description="Where the pictogram sign stands")


class FramePoint(BaseModel):
    x: int = Field(ge=0, le=MAX_FRAME_SIDE, description="Frame pixels from the left edge")
    y: int = Field(ge=0, le=MAX_FRAME_SIDE, description="Frame pixels from the top edge")


def _encloses_an_area(corners: list[FramePoint]) -> list[FramePoint]:
    check_region([(c.x, c.y) for c in corners])
    return corners


# Where plates appear on the camera's frames: detect reads only this polygon's bounding box.
Region = Annotated[list[FramePoint], Field(min_length=3, max_length=64), AfterValidator(_encloses_an_area)]


class PlateWidth(BaseModel):
    """How wide the camera's plates are in its frames: detect drops plates narrower or wider."""

    min: int = Field(ge=1, le=MAX_FRAME_SIDE, description="Pixels")
    max: int = Field(ge=1, le=MAX_FRAME_SIDE, description="Pixels")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        check_plate_width(self.min, self.max)
        return self


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
    vendor: Vendor | None = Field(
        default=None,
        description="A smart camera that pushes its vendor's own format to /v1/vendors/{vendor}/{camera_id}",
    )
    time_zone: str = Field(
        default=DEFAULT_TIME_ZONE,
        min_length=1,
        max_length=64,
        description="IANA time zone of the times the camera sends without an offset",
    )
    region: Region | None = Field(
        default=None, description="Region of interest, corners in frame pixels; none: the whole frame"
    )
    plate_width: PlateWidth | None = None


class CameraIn(CameraFields):
    camera_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

    @model_validator(mode="after")
    def _border_names_its_neighbour(self) -> Self:
        check_border(self.border_camera, self.neighbour_zone_id)
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
    vendor: Vendor | None = None
    time_zone: str | None = Field(default=None, min_length=1, max_length=64)
    region: Region | None = None
    plate_width: PlateWidth | None = None


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
    vendor: Vendor | None
    time_zone: str
    region: list[FramePoint] | None
    plate_width: PlateWidth | None
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


# Raw-body intake: the body is the image, its metadata in headers (no multipart to parse). FRAME_BODY
# documents both ways of sending a frame.
RAW_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "application/octet-stream"})
_BINARY = {"type": "string", "format": "binary"}
FRAME_BODY: dict[str, Any] = {
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


def frame_fields(values: dict[str, Any], where: str, names: dict[str, str]) -> FrameFields:
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


def camera_out(camera: Camera, silent_gap: timedelta, now: datetime | None = None) -> CameraOut:
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
        sign=Sign(lat=camera.sign_latitude, lon=camera.sign_longitude, description=camera.sign_description)
        if camera.sign_latitude is not None and camera.sign_longitude is not None
        else None,
        impact_analysis_reference=camera.impact_analysis_reference,
        status=CameraStatus(camera.status),
        vendor=Vendor(camera.vendor) if camera.vendor else None,
        time_zone=camera.time_zone,
        region=[FramePoint(x=x, y=y) for x, y in camera.region] if camera.region else None,
        plate_width=PlateWidth(min=camera.min_plate_width, max=camera.max_plate_width)
        if camera.min_plate_width is not None and camera.max_plate_width is not None
        else None,
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


def stored_fields(sent: dict[str, Any]) -> dict[str, Any]:
    """Maps the API's shape (nested position and sign) onto the register's fields. A zone left out
    or cleared is None: the handler gives it this zone, or the camera's own."""
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
            fields["zone_id"] = value or None
        elif name == "vendor":
            fields["vendor"] = value.value if value else ""
        elif name == "region":
            fields["region"] = [[corner["x"], corner["y"]] for corner in value] if value else None
        elif name == "plate_width":
            fields["min_plate_width"] = value["min"] if value else None
            fields["max_plate_width"] = value["max"] if value else None
        elif name in ("road", "approval_reference", "impact_analysis_reference"):
            fields[name] = value or ""
        elif hasattr(value, "value"):  # enums are stored as their text
            fields[name] = value.value
        else:
            fields[name] = value
    return fields


def frame_accepted(accepted: AcceptedFrame) -> FrameAccepted:
    return FrameAccepted(
        event_id=accepted.event_id,
        camera_id=accepted.camera_id,
        content_type=accepted.content_type,
        width=accepted.width,
        height=accepted.height,
        duplicate=accepted.duplicate,
    )


def read_accepted(accepted: AcceptedRead) -> ReadAccepted:
    return ReadAccepted(
        event_id=accepted.event_id,
        camera_id=accepted.camera_id,
        plate=accepted.plate,
        duplicate=accepted.duplicate,
    )
