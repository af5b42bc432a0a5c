"""Ingest over HTTP: camera register (admin only, audited) and frame intake (202 only once on the bus)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import random
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr.v1 import audit_pb2, common_pb2, frame_pb2, read_pb2
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import BusUnavailable, MemoryBus, OutgoingRecord
from anpr_core.bus.memory import MemoryConsumer
from anpr_core.db import make_engine, session_factory
from anpr_core.events import Topics, from_timestamp
from anpr_core.testing import read_topic
from anpr_ingest.adapters.camera_register import CameraRegister
from anpr_ingest.adapters.codecs import frame_record
from anpr_ingest.adapters.dedupe import IntakeDedupe
from anpr_ingest.bootstrap import build_app
from anpr_ingest.domain.cameras import hash_api_key
from anpr_ingest.handlers.cameras import check_silent_cameras
from anpr_ingest.settings import IngestSettings

TOPICS = Topics()
PROBLEM_JSON = "application/problem+json"


def jpeg(width: int = 160, height: int = 120, noise: bool = False) -> bytes:
    picture = Image.new("RGB", (width, height), (30, 60, 90))
    if noise:  # noise does not compress: a large file
        picture = Image.frombytes("RGB", (width, height), random.Random(7).randbytes(width * height * 3))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


SMALL_JPEG = jpeg()
BIG_JPEG = jpeg(320, 240, noise=True)
SIZE_LIMIT = 4096


class FramesDownBus:
    """The bus with the broker refusing frames: every other topic still works."""

    def __init__(self, inner: MemoryBus, topic: str) -> None:
        self.inner = inner
        self._topic = topic

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        if topic == self._topic:
            raise BusUnavailable("broker did not acknowledge")
        await self.inner.publish(topic, key, value, headers)

    async def publish_many(self, records: Sequence[OutgoingRecord]) -> None:
        if any(record.topic == self._topic for record in records):
            raise BusUnavailable("broker did not acknowledge")
        await self.inner.publish_many(records)

    def consumer(self, topics: Sequence[str], group_id: str) -> MemoryConsumer:
        return self.inner.consumer(topics, group_id)

    async def ping(self) -> bool:
        return True


@dataclass
class Ingest:
    client: httpx.AsyncClient
    bus: MemoryBus
    issuer: DevIssuer
    engine: AsyncEngine  # the database the service was given

    def auth(self, role: Role, subject: str = "root") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue(subject, role)}"}

    async def register(self, camera_id: str = "cam-1", direction: str = "in") -> str:
        response = await self.client.post(
            "/v1/cameras",
            json={"camera_id": camera_id, "name": f"Camera {camera_id}", "direction": direction},
            headers=self.auth(Role.ADMIN),
        )
        assert response.status_code == 201, response.text
        api_key: str = response.json()["api_key"]
        return api_key

    async def frames(self) -> list[frame_pb2.Frame]:
        frames = []
        for record in await read_topic(self.bus, TOPICS.frames):
            frame = frame_pb2.Frame()
            frame.ParseFromString(record.value)
            assert record.key == frame.camera_id.encode()
            frames.append(frame)
        return frames


pytestmark = pytest.mark.usefixtures("no_anpr_environment")


@asynccontextmanager
async def running(tmp_path: Path, bus: Any = None, **settings: Any) -> AsyncIterator[Ingest]:
    memory = MemoryBus()
    issuer = DevIssuer(tmp_path / "key.pem")
    engine = make_engine(None, "ingest", tmp_path)
    app = build_app(
        IngestSettings(data_dir=tmp_path, **settings),
        bus(memory) if bus else memory,
        engine,
        issuer,
    )
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
        ):
            yield Ingest(client, memory, issuer, engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def ingest(tmp_path: Path) -> AsyncIterator[Ingest]:
    async with running(tmp_path, max_frame_bytes=SIZE_LIMIT) as harness:
        yield harness


def now_iso(offset: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) + offset).isoformat()


def frame_form(
    camera_id: str = "cam-1", image: bytes = SMALL_JPEG, captured_at: str | None = None
) -> dict[str, Any]:
    return {
        "data": {"camera_id": camera_id, "captured_at": captured_at or now_iso()},
        "files": {"image": ("frame.jpg", image, "image/jpeg")},
    }


# --- camera register ----------------------------------------------------------------------------


async def test_admin_registers_a_camera_and_gets_its_key_once(ingest: Ingest) -> None:
    response = await ingest.client.post(
        "/v1/cameras",
        json={"camera_id": "cam-1", "name": "Meir north", "direction": "in"},
        headers=ingest.auth(Role.ADMIN),
    )
    assert response.status_code == 201
    body = response.json()
    assert body["camera_id"] == "cam-1"
    assert body["status"] == "active"
    assert body["api_key"].startswith("cam_")

    listed = await ingest.client.get("/v1/cameras", headers=ingest.auth(Role.SUPERVISOR))
    assert listed.status_code == 200
    assert [c["camera_id"] for c in listed.json()] == ["cam-1"]
    assert "api_key" not in listed.json()[0], "the key is shown once, at registration"


async def test_registering_a_taken_camera_id_is_a_conflict(ingest: Ingest) -> None:
    await ingest.register("cam-1")
    response = await ingest.client.post(
        "/v1/cameras",
        json={"camera_id": "cam-1", "name": "again", "direction": "out"},
        headers=ingest.auth(Role.ADMIN),
    )
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM_JSON


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN])
async def test_non_admin_cannot_register_a_camera(ingest: Ingest, role: Role) -> None:
    response = await ingest.client.post(
        "/v1/cameras",
        json={"camera_id": "cam-9", "name": "x", "direction": "in"},
        headers=ingest.auth(role, "someone"),
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["status"] == 403
    assert (await ingest.client.get("/v1/cameras", headers=ingest.auth(Role.ADMIN))).json() == []


@pytest.mark.parametrize("header", [None, "Bearer", "Basic cm9vdDpyb290", "Bearer not-a-jwt"])
async def test_registering_without_a_valid_token_is_unauthorised(ingest: Ingest, header: str | None) -> None:
    response = await ingest.client.post(
        "/v1/cameras",
        json={"camera_id": "cam-9", "name": "x", "direction": "in"},
        headers={"Authorization": header} if header else {},
    )
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_registering_a_camera_is_audited_without_its_key(ingest: Ingest) -> None:
    api_key = await ingest.register("cam-7", direction="out")
    records = await read_topic(ingest.bus, TOPICS.audit)
    assert len(records) == 1
    event = audit_pb2.AuditEvent()
    event.ParseFromString(records[0].value)
    assert event.action == "camera_change"
    assert event.actor.user_id == "root"
    assert event.actor.role == "admin"
    assert event.service == "ingest"
    assert list(event.record_ids) == ["cam-7"]
    assert event.outcome == "allowed"
    assert event.meta.event_id
    assert api_key.encode() not in records[0].value, "the camera key must never reach the audit log"


async def test_rotating_a_key_retires_the_old_one(ingest: Ingest) -> None:
    old_key = await ingest.register("cam-1")
    rotated = await ingest.client.post("/v1/cameras/cam-1/key", headers=ingest.auth(Role.ADMIN))
    assert rotated.status_code == 200
    new_key = rotated.json()["api_key"]
    assert new_key != old_key

    refused = await ingest.client.post("/v1/frames", headers={"X-Camera-Key": old_key}, **frame_form())
    assert refused.status_code == 401
    accepted = await ingest.client.post("/v1/frames", headers={"X-Camera-Key": new_key}, **frame_form())
    assert accepted.status_code == 202


# --- frame intake -------------------------------------------------------------------------------


async def test_valid_frame_is_accepted_and_published_once(ingest: Ingest) -> None:
    api_key = await ingest.register("cam-1", direction="out")
    captured_at = datetime.now(UTC) - timedelta(seconds=3)
    response = await ingest.client.post(
        "/v1/frames",
        headers={"X-Camera-Key": api_key},
        # The name and declared type lie; the bytes decide.
        data={"camera_id": "cam-1", "captured_at": captured_at.isoformat()},
        files={"image": ("frame.png", SMALL_JPEG, "image/png")},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body == {
        "event_id": body["event_id"],
        "camera_id": "cam-1",
        "content_type": "image/jpeg",
        "width": 160,
        "height": 120,
        "duplicate": False,
    }

    frames = await ingest.frames()
    assert len(frames) == 1
    frame = frames[0]
    assert frame.meta.event_id == body["event_id"]
    assert frame.camera_id == "cam-1"
    assert frame.content_type == "image/jpeg"
    assert frame.sha256 == hashlib.sha256(SMALL_JPEG).hexdigest()
    assert frame.image == SMALL_JPEG
    assert (frame.width, frame.height) == (160, 120)
    assert frame.direction == common_pb2.DIRECTION_OUT
    assert from_timestamp(frame.captured_at) == captured_at

    cameras = (await ingest.client.get("/v1/cameras", headers=ingest.auth(Role.ADMIN))).json()
    assert cameras[0]["last_seen_at"] is not None


BAD_FRAMES: list[Any] = [
    pytest.param(
        lambda key: {"json": {"camera_id": "cam-1", "captured_at": now_iso(), "image": "/9j/4AAQ"}},
        None,
        422,
        id="json-instead-of-multipart",
    ),
    pytest.param(
        lambda key: frame_form(image=b"this is not an image, just text" * 4), None, 415, id="not-an-image"
    ),
    pytest.param(lambda key: frame_form(camera_id="cam-404"), None, 404, id="unknown-camera"),
    pytest.param(lambda key: frame_form(), "cam_wrong-key", 401, id="wrong-key"),
    pytest.param(lambda key: frame_form(), "", 401, id="no-key"),
    pytest.param(lambda key: frame_form(image=BIG_JPEG), None, 413, id="over-size-limit"),
    pytest.param(
        lambda key: {"data": {"camera_id": "cam-1"}, "files": frame_form()["files"]},
        None,
        422,
        id="no-captured-at",
    ),
    pytest.param(
        lambda key: {"data": {"camera_id": "cam-1", "captured_at": now_iso()}, "files": {"x": ("x", b"y")}},
        None,
        422,
        id="no-image",
    ),
    pytest.param(lambda key: frame_form(captured_at="yesterday-ish"), None, 422, id="unparsable-time"),
    pytest.param(lambda key: frame_form(captured_at=now_iso(-timedelta(days=2))), None, 422, id="far-past"),
    pytest.param(lambda key: frame_form(captured_at=now_iso(timedelta(hours=1))), None, 422, id="future"),
    pytest.param(
        lambda key: frame_form(captured_at=datetime.now(UTC).replace(tzinfo=None).isoformat()),
        None,
        422,
        id="naive-time",
    ),
    pytest.param(lambda key: frame_form(image=jpeg(32, 32)), None, 422, id="too-small"),
    pytest.param(lambda key: frame_form(image=SMALL_JPEG[:20]), None, 422, id="truncated-header"),
]


@pytest.mark.parametrize(("request_of", "key_override", "status"), BAD_FRAMES)
async def test_bad_frame_is_refused_with_a_problem_and_nothing_is_published(
    ingest: Ingest,
    request_of: Callable[[str], dict[str, Any]],
    key_override: str | None,
    status: int,
) -> None:
    assert len(SMALL_JPEG) < SIZE_LIMIT < len(BIG_JPEG)
    api_key = await ingest.register("cam-1")
    key = api_key if key_override is None else key_override
    headers = {"X-Camera-Key": key} if key else {}
    response = await ingest.client.post("/v1/frames", headers=headers, **request_of(api_key))
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert problem["status"] == status
    assert problem["title"]
    assert await ingest.frames() == []


async def test_frame_is_refused_with_503_when_the_bus_does_not_take_it(tmp_path: Path) -> None:
    async with running(tmp_path, bus=lambda inner: FramesDownBus(inner, TOPICS.frames)) as ingest:
        api_key = await ingest.register("cam-1")
        response = await ingest.client.post("/v1/frames", headers={"X-Camera-Key": api_key}, **frame_form())
        assert response.status_code == 503
        assert response.headers["content-type"] == PROBLEM_JSON
        assert int(response.headers["retry-after"]) > 0
        assert await ingest.frames() == []


@pytest.mark.parametrize("size", [0, 1, 127, 128, 16_383, 16_384, 300_000])
def test_frame_record_parses_as_the_frame_with_its_image(size: int) -> None:
    image = random.Random(size).randbytes(size)
    frame = frame_pb2.Frame(camera_id="cam-1", content_type="image/jpeg", width=4, height=3, sha256="ab")
    whole = frame_pb2.Frame()
    whole.CopyFrom(frame)
    whole.image = image
    assert frame_pb2.Frame.FromString(frame_record(frame, image)) == whole


def raw_frame(
    key: str, image: bytes = SMALL_JPEG, camera_id: str = "cam-1", captured_at: str | None = None
) -> dict[str, Any]:
    """The raw-body fast path: the image is the body, the rest is in headers."""
    headers = {"X-Camera-Key": key, "X-Camera-Id": camera_id, "Content-Type": "image/jpeg"}
    headers["X-Captured-At"] = captured_at or now_iso()
    return {"headers": headers, "content": image}


async def test_raw_body_frame_is_accepted_like_a_form_and_deduplicated_the_same(ingest: Ingest) -> None:
    api_key = await ingest.register("cam-1", direction="in")
    captured_at = now_iso(-timedelta(seconds=2))
    first = await ingest.client.post("/v1/frames", **raw_frame(api_key, captured_at=captured_at))
    assert first.status_code == 202, first.text
    body = first.json()
    assert (body["camera_id"], body["content_type"], body["width"], body["height"]) == (
        "cam-1",
        "image/jpeg",
        160,
        120,
    )
    assert body["duplicate"] is False
    # The same frame sent again as a form is the same frame.
    form = {"data": {"camera_id": "cam-1", "captured_at": captured_at}, "files": frame_form()["files"]}
    again = await ingest.client.post("/v1/frames", headers={"X-Camera-Key": api_key}, **form)
    assert again.json() == {**body, "duplicate": True}
    frames = await ingest.frames()
    assert [f.meta.event_id for f in frames] == [body["event_id"]]
    assert frames[0].image == SMALL_JPEG
    assert frames[0].sha256 == hashlib.sha256(SMALL_JPEG).hexdigest()
    assert from_timestamp(frames[0].captured_at) == datetime.fromisoformat(captured_at)


BAD_RAW_FRAMES: list[Any] = [
    pytest.param(
        lambda key: raw_frame(key, image=b"GIF89a, not what was declared" * 4), 415, id="not-an-image"
    ),
    pytest.param(lambda key: raw_frame(key, image=BIG_JPEG), 413, id="over-size-limit"),
    pytest.param(lambda key: raw_frame("cam_wrong-key"), 401, id="wrong-key"),
    pytest.param(lambda key: raw_frame(key, camera_id="cam-404"), 404, id="unknown-camera"),
    pytest.param(lambda key: raw_frame(key, captured_at="yesterday-ish"), 422, id="unparsable-time"),
    pytest.param(lambda key: raw_frame(key, captured_at=now_iso(timedelta(hours=1))), 422, id="future"),
    pytest.param(
        lambda key: {
            "headers": {k: v for k, v in raw_frame(key)["headers"].items() if k != "X-Captured-At"},
            "content": SMALL_JPEG,
        },
        422,
        id="no-captured-at-header",
    ),
    pytest.param(
        lambda key: {
            "headers": {**raw_frame(key)["headers"], "Content-Type": "text/plain"},
            "content": SMALL_JPEG,
        },
        422,
        id="neither-form-nor-image",
    ),
]


@pytest.mark.parametrize(("request_of", "status"), BAD_RAW_FRAMES)
async def test_bad_raw_body_frame_is_refused_with_a_problem_and_nothing_is_published(
    ingest: Ingest, request_of: Callable[[str], dict[str, Any]], status: int
) -> None:
    api_key = await ingest.register("cam-1")
    response = await ingest.client.post("/v1/frames", **request_of(api_key))
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["status"] == status
    assert await ingest.frames() == []


async def test_missing_raw_body_header_is_named_in_the_problem(ingest: Ingest) -> None:
    api_key = await ingest.register("cam-1")
    headers = {k: v for k, v in raw_frame(api_key)["headers"].items() if k != "X-Captured-At"}
    response = await ingest.client.post("/v1/frames", headers=headers, content=SMALL_JPEG)
    assert response.status_code == 422
    assert "x-captured-at" in response.json()["detail"]


# --- the full register: fields, updates, status, revocation ------------------------------------

FULL_CAMERA: dict[str, Any] = {
    "camera_id": "cam-e40-in",
    "name": "E40 border, inbound",
    "direction": "in",
    "kind": "frame",
    "position": {"lat": 50.8798, "lon": 4.7005},
    "road": "E40 km 23.4",
    "border_camera": True,
    "neighbour_zone_id": "5388",
    "approval_reference": "GR-2026-114",
    "approval_date": "2026-03-12",
    "sign": {"lat": 50.8811, "lon": 4.6987, "description": "E40 exit 22, right shoulder"},
    "impact_analysis_reference": "DPIA-2026-07",
}


async def test_register_keeps_every_field_and_defaults_the_zone(ingest: Ingest) -> None:
    created = await ingest.client.post("/v1/cameras", json=FULL_CAMERA, headers=ingest.auth(Role.ADMIN))
    assert created.status_code == 201, created.text
    shown = (await ingest.client.get("/v1/cameras/cam-e40-in", headers=ingest.auth(Role.SUPERVISOR))).json()
    for field in FULL_CAMERA:
        assert shown[field] == FULL_CAMERA[field], field
    assert shown["zone_id"] == "5344"
    assert shown["status"] == "active"
    assert shown["has_key"] is True
    assert shown["silent"] is False
    assert "api_key" not in shown


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"border_camera": True}, id="border-without-neighbour"),
        pytest.param({"neighbour_zone_id": "5388"}, id="neighbour-without-border"),
        pytest.param({"position": {"lat": 91, "lon": 4}}, id="latitude-out-of-range"),
        pytest.param({"kind": "thermal"}, id="unknown-kind"),
        pytest.param({"direction": "sideways"}, id="unknown-direction"),
    ],
)
async def test_register_refuses_inconsistent_cameras(ingest: Ingest, change: dict[str, Any]) -> None:
    body = {"camera_id": "cam-x", "name": "x", "direction": "in", **change}
    response = await ingest.client.post("/v1/cameras", json=body, headers=ingest.auth(Role.ADMIN))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON


async def test_patch_changes_only_what_is_sent_and_is_audited(ingest: Ingest) -> None:
    await ingest.client.post("/v1/cameras", json=FULL_CAMERA, headers=ingest.auth(Role.ADMIN))
    patched = await ingest.client.patch(
        "/v1/cameras/cam-e40-in",
        json={
            "road": "E40 km 23.6",
            "border_camera": False,
            "neighbour_zone_id": None,
            "status": "maintenance",
        },
        headers=ingest.auth(Role.ADMIN),
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["road"], body["border_camera"], body["neighbour_zone_id"]) == ("E40 km 23.6", False, None)
    assert body["status"] == "maintenance"
    assert body["position"] == FULL_CAMERA["position"]
    assert body["updated_at"] is not None
    events = [audit_pb2.AuditEvent.FromString(r.value) for r in await read_topic(ingest.bus, TOPICS.audit)]
    assert [e.action for e in events] == ["camera_change", "camera_change"]
    assert '"op":"update"' in events[1].query and "E40 km 23.6" in events[1].query


async def test_patch_of_a_sign_without_its_description_is_a_422_naming_the_field(ingest: Ingest) -> None:
    """Found by fuzzing: it was a 500. A PATCH replaces the whole sign, description included."""
    await ingest.client.post("/v1/cameras", json=FULL_CAMERA, headers=ingest.auth(Role.ADMIN))
    moved = {"lat": 50.8812, "lon": 4.6988}
    response = await ingest.client.patch(
        "/v1/cameras/cam-e40-in", json={"sign": moved}, headers=ingest.auth(Role.ADMIN)
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "sign.description" in response.json()["detail"]
    assert ["body", "sign", "description"] in [e["loc"] for e in response.json()["errors"]]
    shown = (await ingest.client.get("/v1/cameras/cam-e40-in", headers=ingest.auth(Role.ADMIN))).json()
    assert shown["sign"] == FULL_CAMERA["sign"]
    for sign in ({**moved, "description": ""}, None):
        changed = await ingest.client.patch(
            "/v1/cameras/cam-e40-in", json={"sign": sign}, headers=ingest.auth(Role.ADMIN)
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["sign"] == sign


async def test_patch_refuses_a_border_camera_without_neighbour(ingest: Ingest) -> None:
    await ingest.register("cam-1")
    response = await ingest.client.patch(
        "/v1/cameras/cam-1", json={"border_camera": True}, headers=ingest.auth(Role.ADMIN)
    )
    assert response.status_code == 422
    assert "neighbour" in response.json()["detail"]


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN])
async def test_only_admin_changes_the_register(ingest: Ingest, role: Role) -> None:
    await ingest.register("cam-1")
    for method, path in [
        ("PATCH", "/v1/cameras/cam-1"),
        ("POST", "/v1/cameras/cam-1/key"),
        ("DELETE", "/v1/cameras/cam-1/key"),
    ]:
        response = await ingest.client.request(method, path, json={"road": "x"}, headers=ingest.auth(role))
        assert response.status_code == 403, (method, path)


async def test_retired_camera_is_refused_and_stays_retired(ingest: Ingest) -> None:
    api_key = await ingest.register("cam-1")
    retire = await ingest.client.patch(
        "/v1/cameras/cam-1", json={"status": "retired"}, headers=ingest.auth(Role.ADMIN)
    )
    assert retire.status_code == 200
    refused = await ingest.client.post("/v1/frames", headers={"X-Camera-Key": api_key}, **frame_form())
    assert refused.status_code == 403
    back = await ingest.client.patch(
        "/v1/cameras/cam-1", json={"status": "active"}, headers=ingest.auth(Role.ADMIN)
    )
    assert back.status_code == 409
    assert await ingest.frames() == []


async def test_revoked_key_is_refused_at_once_until_a_new_key_is_rotated_in(ingest: Ingest) -> None:
    api_key = await ingest.register("cam-1")
    # A frame first, so the key is in the replica's credential cache when it is revoked.
    first = await ingest.client.post("/v1/frames", headers={"X-Camera-Key": api_key}, **frame_form())
    assert first.status_code == 202
    revoked = await ingest.client.delete("/v1/cameras/cam-1/key", headers=ingest.auth(Role.ADMIN))
    assert revoked.status_code == 204
    for key in (api_key, ""):
        headers = {"X-Camera-Key": key} if key else {}
        refused = await ingest.client.post("/v1/frames", headers=headers, **frame_form())
        assert refused.status_code == 401
    shown = (await ingest.client.get("/v1/cameras/cam-1", headers=ingest.auth(Role.ADMIN))).json()
    assert shown["has_key"] is False

    new_key = (await ingest.client.post("/v1/cameras/cam-1/key", headers=ingest.auth(Role.ADMIN))).json()[
        "api_key"
    ]
    accepted = await ingest.client.post("/v1/frames", headers={"X-Camera-Key": new_key}, **frame_form())
    assert accepted.status_code == 202
    assert len(await ingest.frames()) == 2
    audit_records = await read_topic(ingest.bus, TOPICS.audit)
    ops = [audit_pb2.AuditEvent.FromString(r.value).query for r in audit_records]
    assert any('"op":"revoke_key"' in op for op in ops)
    assert not any(k.encode() in r.value for r in audit_records for k in (api_key, new_key))


# --- the public camera map ----------------------------------------------------------------------


async def test_public_map_shows_positions_and_signs_only_without_a_token(ingest: Ingest) -> None:
    await ingest.client.post("/v1/cameras", json=FULL_CAMERA, headers=ingest.auth(Role.ADMIN))
    await ingest.register("cam-no-position")
    retired = {**FULL_CAMERA, "camera_id": "cam-retired"}
    await ingest.client.post("/v1/cameras", json=retired, headers=ingest.auth(Role.ADMIN))
    await ingest.client.patch(
        "/v1/cameras/cam-retired", json={"status": "retired"}, headers=ingest.auth(Role.ADMIN)
    )

    geo = await ingest.client.get("/v1/cameras/export", params={"format": "geojson"})
    assert geo.status_code == 200
    assert geo.headers["content-type"] == "application/geo+json"
    features = geo.json()["features"]
    assert [(f["properties"]["feature"], f["properties"]["camera_id"]) for f in features] == [
        ("camera", "cam-e40-in"),
        ("sign", "cam-e40-in"),
    ]
    assert features[0]["geometry"]["coordinates"] == [4.7005, 50.8798]
    assert features[1]["geometry"]["coordinates"] == [4.6987, 50.8811]

    table = await ingest.client.get("/v1/cameras/export", params={"format": "csv"})
    assert table.status_code == 200
    assert table.headers["content-type"].startswith("text/csv")
    lines = table.text.splitlines()
    assert lines[0].startswith("camera_id,name,road,direction,latitude,longitude,sign_latitude")
    assert len(lines) == 2 and lines[1].startswith("cam-e40-in,")
    for text in (geo.text, table.text):
        for secret in ("DPIA-2026-07", "GR-2026-114", "5388", "api_key", "cam_"):
            assert secret not in text


async def test_public_map_refuses_an_unknown_format(ingest: Ingest) -> None:
    response = await ingest.client.get("/v1/cameras/export", params={"format": "kml"})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON


# --- duplicates ---------------------------------------------------------------------------------


async def test_resent_frame_gets_its_first_event_id_and_is_not_published_again(ingest: Ingest) -> None:
    api_key = await ingest.register("cam-1")
    form = frame_form(captured_at=now_iso(-timedelta(seconds=1)))
    first = await ingest.client.post("/v1/frames", headers={"X-Camera-Key": api_key}, **form)
    again = await ingest.client.post("/v1/frames", headers={"X-Camera-Key": api_key}, **form)
    assert (first.status_code, again.status_code) == (202, 202)
    assert first.json()["duplicate"] is False
    assert again.json()["duplicate"] is True
    assert again.json()["event_id"] == first.json()["event_id"]
    # Same bytes at another capture time is another frame.
    later = await ingest.client.post("/v1/frames", headers={"X-Camera-Key": api_key}, **frame_form())
    assert later.json()["duplicate"] is False
    assert [f.meta.event_id for f in await ingest.frames()] == [
        first.json()["event_id"],
        later.json()["event_id"],
    ]


class FlakyFramesBus(FramesDownBus):
    """Refuses frames while `down` is set, like a broker that comes and goes."""

    down = True

    async def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        if self.down:
            await super().publish(topic, key, value, headers)
        else:
            await self.inner.publish(topic, key, value, headers)


async def test_a_frame_refused_with_503_is_taken_when_resent(tmp_path: Path) -> None:
    buses: list[FlakyFramesBus] = []

    def flaky(inner: MemoryBus) -> FlakyFramesBus:
        buses.append(FlakyFramesBus(inner, TOPICS.frames))
        return buses[0]

    async with running(tmp_path, bus=flaky) as ingest:
        api_key = await ingest.register("cam-1")
        form = frame_form()
        refused = await ingest.client.post("/v1/frames", headers={"X-Camera-Key": api_key}, **form)
        assert refused.status_code == 503
        buses[0].down = False
        taken = await ingest.client.post("/v1/frames", headers={"X-Camera-Key": api_key}, **form)
        assert taken.status_code == 202
        assert taken.json()["duplicate"] is False, "the failed attempt must not be taken for a stored one"
        assert [f.meta.event_id for f in await ingest.frames()] == [taken.json()["event_id"]]
        assert refused.json()["event_id"] == taken.json()["event_id"]


class LateAckBus(FramesDownBus):
    """A broker that takes the record but whose acknowledgement never comes (a timeout): the record is
    on the topic, and the producer says it is not. While `late` is unset, it acknowledges."""

    late = True

    async def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        await self.inner.publish(topic, key, value, headers)
        if self.late and topic in (TOPICS.frames, TOPICS.reads):
            raise BusUnavailable("Kafka did not acknowledge the record within 10.0s")


@pytest.mark.parametrize("kind", ["frame", "read"])
async def test_a_resend_after_an_unconfirmed_publish_is_the_same_event_never_a_second_one(
    tmp_path: Path, kind: str
) -> None:
    """The outside test's finding: "503: not stored" answered for reads that were stored anyway, and
    each retry stored a second time. Now the 503 says it may be stored and names the event id; the
    resend is published again under that same id (so every sink keeps one), and once Kafka has
    acknowledged it, a further resend is a duplicate."""
    buses: list[LateAckBus] = []

    def late(inner: MemoryBus) -> LateAckBus:
        buses.append(LateAckBus(inner, TOPICS.frames))
        return buses[0]

    async with running(tmp_path, bus=late) as ingest:
        if kind == "frame":
            key = await ingest.register("cam-1")
            path, form, topic = "/v1/frames", frame_form(), TOPICS.frames
        else:
            key = await register_smart(ingest)
            path, form, topic = "/v1/reads", read_form(crop=jpeg(120, 30)), TOPICS.reads

        async def send() -> httpx.Response:
            return await ingest.client.post(path, headers={"X-Camera-Key": key}, **form)

        unconfirmed = await send()
        assert unconfirmed.status_code == 503
        assert unconfirmed.headers["content-type"] == PROBLEM_JSON
        assert int(unconfirmed.headers["retry-after"]) > 0
        problem = unconfirmed.json()
        assert problem["stored"] == "unknown"
        assert "not stored" not in problem["detail"] and "may" in problem["detail"]
        again = await send()  # the broker still does not acknowledge: the same answer, the same id
        assert again.status_code == 503 and again.json()["event_id"] == problem["event_id"]
        buses[0].late = False
        taken = await send()
        assert taken.status_code == 202, taken.text
        assert taken.json()["event_id"] == problem["event_id"]
        assert taken.json()["duplicate"] is False
        duplicate = await send()
        assert duplicate.json() == {**taken.json(), "duplicate": True}
        records = await read_topic(ingest.bus, topic)
        assert len(records) == 3  # every attempt that reached the broker...
        assert {r.key for r in records} == {key_of(records[0])}
        # Each as what it is: a read parsed as a frame is corrupt where their field numbers differ.
        event = frame_pb2.Frame if kind == "frame" else read_pb2.PlateRead
        ids = {event.FromString(r.value).meta.event_id for r in records}
        assert ids == {problem["event_id"]}  # ...is the same event: the sinks keep one


def key_of(record: Any) -> bytes:
    key: bytes = record.key
    return key


async def test_resends_arriving_together_after_an_unconfirmed_publish_are_published_once_more(
    tmp_path: Path,
) -> None:
    """After an unconfirmed publish, four resends at once: one takes the claim over and publishes,
    the others wait for it and are duplicates; all answer 202 with the one event id."""
    buses: list[LateAckBus] = []

    def late(inner: MemoryBus) -> LateAckBus:
        buses.append(LateAckBus(inner, TOPICS.frames))
        return buses[-1]

    async with running(tmp_path, bus=late) as ingest:
        api_key = await ingest.register("cam-1")
        form = frame_form()
        refused = await ingest.client.post("/v1/frames", headers={"X-Camera-Key": api_key}, **form)
        assert refused.status_code == 503
        buses[0].late = False
        answers = await asyncio.gather(
            *(ingest.client.post("/v1/frames", headers={"X-Camera-Key": api_key}, **form) for _ in range(4))
        )
        assert [a.status_code for a in answers] == [202] * 4
        assert {a.json()["event_id"] for a in answers} == {refused.json()["event_id"]}
        assert sum(not a.json()["duplicate"] for a in answers) == 1
        frames = await ingest.frames()
        assert [f.meta.event_id for f in frames] == [refused.json()["event_id"]] * 2


async def test_dedupe_entries_older_than_the_window_are_forgotten(tmp_path: Path) -> None:
    async with running(tmp_path) as ingest:
        api_key = await ingest.register("cam-1")
        form = frame_form()
        await ingest.client.post("/v1/frames", headers={"X-Camera-Key": api_key}, **form)
        dedupe = IntakeDedupe(ingest.engine)  # the service's dedupe table (SQLite: one engine)
        assert await dedupe.forget_before(datetime.now(UTC) - timedelta(minutes=15)) == 0
        assert await dedupe.forget_before(datetime.now(UTC) + timedelta(seconds=1)) == 1
        again = await ingest.client.post("/v1/frames", headers={"X-Camera-Key": api_key}, **form)
        assert again.json()["duplicate"] is False


# --- camera-side reads --------------------------------------------------------------------------


async def register_smart(ingest: Ingest, camera_id: str = "cam-smart") -> str:
    response = await ingest.client.post(
        "/v1/cameras",
        json={"camera_id": camera_id, "name": "smart", "direction": "out", "kind": "smart"},
        headers=ingest.auth(Role.ADMIN),
    )
    assert response.status_code == 201
    key: str = response.json()["api_key"]
    return key


def read_form(
    text: str = "1-abc-234", confidence: str = "0.93", crop: bytes | None = None, **extra: str
) -> dict[str, Any]:
    data = {
        "camera_id": "cam-smart",
        "captured_at": now_iso(),
        "text": text,
        "confidence": confidence,
        **extra,
    }
    files = {"crop": ("crop.jpg", crop, "image/jpeg")} if crop is not None else None
    return {"data": data, "files": files} if files else {"data": data}


async def test_smart_camera_read_goes_to_the_reads_topic_normalised(ingest: Ingest) -> None:
    from anpr.v1 import read_pb2

    api_key = await register_smart(ingest)
    crop = jpeg(120, 30)
    response = await ingest.client.post(
        "/v1/reads", headers={"X-Camera-Key": api_key}, **read_form(crop=crop)
    )
    assert response.status_code == 202, response.text
    assert response.json()["plate"] == "1ABC234"
    records = await read_topic(ingest.bus, TOPICS.reads)
    assert len(records) == 1 and records[0].key == b"cam-smart"
    read = read_pb2.PlateRead.FromString(records[0].value)
    assert read.meta.event_id == response.json()["event_id"]
    assert (read.plate, read.camera_read, read.reader) == ("1ABC234", True, "camera:cam-smart")
    assert read.confidence == pytest.approx(0.93)
    assert read.plate_crop == crop
    assert read.direction == common_pb2.DIRECTION_OUT
    assert read.frame_event_id == ""

    again = await ingest.client.post(
        "/v1/reads",
        headers={"X-Camera-Key": api_key},
        data={**read_form()["data"], "captured_at": read_pb2_time(read)},
    )
    assert again.status_code == 202


def read_pb2_time(read: Any) -> str:
    return from_timestamp(read.captured_at).isoformat()


async def test_resent_read_is_a_duplicate(ingest: Ingest) -> None:
    from prometheus_client import REGISTRY

    def published() -> float:
        labels = {"source": "camera", "camera": "cam-smart"}
        return REGISTRY.get_sample_value("anpr_reads_total", labels) or 0.0

    api_key = await register_smart(ingest)
    form = read_form()
    before = published()
    first = await ingest.client.post("/v1/reads", headers={"X-Camera-Key": api_key}, **form)
    again = await ingest.client.post("/v1/reads", headers={"X-Camera-Key": api_key}, **form)
    assert again.json() == {**first.json(), "duplicate": True}
    assert len(await read_topic(ingest.bus, TOPICS.reads)) == 1
    assert published() - before == 1, "the read rate per camera counts a duplicate once"


BAD_READS: list[Any] = [
    pytest.param(lambda: read_form(text="--- ."), 422, id="no-letters-or-digits"),
    pytest.param(lambda: read_form(text="A" * 17), 422, id="too-long"),
    pytest.param(lambda: read_form(confidence="1.5"), 422, id="confidence-above-1"),
    pytest.param(lambda: read_form(confidence="high"), 422, id="confidence-not-a-number"),
    pytest.param(lambda: read_form(captured_at=now_iso(timedelta(hours=1))), 422, id="clock-skew"),
    pytest.param(lambda: read_form(crop=b"not a jpeg at all" * 4), 415, id="crop-not-an-image"),
    pytest.param(lambda: read_form(crop=b"\x89PNG" + b"\x00" * 40), 415, id="crop-png"),
    pytest.param(lambda: read_form(crop=jpeg(4, 4)), 422, id="crop-too-small"),
    pytest.param(lambda: read_form(crop=BIG_JPEG), 413, id="crop-too-large"),
    pytest.param(lambda: {"data": {"camera_id": "cam-smart", "captured_at": now_iso()}}, 422, id="no-text"),
]


@pytest.mark.parametrize(("form_of", "status"), BAD_READS)
async def test_bad_read_is_refused_and_nothing_is_published(
    tmp_path: Path, form_of: Callable[[], dict[str, Any]], status: int
) -> None:
    async with running(tmp_path, max_crop_bytes=SIZE_LIMIT) as ingest:
        api_key = await register_smart(ingest)
        response = await ingest.client.post("/v1/reads", headers={"X-Camera-Key": api_key}, **form_of())
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert await read_topic(ingest.bus, TOPICS.reads) == []


async def test_frame_camera_may_not_send_reads(ingest: Ingest) -> None:
    api_key = await ingest.register("cam-smart")  # registered as a frame camera
    response = await ingest.client.post("/v1/reads", headers={"X-Camera-Key": api_key}, **read_form())
    assert response.status_code == 403
    assert "kind smart" in response.json()["detail"]
    assert await read_topic(ingest.bus, TOPICS.reads) == []


# --- camera health ------------------------------------------------------------------------------


def metric(name: str, camera: str) -> float | None:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, {"camera": camera})


async def test_heartbeat_keeps_a_camera_from_being_silent(tmp_path: Path) -> None:
    async with running(tmp_path, silent_after_s=0.3, last_seen_write_interval_s=0) as ingest:
        await ingest.register("cam-hb-quiet")
        api_key = await ingest.register("cam-hb-alive")
        await asyncio.sleep(0.4)
        beat = await ingest.client.post(
            "/v1/cameras/cam-hb-alive/heartbeat", headers={"X-Camera-Key": api_key}
        )
        assert beat.status_code == 204
        wrong = await ingest.client.post(
            "/v1/cameras/cam-hb-quiet/heartbeat", headers={"X-Camera-Key": api_key}
        )
        assert wrong.status_code == 401
        assert metric("anpr_camera_last_seen_timestamp_seconds", "cam-hb-alive") == pytest.approx(
            datetime.now(UTC).timestamp(), abs=5
        )

        register = CameraRegister(session_factory(ingest.engine))  # the service's register
        gap = timedelta(seconds=0.3)
        assert await check_silent_cameras(register, gap) == {"cam-hb-alive": False, "cam-hb-quiet": True}
        assert metric("anpr_camera_silent", "cam-hb-quiet") == 1
        assert metric("anpr_camera_silent", "cam-hb-alive") == 0
        later = datetime.now(UTC) + timedelta(seconds=1)
        assert await check_silent_cameras(register, gap, later) == {
            "cam-hb-alive": True,
            "cam-hb-quiet": True,
        }
        assert metric("anpr_camera_silent", "cam-hb-alive") == 1


async def test_register_shows_silent_cameras(tmp_path: Path) -> None:
    async with running(tmp_path, silent_after_s=0.05) as ingest:
        api_key = await ingest.register("cam-1")
        await ingest.register("cam-2")
        await asyncio.sleep(0.1)
        await ingest.client.post("/v1/frames", headers={"X-Camera-Key": api_key}, **frame_form())
        listed = (await ingest.client.get("/v1/cameras", headers=ingest.auth(Role.ADMIN))).json()
        assert {c["camera_id"]: c["silent"] for c in listed} == {"cam-1": False, "cam-2": True}
        await ingest.client.patch(
            "/v1/cameras/cam-2", json={"status": "maintenance"}, headers=ingest.auth(Role.ADMIN)
        )
        listed = (await ingest.client.get("/v1/cameras", headers=ingest.auth(Role.ADMIN))).json()
        assert listed[1]["silent"] is False, "a camera in maintenance is not reported silent"


async def test_clock_skew_is_measured_per_camera_even_when_refused(ingest: Ingest) -> None:
    api_key = await ingest.register("cam-skew")
    ahead = await ingest.client.post(
        "/v1/frames",
        headers={"X-Camera-Key": api_key},
        **frame_form(camera_id="cam-skew", captured_at=now_iso(timedelta(seconds=40))),
    )
    assert ahead.status_code == 202
    assert metric("anpr_camera_clock_skew_seconds", "cam-skew") == pytest.approx(40, abs=3)
    behind = await ingest.client.post(
        "/v1/frames",
        headers={"X-Camera-Key": api_key},
        **frame_form(camera_id="cam-skew", captured_at=now_iso(-timedelta(hours=2))),
    )
    assert behind.status_code == 422
    assert metric("anpr_camera_clock_skew_seconds", "cam-skew") == pytest.approx(-7200, abs=3)


async def test_a_dedupe_table_made_by_the_earlier_version_is_upgraded_and_its_rows_count_as_stored(
    tmp_path: Path,
) -> None:
    import sqlite3

    captured_at = datetime.now(UTC) - timedelta(seconds=5)
    async with running(tmp_path) as ingest:
        api_key = await ingest.register("cam-1")
    with sqlite3.connect(tmp_path / "ingest.db") as old:
        old.execute("DROP TABLE alembic_version")  # the earlier version had no migrations
        old.execute("DROP TABLE intake_dedupe")
        old.execute(
            "CREATE TABLE intake_dedupe (camera_id VARCHAR(64) NOT NULL, captured_at DATETIME NOT NULL, "
            "sha256 VARCHAR(64) NOT NULL, event_id VARCHAR(36) NOT NULL, created_at DATETIME NOT NULL, "
            "PRIMARY KEY (camera_id, captured_at, sha256))"
        )
        old.execute(
            "INSERT INTO intake_dedupe VALUES ('cam-1', ?, ?, 'an-event-id-of-the-old-version', ?)",
            (
                captured_at.replace(tzinfo=None).isoformat(sep=" "),
                hashlib.sha256(SMALL_JPEG).hexdigest(),
                datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" "),
            ),
        )
    async with running(tmp_path) as ingest:
        form = frame_form(captured_at=captured_at.isoformat())
        again = await ingest.client.post("/v1/frames", headers={"X-Camera-Key": api_key}, **form)
        assert again.status_code == 202, again.text
        assert again.json()["duplicate"] is True
        assert again.json()["event_id"] == "an-event-id-of-the-old-version"


async def test_a_register_made_by_the_earlier_version_is_upgraded_in_place(tmp_path: Path) -> None:
    import sqlite3

    with sqlite3.connect(tmp_path / "ingest.db") as old:
        old.execute(
            "CREATE TABLE cameras (camera_id VARCHAR(64) PRIMARY KEY, name VARCHAR(200) NOT NULL, "
            "direction VARCHAR(8) NOT NULL, status VARCHAR(16) NOT NULL, api_key_hash VARCHAR(64) NOT NULL, "
            "created_at DATETIME NOT NULL, last_seen_at DATETIME)"
        )
        old.execute(
            "INSERT INTO cameras VALUES ('cam-old', 'Old', 'in', 'active', ?, '2026-11-01 10:00:00', NULL)",
            (hash_api_key("cam_old-key"),),
        )
    async with running(tmp_path) as ingest:
        listed = (await ingest.client.get("/v1/cameras", headers=ingest.auth(Role.ADMIN))).json()
        assert [(c["camera_id"], c["kind"], c["border_camera"], c["road"]) for c in listed] == [
            ("cam-old", "frame", False, "")
        ]
        accepted = await ingest.client.post(
            "/v1/frames", headers={"X-Camera-Key": "cam_old-key"}, **frame_form(camera_id="cam-old")
        )
        assert accepted.status_code == 202


async def test_raw_body_frames_are_in_the_golden_signals_under_their_route(ingest: Ingest) -> None:
    # The fast path answers without the router: it must still be counted, or the SRE's request rate
    # and error share would miss ingest's busiest route.
    from prometheus_client import REGISTRY

    def answered(status: str) -> float:
        labels = {"service": "ingest", "method": "POST", "route": "/v1/frames", "status": status}
        return REGISTRY.get_sample_value("anpr_http_requests_total", labels) or 0.0

    api_key = await ingest.register("cam-1", direction="in")
    accepted, refused = answered("202"), answered("401")
    assert (await ingest.client.post("/v1/frames", **raw_frame(api_key))).status_code == 202
    assert (await ingest.client.post("/v1/frames", **raw_frame("wrong-key"))).status_code == 401
    assert (answered("202") - accepted, answered("401") - refused) == (1, 1)
