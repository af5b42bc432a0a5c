"""Ingest over HTTP: camera register (admin only, audited) and frame intake (202 only once on the bus)."""

from __future__ import annotations

import hashlib
import io
import os
import random
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from anpr.v1 import audit_pb2, common_pb2, frame_pb2
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import BusUnavailable, MemoryBus, OutgoingRecord, Record
from anpr_core.bus.memory import MemoryConsumer
from anpr_core.db import make_engine
from anpr_core.events import Topics, from_timestamp
from anpr_ingest.bootstrap import build_app
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


async def read_topic(bus: MemoryBus, topic: str) -> list[Record]:
    consumer = bus.consumer([topic], f"reader-{uuid.uuid4()}")
    await consumer.start()
    taken: list[Record] = []
    try:
        while batch := await consumer.poll(timeout_s=0.01, max_records=1000):
            taken.extend(batch)
    finally:
        await consumer.stop()
    return taken


@dataclass
class Ingest:
    client: httpx.AsyncClient
    bus: MemoryBus
    issuer: DevIssuer

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


@pytest.fixture(autouse=True)
def _no_anpr_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ANPR_"):
            monkeypatch.delenv(name)


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
            yield Ingest(client, memory, issuer)
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
