"""Vendor cameras over HTTP, on the in-process bus and SQLite: the register's vendor and time zone,
each way a camera authenticates (Basic, Digest, its key in a header or the path) and each refusal,
the answers vendors expect, a resend that is the same event, Axis's LOST that adds no read, and
pushes that cannot be read, kept whole on the dead-letter topic."""

from __future__ import annotations

import base64
import io
import json
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import Image

from anpr.v1 import common_pb2, dlq_pb2, read_pb2
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import BusUnavailable, MemoryBus, OutgoingRecord
from anpr_core.bus.memory import MemoryConsumer
from anpr_core.db import make_engine
from anpr_core.events import Topics, from_timestamp
from anpr_core.testing import read_topic
from anpr_ingest.bootstrap import build_app
from anpr_ingest.domain.cameras import hash_api_key
from anpr_ingest.settings import IngestSettings

pytestmark = pytest.mark.usefixtures("no_anpr_environment")
TOPICS = Topics()
PROBLEM_JSON = "application/problem+json"
# The register's default time zone: a Dahua's AccurateTime is its local time there, without offset.
BRUSSELS = ZoneInfo("Europe/Brussels")


def jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (40, 80, 120)).save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


CROP = jpeg(160, 40)
SCENE = jpeg(640, 360)


class DeadLettersDownBus:
    """The broker refusing the dead-letter topic only."""

    def __init__(self, inner: MemoryBus) -> None:
        self.inner = inner

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        if topic == TOPICS.dlq:
            raise BusUnavailable("broker did not acknowledge")
        await self.inner.publish(topic, key, value, headers)

    async def publish_many(self, records: Sequence[OutgoingRecord]) -> None:
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

    def admin(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue('root', Role.ADMIN)}"}

    async def register(self, camera_id: str, vendor: str | None = "hikvision", **fields: Any) -> str:
        body = {"camera_id": camera_id, "name": camera_id, "direction": "in", **fields}
        if vendor:
            body.update(kind="smart", vendor=vendor)
        response = await self.client.post("/v1/cameras", json=body, headers=self.admin())
        assert response.status_code == 201, response.text
        key: str = response.json()["api_key"]
        return key

    async def reads(self) -> list[read_pb2.PlateRead]:
        found = []
        for record in await read_topic(self.bus, TOPICS.reads):
            read = read_pb2.PlateRead()
            read.ParseFromString(record.value)
            found.append(read)
        return found

    async def dead_letters(self) -> list[dlq_pb2.DeadLetter]:
        letters = []
        for record in await read_topic(self.bus, TOPICS.dlq):
            letter = dlq_pb2.DeadLetter()
            letter.ParseFromString(record.value)
            letters.append(letter)
        return letters


@asynccontextmanager
async def running(tmp_path: Path, bus: Any = None, **settings: Any) -> AsyncIterator[Ingest]:
    memory = MemoryBus()
    issuer = DevIssuer(tmp_path / "key.pem")
    engine = make_engine(None, "ingest", tmp_path)
    app = build_app(
        IngestSettings(data_dir=tmp_path, **settings), bus(memory) if bus else memory, engine, issuer
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
    async with running(tmp_path) as harness:
        yield harness


def basic(camera_id: str, key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{camera_id}:{key}".encode()).decode()}


def hikvision_push(plate: str = "1ABC234", at: datetime | None = None, xml_extra: str = "") -> dict[str, Any]:
    when = (at or datetime.now(UTC)).astimezone().isoformat(timespec="seconds")
    xml = (
        '<EventNotificationAlert version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">'
        f"<dateTime>{when}</dateTime><eventType>ANPR</eventType><eventState>active</eventState>{xml_extra}"
        f"<ANPR><country>13</country><licensePlate>{plate}</licensePlate><direction>reverse</direction>"
        "<confidenceLevel>96</confidenceLevel><plateCharBelieve>99,98,97,96,95,94,93</plateCharBelieve>"
        "<vehicleType>vehicle</vehicleType>"
        "<vehicleInfo><color>white</color></vehicleInfo><pictureInfoList>"
        "<pictureInfo><fileName>licensePlatePicture.jpg</fileName><type>licensePlatePicture</type></pictureInfo>"
        "<pictureInfo><fileName>detectionPicture.jpg</fileName><type>detectionPicture</type>"
        "<plateRect><X>338</X><Y>300</Y><width>117</width><height>44</height></plateRect></pictureInfo>"
        "</pictureInfoList></ANPR></EventNotificationAlert>"
    )
    return {
        "files": [
            ("anpr.xml", ("anpr.xml", xml.encode(), "text/xml")),
            ("licensePlatePicture.jpg", ("licensePlatePicture.jpg", CROP, "image/jpeg")),
            ("detectionPicture.jpg", ("detectionPicture.jpg", SCENE, "image/jpeg")),
        ]
    }


# --- the register --------------------------------------------------------------------------------------


async def test_a_vendor_camera_is_registered_smart_with_its_vendor_and_time_zone(ingest: Ingest) -> None:
    await ingest.register("cam-hik", time_zone="Europe/Amsterdam")
    listed = (await ingest.client.get("/v1/cameras/cam-hik", headers=ingest.admin())).json()
    assert (listed["kind"], listed["vendor"], listed["time_zone"]) == (
        "smart",
        "hikvision",
        "Europe/Amsterdam",
    )
    await ingest.register("cam-own", vendor=None)
    own = (await ingest.client.get("/v1/cameras/cam-own", headers=ingest.admin())).json()
    assert (own["kind"], own["vendor"], own["time_zone"]) == ("frame", None, "Europe/Brussels")


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"kind": "frame", "vendor": "axis"}, "kind smart"),
        ({"kind": "smart", "vendor": "axis", "time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"kind": "smart", "vendor": "bosch"}, "vendor"),
    ],
)
async def test_a_vendor_needs_a_smart_camera_and_a_real_time_zone(
    ingest: Ingest, fields: dict[str, str], named: str
) -> None:
    body = {"camera_id": "cam-x", "name": "x", "direction": "in", **fields}
    refused = await ingest.client.post("/v1/cameras", json=body, headers=ingest.admin())
    assert refused.status_code == 422
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert named in refused.text


async def test_patch_moves_a_camera_to_a_vendor_and_its_time_zone_cannot_be_cleared(ingest: Ingest) -> None:
    await ingest.register("cam-p", vendor=None, kind="smart")
    moved = await ingest.client.patch("/v1/cameras/cam-p", json={"vendor": "dahua"}, headers=ingest.admin())
    assert moved.status_code == 200 and moved.json()["vendor"] == "dahua"
    cleared = await ingest.client.patch("/v1/cameras/cam-p", json={"time_zone": None}, headers=ingest.admin())
    assert cleared.status_code == 422
    framed = await ingest.client.patch("/v1/cameras/cam-p", json={"kind": "frame"}, headers=ingest.admin())
    assert framed.status_code == 422


async def test_an_earlier_register_gets_vendor_time_zone_and_digest_columns_and_digest_after_rotation(
    tmp_path: Path,
) -> None:
    with sqlite3.connect(tmp_path / "ingest.db") as old:
        old.execute(
            "CREATE TABLE cameras (camera_id VARCHAR(64) PRIMARY KEY, name VARCHAR(200) NOT NULL, "
            "direction VARCHAR(8) NOT NULL, status VARCHAR(16) NOT NULL, api_key_hash VARCHAR(64) NOT NULL, "
            "created_at DATETIME NOT NULL, last_seen_at DATETIME, kind VARCHAR(8) NOT NULL DEFAULT 'frame')"
        )
        old.execute(
            "INSERT INTO cameras VALUES "
            "('cam-old', 'Old', 'in', 'active', ?, '2026-11-01 10:00:00', NULL, 'smart')",
            (hash_api_key("cam_old-key"),),
        )
    async with running(tmp_path) as ingest:
        old_camera = (await ingest.client.get("/v1/cameras/cam-old", headers=ingest.admin())).json()
        assert (old_camera["vendor"], old_camera["time_zone"]) == (None, "Europe/Brussels")
        await ingest.client.patch("/v1/cameras/cam-old", json={"vendor": "dahua"}, headers=ingest.admin())
        digest = httpx.DigestAuth("cam-old", "cam_old-key")
        before = await ingest.client.post("/NotificationInfo/KeepAlive", content=b"{}", auth=digest)
        assert before.status_code == 401
        assert "rotate" in before.json()["detail"]
        rotated = await ingest.client.post("/v1/cameras/cam-old/key", headers=ingest.admin())
        after = await ingest.client.post(
            "/NotificationInfo/KeepAlive",
            content=b"{}",
            auth=httpx.DigestAuth("cam-old", rotated.json()["api_key"]),
        )
        assert after.status_code == 200, after.text


# --- pushes ----------------------------------------------------------------------------------------------


async def test_hikvision_push_with_basic_auth_is_one_read_with_everything_the_camera_said(
    ingest: Ingest,
) -> None:
    key = await ingest.register("cam-hik")
    at = datetime.now(UTC).replace(microsecond=0)
    pushed = await ingest.client.post(
        "/v1/vendors/hikvision/cam-hik", headers=basic("cam-hik", key), **hikvision_push(at=at)
    )
    assert pushed.status_code == 200, pushed.text
    assert pushed.headers["content-type"].startswith("application/xml")
    assert b"<statusString>OK</statusString>" in pushed.content
    [read] = await ingest.reads()
    assert pushed.headers["X-Event-Ids"] == read.meta.event_id
    assert (read.camera_id, read.plate, read.country, read.camera_read) == ("cam-hik", "1ABC234", "BE", True)
    assert read.direction == common_pb2.DIRECTION_OUT  # moving away from an inbound camera
    assert read.confidence == pytest.approx(0.96)
    assert list(read.character_probabilities) == pytest.approx([0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93])
    assert from_timestamp(read.captured_at) == at
    assert (read.plate_crop, read.overview) == (CROP, SCENE)
    assert (read.box.x1, read.box.y1, read.box.x2, read.box.y2) == (338, 300, 455, 344)
    assert (read.vehicle.type, read.vehicle.colour) == ("vehicle", "white")

    again = await ingest.client.post(
        "/v1/vendors/hikvision/cam-hik", headers=basic("cam-hik", key), **hikvision_push(at=at)
    )
    assert again.status_code == 200
    assert again.headers["X-Event-Ids"] == read.meta.event_id  # the resend is the same event
    assert len(await ingest.reads()) == 1


async def test_the_key_in_a_header_or_the_path_also_authenticates(ingest: Ingest) -> None:
    key = await ingest.register("cam-k")
    by_header = await ingest.client.post(
        "/v1/vendors/hikvision/cam-k", headers={"X-Camera-Key": key}, **hikvision_push("1ABC111")
    )
    by_path = await ingest.client.post(f"/v1/vendors/hikvision/cam-k/key/{key}", **hikvision_push("1ABC222"))
    assert (by_header.status_code, by_path.status_code) == (200, 200)
    assert sorted(r.plate for r in await ingest.reads()) == ["1ABC111", "1ABC222"]


async def test_dahua_digest_on_its_fixed_paths_and_its_keep_alive(tmp_path: Path) -> None:
    async with running(tmp_path, last_seen_write_interval_s=0) as ingest:
        key = await ingest.register("cam-dahua", vendor="dahua")
        notice = {
            "Picture": {
                "Plate": {"PlateNumber": "1-ABC-234", "Confidence": 90},
                "SnapInfo": {"AccurateTime": datetime.now(BRUSSELS).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
                             "Direction": "Obverse"},
                "NormalPic": {"Content": base64.b64encode(SCENE).decode()},
            }
        }  # fmt: skip
        first = await ingest.client.post("/NotificationInfo/TollgateInfo", json=notice)
        assert first.status_code == 401
        assert [v.split()[0] for v in first.headers.get_list("www-authenticate")] == [
            "Digest",
            "Digest",
            "Basic",
        ]
        taken = await ingest.client.post(
            "/NotificationInfo/TollgateInfo", json=notice, auth=httpx.DigestAuth("cam-dahua", key)
        )
        assert taken.status_code == 200, taken.text
        assert taken.json() == {"Result": True}
        alive = await ingest.client.post(
            "/NotificationInfo/KeepAlive", json={"Heartbeat": 1}, auth=httpx.DigestAuth("cam-dahua", key)
        )
        assert alive.status_code == 200
        [read] = await ingest.reads()
        assert (read.plate, read.direction, read.overview) == ("1ABC234", common_pb2.DIRECTION_IN, SCENE)
        camera = (await ingest.client.get("/v1/cameras/cam-dahua", headers=ingest.admin())).json()
        assert camera["last_seen_at"] is not None


async def test_refusals_say_who_may_send_what(ingest: Ingest) -> None:
    key = await ingest.register("cam-hik")
    axis_key = await ingest.register("cam-axis", vendor="axis")
    own_key = await ingest.register("cam-own", vendor=None, kind="smart")

    async def push(camera: str, sender: str, key: str | None, vendor: str = "hikvision") -> httpx.Response:
        headers = basic(sender, key) if key else {}
        return await ingest.client.post(f"/v1/vendors/{vendor}/{camera}", headers=headers, **hikvision_push())

    cases = {
        "none": (await push("cam-hik", "cam-hik", None), 401),
        "wrong key": (await push("cam-hik", "cam-hik", "cam_wrong"), 401),
        "another camera's": (await push("cam-hik", "cam-axis", axis_key), 403),
        "other vendor": (await push("cam-axis", "cam-axis", axis_key), 403),
        "own API": (await push("cam-own", "cam-own", own_key), 403),
        "unknown": (await push("cam-nope", "cam-nope", key), 404),
        "unknown vendor": (await push("cam-hik", "cam-hik", key, vendor="bosch"), 422),
    }
    for name, (response, status) in cases.items():
        assert response.status_code == status, (name, response.text)
        assert response.headers["content-type"] == PROBLEM_JSON, name
    assert cases["wrong key"][0].headers.get_list("www-authenticate")
    assert "cam-axis" in cases["another camera's"][0].json()["detail"]
    assert await ingest.reads() == []


async def test_a_push_that_does_not_parse_is_a_problem_and_a_dead_letter_with_its_bytes(
    ingest: Ingest,
) -> None:
    key = await ingest.register("cam-hik")
    broken = b"<EventNotificationAlert><eventType>ANPR"
    refused = await ingest.client.post(
        "/v1/vendors/hikvision/cam-hik",
        content=broken,
        headers={**basic("cam-hik", key), "Content-Type": "text/xml"},
    )
    assert refused.status_code == 400
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert refused.json()["type"] == "urn:schild:vendor:bad_xml"
    [letter] = await ingest.dead_letters()
    assert (letter.original_value, letter.original_key) == (broken, b"cam-hik")
    assert letter.original_topic == "ingest:vendor:hikvision"
    assert "bad_xml" in letter.reason and "text/xml" in letter.reason
    assert await ingest.reads() == []


async def test_an_external_entity_is_refused_and_no_file_is_read(ingest: Ingest, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-1ABC234")
    key = await ingest.register("cam-hik")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY s SYSTEM "file://{secret}">]>'
        "<EventNotificationAlert><eventType>ANPR</eventType><ANPR><licensePlate>&s;</licensePlate></ANPR>"
        "</EventNotificationAlert>"
    ).encode()
    refused = await ingest.client.post(
        "/v1/vendors/hikvision/cam-hik",
        content=xxe,
        headers={**basic("cam-hik", key), "Content-Type": "application/xml"},
    )
    assert refused.status_code == 400
    assert refused.json()["type"] == "urn:schild:vendor:xml_forbidden"
    everything = [r.value for topic in TOPICS.all() for r in await read_topic(ingest.bus, topic)]
    assert not any(b"TOP-SECRET" in value for value in everything)
    assert b"TOP-SECRET" not in refused.content


async def test_a_refused_push_the_broker_cannot_keep_is_503_so_the_camera_sends_it_again(
    tmp_path: Path,
) -> None:
    async with running(tmp_path, bus=DeadLettersDownBus) as ingest:
        key = await ingest.register("cam-hik")
        refused = await ingest.client.post(
            "/v1/vendors/hikvision/cam-hik",
            content=b"<broken",
            headers={**basic("cam-hik", key), "Content-Type": "text/xml"},
        )
        assert refused.status_code == 503
        assert refused.headers["Retry-After"]
        assert refused.json()["stored"] == "no"


async def test_corrupt_images_clock_skew_and_oversize_are_refused(tmp_path: Path) -> None:
    async with running(tmp_path, max_vendor_body_bytes=64 * 1024) as ingest:
        key = await ingest.register("cam-hik")
        auth = basic("cam-hik", key)
        corrupt = hikvision_push()
        corrupt["files"][2] = ("detectionPicture.jpg", ("detectionPicture.jpg", SCENE[:200], "image/jpeg"))
        damaged = await ingest.client.post("/v1/vendors/hikvision/cam-hik", headers=auth, **corrupt)
        assert damaged.status_code == 422, damaged.text
        late = await ingest.client.post(
            "/v1/vendors/hikvision/cam-hik",
            headers=auth,
            **hikvision_push(at=datetime.now(UTC) - timedelta(hours=2)),
        )
        assert late.status_code == 422
        assert late.json()["type"] == "urn:schild:frame:clock_skew"
        huge = await ingest.client.post(
            "/v1/vendors/hikvision/cam-hik",
            headers={**auth, "Content-Type": "text/xml"},
            content=b"<a>" + b"x" * 70_000,
        )
        assert huge.status_code == 413
        assert len(await ingest.dead_letters()) == 2  # the corrupt image and the late read, not the oversize
        assert await ingest.reads() == []


def axis_event(state: str, plate: str, at: datetime, car: str = "123") -> dict[str, Any]:
    return {
        "files": [
            ("event", ("event.json", json.dumps({
                "carState": state, "carID": car, "plateUTF8": plate, "plateCountry": "BEL",
                "plateConfidence": 0.9, "capture_timestamp": int(at.timestamp() * 1000), "imageType": "plate",
                "carMoveDirection": "in",
            }).encode(), "application/json")),
            ("image", ("plate.jpg", CROP, "image/jpeg")),
        ]
    }  # fmt: skip


async def test_axis_lost_adds_no_read_after_new_and_update_but_is_the_read_when_alone(ingest: Ingest) -> None:
    key = await ingest.register("cam-axis", vendor="axis")
    auth = basic("cam-axis", key)
    start = datetime.now(UTC) - timedelta(seconds=12)
    for state, plate, at in (
        ("new", "1A8C234", start),
        ("update", "1ABC234", start + timedelta(seconds=0.3)),
        ("lost", "1ABC234", start + timedelta(seconds=10.3)),
    ):
        taken = await ingest.client.post(
            "/v1/vendors/axis/cam-axis", headers=auth, **axis_event(state, plate, at)
        )
        assert taken.status_code == 200, taken.text
    assert [r.plate for r in await ingest.reads()] == ["1A8C234", "1ABC234"]
    # A camera set to send LOST alone: its LOST is the vehicle's read.
    alone = await ingest.client.post(
        "/v1/vendors/axis/cam-axis",
        headers=auth,
        **axis_event("lost", "2XYZ987", datetime.now(UTC), car="124"),
    )
    assert alone.status_code == 200
    assert [r.plate for r in await ingest.reads()] == ["1A8C234", "1ABC234", "2XYZ987"]
