"""Vendor cameras over REST: `POST /v1/vendors/{vendor}/{camera_id}` in each vendor's own format
(its credential as HTTP Basic or Digest, or the X-Camera-Key header, or the key in the path for
cameras that can do neither), and Dahua's fixed paths at the root, /NotificationInfo/TollgateInfo
and /NotificationInfo/KeepAlive, where the credential's user names the camera. Each is answered the
way the vendor's firmware expects; refusals are problem+json."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from anpr_core.metrics import FRAMES_REJECTED
from anpr_ingest.domain.camera_auth import KeyCredential, parse_authorization
from anpr_ingest.domain.errors import RejectedFrame
from anpr_ingest.domain.vendors import Vendor
from anpr_ingest.domain.vendors.answers import MEDIA_TYPES, taken
from anpr_ingest.entrypoints.deps import CameraKey, Vendors
from anpr_ingest.handlers.camera_auth import WhoSends
from anpr_ingest.handlers.vendors import PushRequest, PushTaken, VendorPorts, accept_push, who_sends

router = APIRouter(prefix="/v1")
# Dahua ITC cameras post to these paths at the server's root, whatever else is configured.
fixed_paths = APIRouter()
DAHUA_PREFIX = "/NotificationInfo/"

_BINARY = {"type": "string", "format": "binary"}
_PUSH: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "The push as the camera sends it (see the README for each vendor's format)",
        "content": {
            media: {"schema": _BINARY}
            for media in (
                "multipart/form-data",
                "application/xml",
                "text/xml",
                "application/json",
                "application/x-www-form-urlencoded",
                "text/plain",
            )
        },
    }
}
_TAKEN: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Taken (or taken before: a resend is the same event), in the form the vendor's "
        "firmware expects; X-Event-Ids lists the reads' event ids",
        "headers": {"X-Event-Ids": {"schema": {"type": "string"}}},
        "content": {media: {"schema": {"type": "string"}} for media in MEDIA_TYPES},
    }
}
_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
# Documented on every vendor route, whichever way its camera authenticates (the header, the path or
# an Authorization the route does not declare).
_TAKEN.update(
    {
        401: {
            "description": "No credential, or one that does not hold; the challenges say how to send one",
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
            "content": _PROBLEM,
        },
        403: {
            "description": "Another camera's credential, or a camera not registered for this vendor",
            "content": _PROBLEM,
        },
        404: {
            "description": "The camera the path or the credential names is not registered",
            "content": _PROBLEM,
        },
    }
)
_ROUTE: dict[str, Any] = {
    "tags": ["vendors"],
    "response_class": Response,
    "responses": _TAKEN,
    "openapi_extra": _PUSH,
}
CameraId = Annotated[str, Path(min_length=1, max_length=64)]


@router.post("/vendors/{vendor}/{camera_id}", **_ROUTE)
async def vendor_push(
    vendor: Vendor, camera_id: CameraId, request: Request, ports: Vendors, x_camera_key: CameraKey = None
) -> Response:
    """One push of a camera registered as `kind` smart with this `vendor`. Authenticate with HTTP
    Basic or Digest (user: the camera id, password: its key), or send the key in X-Camera-Key."""
    credential = parse_authorization(request.headers.get("authorization"), request.method)
    if credential is None and x_camera_key:
        return await _push(ports, request, vendor, camera_id, KeyCredential(x_camera_key))
    return await _push(ports, request, vendor, camera_id, credential)


@router.post("/vendors/{vendor}/{camera_id}/key/{camera_key}", **_ROUTE)
async def vendor_push_keyed(
    vendor: Vendor,
    camera_id: CameraId,
    camera_key: Annotated[str, Path(min_length=1, max_length=128)],
    request: Request,
    ports: Vendors,
) -> Response:
    """For cameras that can send neither a credential nor a header: the key in the path. It shows in
    every log the URL passes through; see the README for how the ingress limits such routes."""
    return await _push(ports, request, vendor, camera_id, KeyCredential(camera_key))


@fixed_paths.post(DAHUA_PREFIX + "TollgateInfo", **_ROUTE)
async def dahua_tollgate(request: Request, ports: Vendors) -> Response:
    """A Dahua ITC camera's plate notification; its Digest (or Basic) user is the camera id."""
    credential = parse_authorization(request.headers.get("authorization"), request.method)
    return await _push(ports, request, Vendor.DAHUA, None, credential)


@fixed_paths.post(DAHUA_PREFIX + "KeepAlive", **_ROUTE)
async def dahua_keep_alive(request: Request, ports: Vendors) -> Response:
    """A Dahua ITC camera's heartbeat: it is not marked silent."""
    credential = parse_authorization(request.headers.get("authorization"), request.method)
    return await _push(ports, request, Vendor.DAHUA, None, credential, keep_alive=True)


async def _push(
    ports: VendorPorts,
    request: Request,
    vendor: Vendor,
    camera_id: str | None,
    credential: Any,
    *,
    keep_alive: bool = False,
) -> Response:
    who = WhoSends(vendor, camera_id, credential, request.url.path)
    # The credential is checked before the body is read: a stranger's push (and the first, challenged
    # half of a Digest exchange) costs no more than its headers.
    camera = await who_sends(ports, who)
    body = await _body(ports.max_body_bytes, request.headers.get("content-length", ""), request.stream())
    content_type = request.headers.get("content-type", "")
    taken_push = await accept_push(ports, camera, PushRequest(who, body, content_type, keep_alive))
    return _answer(vendor, taken_push)


def _answer(vendor: Vendor, pushed: PushTaken) -> Response:
    answer = taken(vendor)
    return Response(
        answer.body,
        status_code=answer.status,
        media_type=answer.media_type,
        headers={"X-Event-Ids": ",".join(read.event_id for read in pushed.reads)},
    )


async def _body(limit: int, declared: str, chunks: AsyncIterator[bytes]) -> bytes:
    """The body as it comes, refused (413) as soon as it is known to pass the limit."""
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(f"the push is {declared} bytes; the limit is {limit}")
    received = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise _too_large(f"the push is over {limit} bytes; the limit is {limit}")
        received.append(chunk)
    return b"".join(received)


def _too_large(message: str) -> RejectedFrame:
    FRAMES_REJECTED.labels("too_large").inc()
    return RejectedFrame("too_large", message, status=413)


class FixedPathsAtRoot:
    """For the embedded platform, where ingest is mounted under a prefix: Dahua's fixed paths at the
    root are served by ingest's routes of the same name."""

    def __init__(self, app: ASGIApp, mounted_at: str) -> None:
        self._app = app
        self._mounted_at = mounted_at.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(DAHUA_PREFIX):
            scope = {
                **scope,
                "path": self._mounted_at + scope["path"],
                "raw_path": self._mounted_at.encode() + scope.get("raw_path", scope["path"].encode()),
            }
        await self._app(scope, receive, send)
