"""The raw-body fast path: which requests it takes from FastAPI, and how it answers.

The intake behind it is the route's own (the validation table in test_ingest_api runs through this
path, as the service builds it); here a scripted intake shows the dispatch and the answers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError

from anpr_core.problems import RETRY_AFTER_S, Problem
from anpr_ingest.domain.errors import Unavailable, WrongCameraKey
from anpr_ingest.entrypoints.fast_path import RawFrameFastPath
from anpr_ingest.entrypoints.schemas import FrameAccepted


class Downstream:
    """Stands for FastAPI: records that it was called."""

    def __init__(self) -> None:
        self.called = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.called = True


class ScriptedIntake:
    def __init__(self, outcome: Exception | None = None) -> None:
        self.outcome = outcome
        self.bodies: list[bytes] = []
        self.headers: Mapping[str, str] = {}

    async def __call__(
        self, headers: Mapping[str, str], body: AsyncIterator[bytes], began: float
    ) -> FrameAccepted:
        self.headers = headers
        self.bodies.append(b"".join([chunk async for chunk in body]))
        if self.outcome is not None:
            raise self.outcome
        return FrameAccepted(event_id="e-1", camera_id="cam-1", content_type="image/jpeg", width=4, height=3)


def http_scope(
    method: str = "POST", path: str = "/v1/frames", content_type: str = "image/jpeg", root_path: str = ""
) -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "root_path": root_path,
        "headers": [
            (b"content-type", content_type.encode()),
            (b"x-camera-id", b"cam-1"),
            (b"x-captured-at", datetime.now(UTC).isoformat().encode()),
            (b"X-Camera-Key", b"cam_key"),
        ],
    }


async def call(
    app: RawFrameFastPath, scope: dict[str, Any], messages: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    incoming = list(
        messages
        or [
            {"type": "http.request", "body": b"\xff\xd8 first", "more_body": True},
            {"type": "http.request", "body": b" second", "more_body": False},
        ]
    )
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(dict(message))

    await app(scope, receive, send)
    return sent


def answer(sent: list[dict[str, Any]]) -> tuple[int, dict[str, str], Any]:
    start, body = sent
    headers = {name.decode(): value.decode() for name, value in start["headers"]}
    return start["status"], headers, json.loads(body["body"])


async def test_a_raw_image_post_is_served_by_the_intake_not_by_fastapi() -> None:
    downstream, intake = Downstream(), ScriptedIntake()
    status, headers, body = answer(await call(RawFrameFastPath(downstream, intake=intake), http_scope()))
    assert not downstream.called
    assert intake.bodies == [b"\xff\xd8 first second"]  # every chunk, in order
    assert intake.headers["x-camera-key"] == "cam_key"  # header names lower-cased
    assert (status, headers["content-type"], body["event_id"], body["duplicate"]) == (
        202,
        "application/json",
        "e-1",
        False,
    )
    assert int(headers["content-length"]) > 0


async def test_under_a_mount_point_too() -> None:
    downstream, intake = Downstream(), ScriptedIntake()
    scope = http_scope(path="/ingest/v1/frames", root_path="/ingest")
    status, _, _ = answer(await call(RawFrameFastPath(downstream, intake=intake), scope))
    assert status == 202 and not downstream.called


@pytest.mark.parametrize(
    "scope",
    [
        http_scope(content_type="multipart/form-data; boundary=x"),
        http_scope(method="GET"),
        http_scope(path="/v1/reads"),
        http_scope(path="/v1/cameras"),
        {"type": "lifespan"},
    ],
)
async def test_everything_else_goes_on_to_fastapi(scope: dict[str, Any]) -> None:
    downstream, intake = Downstream(), ScriptedIntake()
    assert await call(RawFrameFastPath(downstream, intake=intake), scope) == []
    assert downstream.called and intake.bodies == []


async def test_a_refusal_is_problem_json_with_its_headers() -> None:
    busy = Problem(503, "Service Unavailable", "send it again", headers={"Retry-After": "5"})
    status, headers, body = answer(
        await call(RawFrameFastPath(Downstream(), intake=ScriptedIntake(busy)), http_scope())
    )
    assert (status, headers["content-type"], headers["retry-after"]) == (503, "application/problem+json", "5")
    assert body == {
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "send it again",
        "instance": "/v1/frames",
    }


async def test_a_domain_refusal_is_answered_as_the_routes_answer_it() -> None:
    unsure = Unavailable("the broker did not acknowledge it", event_id="e-1", stored="unknown")
    status, headers, body = answer(
        await call(RawFrameFastPath(Downstream(), intake=ScriptedIntake(unsure)), http_scope())
    )
    assert (status, headers["content-type"], headers["retry-after"]) == (
        503,
        "application/problem+json",
        str(RETRY_AFTER_S),
    )
    assert body == {
        "type": "urn:schild:unavailable",
        "title": "Service Unavailable",
        "status": 503,
        "detail": "the broker did not acknowledge it",
        "instance": "/v1/frames",
        "event_id": "e-1",
        "stored": "unknown",
    }
    wrong_key = ScriptedIntake(WrongCameraKey("cam-1"))
    status, _, body = answer(await call(RawFrameFastPath(Downstream(), intake=wrong_key), http_scope()))
    assert (status, body["title"]) == (401, "Unauthorized")
    assert "cam-1" in body["detail"]


async def test_an_invalid_field_is_a_422_naming_it() -> None:
    invalid = RequestValidationError(
        [{"loc": ("header", "x-captured-at"), "msg": "Field required", "type": "missing"}]
    )
    status, _, body = answer(
        await call(RawFrameFastPath(Downstream(), intake=ScriptedIntake(invalid)), http_scope())
    )
    assert status == 422
    assert body["errors"] == [
        {"loc": ["header", "x-captured-at"], "msg": "Field required", "type": "missing"}
    ]


async def test_an_unexpected_failure_is_a_500_problem_not_a_dropped_connection() -> None:
    status, headers, body = answer(
        await call(RawFrameFastPath(Downstream(), intake=ScriptedIntake(RuntimeError("boom"))), http_scope())
    )
    assert (status, headers["content-type"]) == (500, "application/problem+json")
    assert "boom" not in json.dumps(body)  # internals stay in the log


async def test_a_client_gone_mid_body_gets_no_answer_and_nothing_is_taken() -> None:
    intake = ScriptedIntake()
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": b"\xff\xd8", "more_body": True},
        {"type": "http.disconnect"},
    ]
    assert await call(RawFrameFastPath(Downstream(), intake=intake), http_scope(), messages) == []
    assert intake.bodies == []
