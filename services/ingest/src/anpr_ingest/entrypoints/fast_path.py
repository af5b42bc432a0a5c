"""The raw-body frame intake served straight from ASGI, without FastAPI's routing.

POST /v1/frames with the image as the body is what every frame camera sends, hundreds of times a
second. Through FastAPI each one paid for routing, dependency solving, header models and the
exception layers: about a third of ingest's CPU per frame under load (py-spy), for a request whose
whole handling is the intake below. This middleware hands those requests to the same intake the
route uses (anpr_ingest.entrypoints.http_intake.raw_frame), with the same checks and the same
answers (202 JSON, or application/problem+json); everything else, the multipart form included,
goes on to FastAPI untouched.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from fastapi.exceptions import RequestValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from anpr_core.http_metrics import RouteTemplate
from anpr_core.problems import PROBLEM_JSON, Problem, dependency_problem, validation_problem
from anpr_ingest.domain.errors import IngestRefusal
from anpr_ingest.entrypoints.problems import problem_for
from anpr_ingest.entrypoints.schemas import RAW_IMAGE_TYPES, FrameAccepted

__all__ = ["FRAMES_PATH", "RawFrameFastPath", "RawFrameIntake"]

FRAMES_PATH = "/v1/frames"
FRAMES_ROUTE = RouteTemplate(FRAMES_PATH)  # counted by HTTPMetrics as the route would be

# A raw-body frame: the request headers (lower-case names), the body's chunks, and when it began.
RawFrameIntake = Callable[[Mapping[str, str], AsyncIterator[bytes], float], Awaitable[FrameAccepted]]


class ClientGone(Exception):  # noqa: N818 - a condition, not a failure of ours
    """The client disconnected before it sent the whole body."""


class RawFrameFastPath:
    def __init__(self, app: ASGIApp, *, intake: RawFrameIntake) -> None:
        self._app = app
        self._intake = intake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and _route_path(scope) == FRAMES_PATH:
            headers = {
                name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]
            }
            media_type = headers.get("content-type", "").partition(";")[0].strip().lower()
            if media_type in RAW_IMAGE_TYPES:
                scope["route"] = FRAMES_ROUTE
                await self._serve(scope, receive, send, headers)
                return
        await self._app(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, headers: dict[str, str]) -> None:
        began = time.perf_counter()
        try:
            accepted = await self._intake(headers, _body(receive), began)
        except ClientGone:
            return  # nobody to answer; nothing was published
        except IngestRefusal as refusal:
            await _refuse(send, scope, problem_for(refusal))
            return
        except Problem as refusal:
            await _refuse(send, scope, refusal)
            return
        except RequestValidationError as invalid:
            await _refuse(send, scope, validation_problem(invalid))
            return
        except Exception as error:  # noqa: BLE001 - answered as the routes' handlers would answer it
            # A broker or database failure is a 503 with Retry-After (logged there); anything else
            # a logged 500, problem+json either way.
            await _refuse(send, scope, dependency_problem(error))
            return
        await _answer(send, 202, accepted.model_dump_json().encode(), "application/json", {})


def _route_path(scope: Scope) -> str:
    """The path below the app's mount point (the embedded platform mounts ingest at /ingest)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


async def _body(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk: bytes = message.get("body", b"")
        if chunk:
            yield chunk
        if not message.get("more_body", False):
            return


async def _refuse(send: Send, scope: Scope, problem: Problem) -> None:
    body: dict[str, Any] = problem.body(scope["path"])
    encoded = json.dumps(body, separators=(",", ":")).encode()
    await _answer(send, problem.status, encoded, PROBLEM_JSON, problem.headers)


async def _answer(send: Send, status: int, body: bytes, media_type: str, headers: dict[str, str]) -> None:
    raw_headers = [
        (b"content-type", media_type.encode()),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
