"""Access end to end over HTTP, on SQLite (embedded) and on real PostgreSQL (month partitions):
search, images, zone hits, statistics, legal holds, retention and DPO requests, with their audit."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr.v1 import audit_pb2, common_pb2, hit_pb2, passage_pb2, read_pb2
from anpr_access.adapters.codecs import read_record
from anpr_access.adapters.intake import IntakeStore
from anpr_access.adapters.tables import dpo_requests, reads
from anpr_access.bootstrap import build_app
from anpr_access.domain.retention import Month
from anpr_access.settings import AccessSettings
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import MemoryBus
from anpr_core.db import is_postgres, make_engine
from anpr_core.events import Topics, new_meta, to_timestamp
from anpr_core.plates import Confusables

TOPICS = Topics()
PROBLEM_JSON = "application/problem+json"
ADMINISTRATIVE: dict[str, Any] = {
    "purpose": "administrative",
    "case_reference": "PV/2026/123",
    "legal_basis": "art. 44/5 WPA",
}
JUDICIAL: dict[str, Any] = {**ADMINISTRATIVE, "purpose": "judicial", "prosecutor_decision": "PR/2026/77"}


pytestmark = pytest.mark.usefixtures("no_anpr_environment")


def jpeg(seed: int, width: int = 160, height: int = 48) -> bytes:
    image = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return bytes(buffer.tobytes())


def detail(image: bytes, box: tuple[int, int, int, int] | None = None) -> float:
    gray = cv2.imdecode(np.frombuffer(image, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert gray is not None
    if box is not None:
        x1, y1, x2, y2 = box
        gray = gray[y1:y2, x1:x2]
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def plate_read(
    plate: str,
    age: timedelta,
    camera_id: str = "cam-1",
    direction: common_pb2.Direction.ValueType = common_pb2.DIRECTION_IN,
    crop: bytes = b"\xff\xd8crop",
) -> read_pb2.PlateRead:
    return read_pb2.PlateRead(
        meta=new_meta("5344", "detect"),
        camera_id=camera_id,
        captured_at=to_timestamp(datetime.now(UTC) - age),
        direction=direction,
        plate=plate,
        formatted=plate,
        country="BE",
        format_valid=True,
        confidence=0.94,
        candidates=[read_pb2.PlateCandidate(text=plate, confidence=0.94)],
        box=common_pb2.Box(x1=10, y1=10, x2=60, y2=30),
        plate_crop=crop,
        reader="test-reader",
    )


def passage_of(*reads: read_pb2.PlateRead) -> passage_pb2.Passage:
    """The passage detect publishes for the reads of one car at one camera (the first read's plate)."""
    first, last = (
        min(r.captured_at.ToDatetime() for r in reads),
        max(r.captured_at.ToDatetime() for r in reads),
    )
    passage = passage_pb2.Passage(
        meta=new_meta("5344", "detect"),
        passage_id=f"{reads[0].camera_id}:{reads[0].meta.event_id}",
        camera_id=reads[0].camera_id,
        plate=reads[0].plate,
        formatted=reads[0].formatted,
        country=reads[0].country,
        confidence=0.9,
        read_ids=[r.meta.event_id for r in reads],
        direction=reads[0].direction,
        zone="5344",
    )
    passage.first_seen.FromDatetime(first)
    passage.last_seen.FromDatetime(last)
    return passage


@dataclass
class Access:
    client: httpx.AsyncClient
    bus: MemoryBus
    issuer: DevIssuer
    engine: AsyncEngine
    _audit_group: str = field(default_factory=lambda: f"audit-{uuid.uuid4()}")

    def auth(self, role: Role, subject: str = "alice", zone: str = "5344") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue(subject, role, zone_id=zone)}"}

    async def get(self, path: str, role: Role, **params: Any) -> httpx.Response:
        return await self.client.get(path, params=params, headers=self.auth(role))

    async def post(self, path: str, role: Role, body: Any = None, **params: Any) -> httpx.Response:
        return await self.client.post(path, json=body, params=params, headers=self.auth(role))

    async def publish(self, *messages: read_pb2.PlateRead | passage_pb2.Passage | hit_pb2.Hit) -> None:
        for message in messages:
            topic = {
                read_pb2.PlateRead: TOPICS.reads,
                passage_pb2.Passage: TOPICS.passages,
                hit_pb2.Hit: TOPICS.hits,
            }[type(message)]
            await self.bus.publish(topic, message.camera_id.encode(), message.SerializeToString())
        deadline = time.monotonic() + 5
        while self.bus.pending():
            assert time.monotonic() < deadline, "consumers did not catch up"
            await asyncio.sleep(0.02)

    async def store(self, read: read_pb2.PlateRead, **overrides: Any) -> str:
        """Writes a read straight into the table: for data older than the consumer would accept."""
        await IntakeStore(self.engine, self.engine).add_read(
            replace(read_record(read, Confusables()), **overrides)
        )
        return read.meta.event_id

    async def stored_ids(self) -> set[str]:
        async with self.engine.connect() as conn:
            return set((await conn.scalars(select(reads.c.event_id))).all())

    async def audit(self) -> list[audit_pb2.AuditEvent]:
        """The audit events published since the last call."""
        consumer = self.bus.consumer([TOPICS.audit], self._audit_group)
        await consumer.start()
        taken = []
        try:
            while batch := await consumer.poll(timeout_s=0.01, max_records=1000):
                taken.extend(batch)
            await consumer.commit(taken)
        finally:
            await consumer.stop()
        events = []
        for record in taken:
            event = audit_pb2.AuditEvent()
            event.ParseFromString(record.value)
            events.append(event)
        return events


async def _running(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Access]:
    bus = MemoryBus()
    issuer = DevIssuer(tmp_path / "key.pem")
    # The background run is off: tests run retention by REST and see its audit event alone.
    settings = AccessSettings(data_dir=tmp_path, retention_interval_s=0)
    app = build_app(settings, bus, engine, issuer)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
        ):
            yield Access(client, bus, issuer, engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def sqlite_access(tmp_path: Path) -> AsyncIterator[Access]:
    async for access in _running(make_engine(None, "access", tmp_path), tmp_path):
        yield access


@pytest.fixture
async def postgres_access(migrated_database_url: str, tmp_path: Path) -> AsyncIterator[Access]:
    async for access in _running(make_engine(migrated_database_url, "access", tmp_path), tmp_path):
        yield access


@pytest.fixture(
    params=[
        pytest.param("sqlite_access", id="sqlite"),
        pytest.param("postgres_access", id="postgres", marks=pytest.mark.integration),
    ]
)
def access(request: pytest.FixtureRequest) -> Access:
    value: Access = request.getfixturevalue(request.param)
    return value


# --- search -------------------------------------------------------------------------------------


def reads_of(page: dict[str, Any]) -> list[str]:
    """The reads of a page of passages, in its order."""
    return [read["event_id"] for item in page["items"] for read in item["reads"]]


async def test_fuzzy_direction_and_paged_search(access: Access) -> None:
    exact = plate_read("1ABC234", timedelta(minutes=30))
    misread = plate_read("IA8C234", timedelta(minutes=20), direction=common_pb2.DIRECTION_OUT)
    unrelated = plate_read("9XYZ999", timedelta(minutes=10))
    await access.publish(exact, misread, unrelated, exact)  # the repeat is a redelivery

    plain = await access.get("/v1/passages", Role.INVESTIGATOR, plate="1-abc-234", **ADMINISTRATIVE)
    assert reads_of(plain.json()) == [exact.meta.event_id]
    assert (
        plain.json()["items"][0]["reads"][0]["has_crop"],
        plain.json()["items"][0]["reads"][0]["has_overview"],
    ) == (True, False)
    fuzzy = await access.get(
        "/v1/passages", Role.INVESTIGATOR, plate="1ABC234", fuzzy="true", **ADMINISTRATIVE
    )
    assert reads_of(fuzzy.json()) == [misread.meta.event_id, exact.meta.event_id]
    outbound = await access.get(
        "/v1/passages", Role.INVESTIGATOR, plate="1ABC234", fuzzy="true", direction="out", **ADMINISTRATIVE
    )
    assert reads_of(outbound.json()) == [misread.meta.event_id]

    first = (
        await access.get("/v1/passages", Role.INVESTIGATOR, camera_id="cam-1", limit=2, **ADMINISTRATIVE)
    ).json()
    assert reads_of(first) == [unrelated.meta.event_id, misread.meta.event_id]
    assert first["next_offset"] == 2
    second = (
        await access.get(
            "/v1/passages", Role.INVESTIGATOR, camera_id="cam-1", limit=2, offset=2, **ADMINISTRATIVE
        )
    ).json()
    assert reads_of(second) == [exact.meta.event_id]
    assert second["next_offset"] is None

    events = await access.audit()
    assert [e.action for e in events] == ["search"] * 5
    assert json.loads(events[1].query)["fuzzy"] is True
    assert list(events[1].record_ids) == [misread.meta.event_id, exact.meta.event_id]


async def test_time_tiers_at_their_boundaries(access: Access) -> None:
    day_29 = await access.store(plate_read("1ABC234", timedelta(days=29, hours=23)))
    day_31 = await access.store(plate_read("1ABC234", timedelta(days=31)))
    month_12 = await access.store(plate_read("1ABC234", timedelta(days=364)))
    past = await access.store(plate_read("1ABC234", timedelta(days=366)))
    now = datetime.now(UTC)

    def since(days: int) -> str:
        # A minute's slack: the request reaches the server a moment after `now`.
        return (now - timedelta(days=days) + timedelta(minutes=1)).isoformat()

    recent = await access.get(
        "/v1/passages", Role.INVESTIGATOR, plate="1ABC234", since=since(30), **ADMINISTRATIVE
    )
    assert recent.status_code == 200
    assert reads_of(recent.json()) == [day_29]
    day_31_admin = await access.get(
        "/v1/passages", Role.INVESTIGATOR, plate="1ABC234", since=since(31), **ADMINISTRATIVE
    )
    assert day_31_admin.status_code == 403
    assert "judicial" in day_31_admin.json()["detail"]
    no_decision = await access.get(
        "/v1/passages",
        Role.INVESTIGATOR,
        plate="1ABC234",
        since=since(31),
        **{**JUDICIAL, "prosecutor_decision": ""},
    )
    assert no_decision.status_code == 403
    assert "prosecutor_decision" in no_decision.json()["detail"]
    year = await access.get("/v1/passages", Role.INVESTIGATOR, plate="1ABC234", since=since(400), **JUDICIAL)
    assert year.status_code == 200
    # Past twelve months nothing is shown, even before the retention job has run.
    assert reads_of(year.json()) == [day_29, day_31, month_12]
    assert past in await access.stored_ids()
    outcomes = [(e.outcome, e.prosecutor_decision) for e in await access.audit()]
    assert outcomes == [("allowed", ""), ("refused", ""), ("refused", ""), ("allowed", "PR/2026/77")]


async def test_images_are_a_separate_justified_and_audited_call(access: Access) -> None:
    crop = jpeg(1)
    recent = plate_read("1ABC234", timedelta(hours=1), crop=crop)
    await access.publish(recent)
    old = await access.store(plate_read("1ABC234", timedelta(days=40), crop=crop))

    image = await access.get(
        f"/v1/passages/{recent.meta.event_id}/image", Role.INVESTIGATOR, **ADMINISTRATIVE
    )
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/jpeg"
    assert image.content == crop
    [viewed] = await access.audit()
    assert (viewed.action, viewed.outcome, viewed.case_reference) == ("view_image", "allowed", "PV/2026/123")
    assert list(viewed.record_ids) == [recent.meta.event_id]

    too_old = await access.get(f"/v1/passages/{old}/image", Role.INVESTIGATOR, **ADMINISTRATIVE)
    assert too_old.status_code == 403
    judicial = await access.get(f"/v1/passages/{old}/image", Role.INVESTIGATOR, **JUDICIAL)
    assert judicial.status_code == 200
    unjustified = await access.get(f"/v1/passages/{old}/image", Role.INVESTIGATOR, legal_basis="x")
    assert unjustified.status_code == 422
    assert "purpose" in unjustified.json()["detail"]
    missing = await access.get("/v1/passages/no-such-read/image", Role.INVESTIGATOR, **ADMINISTRATIVE)
    assert missing.status_code == 404
    no_overview = await access.get(
        f"/v1/passages/{recent.meta.event_id}/image", Role.INVESTIGATOR, kind="overview", **ADMINISTRATIVE
    )
    assert no_overview.status_code == 404
    operator = await access.get(f"/v1/passages/{recent.meta.event_id}/image", Role.OPERATOR, **ADMINISTRATIVE)
    assert operator.status_code == 403
    assert operator.headers["content-type"] == PROBLEM_JSON
    events = [(e.action, e.outcome) for e in await access.audit()]
    assert events == [
        ("view_image", "refused"),
        ("view_image", "allowed"),
        ("view_image", "refused"),
        ("view_image", "refused"),
        ("view_image", "refused"),
        ("view_image", "refused"),
    ]


def hit(zone: str, camera_id: str) -> hit_pb2.Hit:
    return hit_pb2.Hit(
        meta=new_meta(zone, "match"),
        read_event_id=str(uuid.uuid4()),
        hotlist_entry_id=str(uuid.uuid4()),
        camera_id=camera_id,
        captured_at=to_timestamp(datetime.now(UTC) - timedelta(minutes=5)),
        plate_read="1ABC234",
        plate_listed="1ABC234",
        match_kind=hit_pb2.MATCH_KIND_EXACT,
        list_name="stolen",
        priority=1,
    )


async def test_operators_see_the_hits_of_their_own_zone_only(access: Access) -> None:
    ours, theirs = hit("5344", "cam-1"), hit("5341", "cam-9")
    await access.publish(ours, theirs)
    response = await access.client.get("/v1/hits", headers=access.auth(Role.OPERATOR, "oscar", zone="5344"))
    assert response.status_code == 200
    assert [h["hit_id"] for h in response.json()] == [ours.meta.event_id]
    # A neighbour zone's token gets nothing here, not even its own zone's records: neighbours are
    # served over their zone topics, under an agreement, never through this zone's API.
    neighbour = await access.client.get("/v1/hits", headers=access.auth(Role.OPERATOR, "nina", zone="5341"))
    assert neighbour.status_code == 403
    assert "zone 5341" in neighbour.json()["detail"]
    # The audit topic is keyed by actor, so order holds per actor only.
    seen = {e.actor.user_id: (e.action, e.outcome, list(e.record_ids)) for e in await access.audit()}
    assert seen == {
        "oscar": ("view_hits", "allowed", [ours.meta.event_id]),
        "nina": ("view_hits", "refused", []),
    }
    # Operators have no history search.
    assert (
        await access.get("/v1/passages", Role.OPERATOR, plate="1ABC234", **ADMINISTRATIVE)
    ).status_code == 403


# --- statistics ---------------------------------------------------------------------------------


async def test_traffic_statistics_per_camera_and_hour_as_json_and_csv(access: Access) -> None:
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    ages = [datetime.now(UTC) - (hour + timedelta(minutes=m)) for m in (5, 10, 70)]
    # The first car is read in three frames: one passage, one vehicle counted, never three.
    first_car = [plate_read("1ABC234", ages[0] - timedelta(seconds=0.4 * n)) for n in range(3)]
    others = [
        plate_read("2DEF345", ages[1], direction=common_pb2.DIRECTION_OUT),
        plate_read("3GHI456", ages[2], camera_id="cam-2"),
    ]
    await access.publish(*first_car, *others)
    await access.publish(passage_of(*first_car), *(passage_of(read) for read in others))
    window = {"from": (hour - timedelta(hours=1)).isoformat(), "to": (hour + timedelta(hours=3)).isoformat()}
    report = await access.get("/v1/stats/traffic", Role.SUPERVISOR, **window)
    assert report.status_code == 200, report.text
    rows = [
        (r["camera_id"], datetime.fromisoformat(r["bucket_start"]), r["passages_in"], r["passages_out"])
        for r in report.json()["rows"]
    ]
    assert rows == [("cam-1", hour, 1, 1), ("cam-2", hour + timedelta(hours=1), 1, 0)]
    assert "1ABC234" not in report.text
    daily = await access.get("/v1/stats/traffic", Role.DPO, bucket="day", format="csv", **window)
    assert daily.headers["content-type"].startswith("text/csv")
    lines = daily.text.splitlines()
    assert lines[0] == "camera_id,bucket_start,passages_in,passages_out,passages_other"
    assert sum(int(line.split(",")[2]) + int(line.split(",")[3]) for line in lines[1:]) == 3
    assert (await access.get("/v1/stats/traffic", Role.OPERATOR, **window)).status_code == 403
    backwards = await access.get(
        "/v1/stats/traffic", Role.SUPERVISOR, **{"from": window["to"], "to": window["from"]}
    )
    assert backwards.status_code == 422
    assert "after" in backwards.json()["detail"]


# --- legal holds and retention ------------------------------------------------------------------


async def test_retention_deletes_old_reads_but_keeps_held_ones_until_the_hold_is_lifted(
    access: Access,
) -> None:
    held = await access.store(plate_read("7HLD777", timedelta(days=400)))
    expired = await access.store(plate_read("1ABC234", timedelta(days=460)))
    also_expired = await access.store(plate_read("1ABC234", timedelta(days=390)))
    straddling = await access.store(plate_read("1ABC234", timedelta(days=366)))
    kept = await access.store(plate_read("1ABC234", timedelta(days=300)))
    recent = plate_read("1ABC234", timedelta(days=1))
    hit_on_held, hit_on_expired = hit("5344", "cam-1"), hit("5344", "cam-1")
    hit_on_held.read_event_id, hit_on_expired.read_event_id = held, expired
    hit_on_held.captured_at.FromDatetime(datetime.now(UTC) - timedelta(days=400))
    hit_on_expired.captured_at.FromDatetime(datetime.now(UTC) - timedelta(days=460))
    await access.publish(recent, hit_on_held, hit_on_expired)

    hold = await access.post(
        "/v1/holds",
        Role.SUPERVISOR,
        {"case_reference": "PV/2025/999", "plate": "7-HLD-777", "reason": "trial"},
    )
    assert hold.status_code == 201, hold.text
    assert hold.json()["records_covered"] == 1
    refused = await access.post("/v1/retention/run", Role.SUPERVISOR)
    assert refused.status_code == 403

    run = await access.post("/v1/retention/run", Role.ADMIN)
    assert run.status_code == 200, run.text
    assert (run.json()["reads_deleted"], run.json()["reads_kept_on_hold"]) == (3, 1)
    assert run.json()["hits_deleted"] == 1, "the held read keeps its hit"
    assert await access.stored_ids() == {held, kept, recent.meta.event_id}
    if is_postgres(access.engine):
        # The partitions wholly past retention are gone, except the one holding the held read.
        assert run.json()["partitions_dropped"] >= 1
        async with access.engine.connect() as conn:
            from sqlalchemy import text

            names = set(
                (
                    await conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'access'"))
                ).all()
            )
        assert Month.of(datetime.now(UTC) - timedelta(days=400)).partition in names
        assert Month.of(datetime.now(UTC) - timedelta(days=300)).partition in names
        assert Month.of(datetime.now(UTC) - timedelta(days=460)).partition not in names
    gone = {straddling, expired, also_expired}
    assert not gone & await access.stored_ids()

    events = await access.audit()
    assert [(e.action, e.outcome) for e in events] == [
        ("manage_holds", "allowed"),
        ("run_retention", "refused"),
        ("retention_delete", "allowed"),
    ]
    assert events[0].case_reference == "PV/2025/999"
    counts = json.loads(events[2].query)
    assert (counts["reads_deleted"], counts["reads_kept_on_hold"]) == (3, 1)
    assert events[2].actor.user_id == "alice"

    hold_id = hold.json()["hold_id"]
    unknown = await access.client.delete(
        "/v1/holds/no-such-hold", params={"reason": "done"}, headers=access.auth(Role.DPO)
    )
    assert unknown.status_code == 404
    lifted = await access.client.delete(
        f"/v1/holds/{hold_id}", params={"reason": "case closed"}, headers=access.auth(Role.DPO)
    )
    assert lifted.status_code == 200
    again = await access.client.delete(
        f"/v1/holds/{hold_id}", params={"reason": "x"}, headers=access.auth(Role.DPO)
    )
    assert again.status_code == 409
    assert (await access.get("/v1/holds", Role.SUPERVISOR)).json() == []
    second = await access.post("/v1/retention/run", Role.ADMIN)
    assert second.json()["reads_deleted"] == 1
    assert await access.stored_ids() == {kept, recent.meta.event_id}
    assert [(e.action, e.outcome) for e in await access.audit()] == [
        ("manage_holds", "refused"),
        ("manage_holds", "allowed"),
        ("manage_holds", "refused"),
        ("retention_delete", "allowed"),
    ]
    metrics = (await access.client.get("/metrics")).text
    assert "anpr_retention_last_run_timestamp_seconds" in metrics
    assert "anpr_reads_oldest_age_seconds" in metrics


async def test_a_hold_must_name_what_it_covers(access: Access) -> None:
    empty = await access.post("/v1/holds", Role.DPO, {"case_reference": "PV/1", "reason": "r"})
    assert empty.status_code == 422
    assert "plate, a time range" in empty.json()["detail"]
    now = datetime.now(UTC)
    backwards = await access.post(
        "/v1/holds",
        Role.DPO,
        {
            "case_reference": "PV/1",
            "reason": "r",
            "since": now.isoformat(),
            "until": (now - timedelta(days=1)).isoformat(),
        },
    )
    assert backwards.status_code == 422
    assert (
        await access.post("/v1/holds", Role.INVESTIGATOR, {"case_reference": "PV/1", "reason": "r"})
    ).status_code == 403


# --- DPO requests -------------------------------------------------------------------------------


def dpo_request(kind: str, plate: str = "1ABC234", **extra: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "kind": kind,
        "requester": "J. Peeters",
        "plate": plate,
        "since": (now - timedelta(days=10)).isoformat(),
        "until": now.isoformat(),
        "place": "Grote Markt",
        "details": "passed the market last week",
        **extra,
    }


async def test_dpo_access_request_exports_own_images_and_blurs_other_vehicles(access: Access) -> None:
    own_crop, other_crop, overview = jpeg(1), jpeg(2), jpeg(3, 320, 160)
    frame = str(uuid.uuid4())
    own = plate_read("1ABC234", timedelta(days=2), crop=own_crop)
    similar = plate_read("IABC234", timedelta(days=3), crop=other_crop)
    neighbour = plate_read("9XYZ999", timedelta(days=2), crop=jpeg(4))
    unrelated = plate_read("5QQQ555", timedelta(days=4))
    await access.store(own, overview=overview, frame_event_id=frame, box=[20, 20, 120, 60])
    await access.store(neighbour, overview=overview, frame_event_id=frame, box=[180, 90, 300, 140])
    await access.store(similar)
    await access.store(unrelated)

    registered = await access.post("/v1/dpo/requests", Role.DPO, dpo_request("access"))
    assert registered.status_code == 201, registered.text
    request_id = registered.json()["request_id"]
    assert registered.json()["state"] == "registered"
    early = await access.post(f"/v1/dpo/requests/{request_id}/execute", Role.DPO)
    assert early.status_code == 409
    located = await access.post(f"/v1/dpo/requests/{request_id}/locate", Role.DPO)
    assert set(located.json()["located_ids"]) == {own.meta.event_id, similar.meta.event_id}
    decided = await access.post(
        f"/v1/dpo/requests/{request_id}/decision",
        Role.DPO,
        # The DPO names the look-alike too: a partial decision covers exactly the records it lists.
        {
            "decision": "partial",
            "reasons": "art. 14 WPA",
            "record_ids": [own.meta.event_id, similar.meta.event_id],
        },
    )
    assert decided.json()["state"] == "decided"
    export = await access.post(f"/v1/dpo/requests/{request_id}/execute", Role.DPO)
    assert export.status_code == 200, export.text
    assert export.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(export.content))
    manifest = json.loads(archive.read("reads.json"))
    by_id = {r["event_id"]: r for r in manifest["reads"]}
    assert set(by_id) == {own.meta.event_id, similar.meta.event_id}
    assert by_id[similar.meta.event_id]["plate"] is None, "another vehicle's plate text is withheld"
    assert "9XYZ999" not in json.dumps(manifest)
    assert archive.read(f"crops/{own.meta.event_id}.jpg") == own_crop
    blurred_other = archive.read(f"crops/{similar.meta.event_id}.jpg")
    assert detail(blurred_other) < detail(other_crop) / 20
    exported_overview = archive.read(f"overviews/{own.meta.event_id}.jpg")
    assert detail(exported_overview, (180, 90, 300, 140)) < detail(overview, (180, 90, 300, 140)) / 20
    assert detail(exported_overview, (20, 20, 120, 60)) > detail(overview, (20, 20, 120, 60)) / 2

    closed = await access.post(f"/v1/dpo/requests/{request_id}/close", Role.DPO)
    assert closed.json()["state"] == "closed"
    events = await access.audit()
    assert [(e.action, e.outcome) for e in events] == [
        ("dpo_requests", "allowed"),
        ("dpo_requests", "refused"),
        ("dpo_requests", "allowed"),
        ("dpo_decision", "allowed"),
        ("export", "allowed"),
        ("dpo_requests", "allowed"),
    ]
    assert events[3].detail == "art. 14 WPA"
    assert list(events[4].recipients) == ["J. Peeters"]
    assert set(events[4].record_ids) == {own.meta.event_id, similar.meta.event_id}
    assert (
        await access.post("/v1/dpo/requests", Role.INVESTIGATOR, dpo_request("access"))
    ).status_code == 403


async def test_dpo_rectification_keeps_the_original_in_the_audit(access: Access) -> None:
    misread = plate_read("1ABC284", timedelta(days=1))
    await access.publish(misread)
    request = await access.post(
        "/v1/dpo/requests",
        Role.DPO,
        dpo_request("rectification", plate="1ABC284", corrected_plate="1-ABC-234"),
    )
    request_id = request.json()["request_id"]
    await access.post(f"/v1/dpo/requests/{request_id}/locate", Role.DPO)
    await access.post(
        f"/v1/dpo/requests/{request_id}/decision", Role.DPO, {"decision": "grant", "reasons": "photo"}
    )
    executed = await access.post(f"/v1/dpo/requests/{request_id}/execute", Role.DPO)
    assert executed.json()["state"] == "executed"
    async with access.engine.connect() as conn:
        assert (
            await conn.scalar(select(reads.c.plate).where(reads.c.event_id == misread.meta.event_id))
        ) == "1ABC234"
    rectification = [e for e in await access.audit() if e.action == "rectification"][0]
    query = json.loads(rectification.query)
    assert query["original_plates"] == {misread.meta.event_id: "1ABC284"}
    assert query["corrected_plate"] == "1ABC234"


async def test_dpo_erasure_is_refused_under_a_legal_hold_and_done_once_lifted(access: Access) -> None:
    read = plate_read("1ABC234", timedelta(days=1))
    look_alike = plate_read("IABC234", timedelta(days=1))
    await access.publish(read, look_alike)
    hold = await access.post(
        "/v1/holds", Role.SUPERVISOR, {"case_reference": "PV/9", "plate": "1ABC234", "reason": "r"}
    )
    request_id = (await access.post("/v1/dpo/requests", Role.DPO, dpo_request("erasure"))).json()[
        "request_id"
    ]
    await access.post(f"/v1/dpo/requests/{request_id}/locate", Role.DPO)
    await access.post(
        f"/v1/dpo/requests/{request_id}/decision", Role.DPO, {"decision": "grant", "reasons": "r"}
    )
    refused = await access.post(f"/v1/dpo/requests/{request_id}/execute", Role.DPO)
    assert refused.status_code == 409
    assert "legal hold" in refused.json()["detail"]
    assert read.meta.event_id in await access.stored_ids()
    await access.client.delete(
        f"/v1/holds/{hold.json()['hold_id']}",
        params={"reason": "closed"},
        headers=access.auth(Role.SUPERVISOR),
    )
    erased = await access.post(f"/v1/dpo/requests/{request_id}/execute", Role.DPO)
    assert erased.status_code == 200, erased.text
    assert erased.json()["outcome"] == "erased 1 records"
    remaining = await access.stored_ids()
    assert read.meta.event_id not in remaining
    assert look_alike.meta.event_id in remaining, "a grant covers the requester's exact plate only"
    erasures = [(e.outcome, list(e.record_ids)) for e in await access.audit() if e.action == "erasure"]
    assert erasures == [("refused", [read.meta.event_id]), ("allowed", [read.meta.event_id])]


async def test_dpo_refusal_partial_decisions_overdue_list_and_bad_input(access: Access) -> None:
    first = (await access.post("/v1/dpo/requests", Role.DPO, dpo_request("access"))).json()["request_id"]
    second = (await access.post("/v1/dpo/requests", Role.DPO, dpo_request("erasure"))).json()["request_id"]
    await access.post(f"/v1/dpo/requests/{first}/locate", Role.DPO)
    refuse = await access.post(
        f"/v1/dpo/requests/{first}/decision", Role.DPO, {"decision": "refuse", "reasons": "r"}
    )
    assert refuse.json()["decision"] == "refuse"
    nothing = await access.post(f"/v1/dpo/requests/{first}/execute", Role.DPO)
    assert nothing.status_code == 409
    assert "close it instead" in nothing.json()["detail"]
    await access.post(f"/v1/dpo/requests/{second}/locate", Role.DPO)
    stray = await access.post(
        f"/v1/dpo/requests/{second}/decision",
        Role.DPO,
        {"decision": "partial", "reasons": "r", "record_ids": ["x"]},
    )
    assert stray.status_code == 422

    async with access.engine.begin() as conn:
        await conn.execute(
            update(dpo_requests)
            .where(dpo_requests.c.request_id == second)
            .values(deadline=datetime.now(UTC) - timedelta(days=1))
        )
    overdue = await access.get("/v1/dpo/requests", Role.DPO, overdue="true")
    assert [(r["request_id"], r["overdue"]) for r in overdue.json()] == [(second, True)]
    assert len((await access.get("/v1/dpo/requests", Role.DPO)).json()) == 2

    assert (await access.get("/v1/dpo/requests/no-such", Role.DPO)).status_code == 404
    now = datetime.now(UTC).isoformat()
    empty = await access.post(
        "/v1/dpo/requests", Role.DPO, {**dpo_request("access"), "since": now, "until": now}
    )
    assert empty.status_code == 422
    assert "date range" in empty.json()["detail"]
    no_fix = await access.post("/v1/dpo/requests", Role.DPO, dpo_request("rectification"))
    assert no_fix.status_code == 422
    assert "corrected_plate" in no_fix.json()["detail"]


# --- authentication refusals land on the audit topic --------------------------------------------


async def test_expired_and_foreign_tokens_are_refused_and_audited(access: Access, tmp_path: Path) -> None:
    import jwt
    from cryptography.hazmat.primitives import serialization

    expired = access.issuer.issue("alice", Role.INVESTIGATOR, ttl_s=-60)
    response = await access.client.get(
        "/v1/passages",
        params={"plate": "1ABC234", **ADMINISTRATIVE},
        headers={"Authorization": f"Bearer {expired}"},
    )
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    key = serialization.load_pem_private_key((tmp_path / "key.pem").read_bytes(), password=None)
    now = int(time.time())
    foreign = jwt.encode(
        {"iss": "https://other.example", "aud": "schild", "sub": "mallory", "role": "investigator",
         "iat": now, "exp": now + 600},
        key,  # type: ignore[arg-type]
        algorithm="EdDSA",
    )  # fmt: skip
    other = await access.client.get("/v1/holds", headers={"Authorization": f"Bearer {foreign}"})
    assert other.status_code == 401
    assert "issuer" in other.json()["detail"]
    events = await access.audit()
    assert [(e.action, e.outcome, e.actor.user_id) for e in events] == [
        ("search_passages", "refused", "anonymous"),
        ("manage_holds", "refused", "anonymous"),
    ]
    assert "expired" in events[0].detail
    assert "issuer" in events[1].detail


async def test_a_read_replayed_after_its_retention_period_is_not_stored(access: Access) -> None:
    stale, fresh = plate_read("1ABC234", timedelta(days=366)), plate_read("1ABC234", timedelta(days=364))
    await access.publish(stale, fresh)
    assert await access.stored_ids() == {fresh.meta.event_id}
