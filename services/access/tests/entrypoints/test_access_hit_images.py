"""A hit's images over HTTP, for those who follow hits: the crop and overview of the read that raised
that hit only, inside the legal tiers of the read's age, each view audited with the hit, the read,
the purpose and the outcome; 404 problem+json where there is no image. On SQLite (embedded) and on
real PostgreSQL (month partitions)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from anpr.v1 import audit_pb2, common_pb2, hit_pb2, read_pb2
from anpr_access.bootstrap import build_app
from anpr_access.settings import AccessSettings
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine
from anpr_core.events import Topics, new_meta, to_timestamp

pytestmark = pytest.mark.usefixtures("no_anpr_environment")

TOPICS = Topics()
PROBLEM_JSON = "application/problem+json"
CROP = b"\xff\xd8\xff\xe0crop of 1ABC234"
OVERVIEW = b"\x89PNG\r\n\x1a\noverview"
JUDICIAL = {
    "purpose": "judicial",
    "case_reference": "PV/2026/88",
    "legal_basis": "art. 46/12 WPA",
    "prosecutor_decision": "PR/2026/9",
}


@dataclass
class Access:
    client: httpx.AsyncClient
    bus: MemoryBus
    issuer: DevIssuer
    _audit_group: str = field(default_factory=lambda: f"audit-{uuid.uuid4()}")

    async def image(
        self, hit_id: str, kind: str, role: Role = Role.OPERATOR, subject: str = "oscar", **params: Any
    ) -> httpx.Response:
        token = self.issuer.issue(subject, role, zone_id="5344")
        return await self.client.get(
            f"/v1/hits/{hit_id}/images/{kind}", params=params, headers={"Authorization": f"Bearer {token}"}
        )

    async def publish(self, *messages: read_pb2.PlateRead | hit_pb2.Hit) -> None:
        for message in messages:
            topic = TOPICS.reads if isinstance(message, read_pb2.PlateRead) else TOPICS.hits
            await self.bus.publish(topic, message.camera_id.encode(), message.SerializeToString())
        deadline = time.monotonic() + 10
        while self.bus.pending():
            assert time.monotonic() < deadline, "consumers did not catch up"
            await asyncio.sleep(0.02)

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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def database(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("migrated_database_url")  # as `anpr migrate all` leaves it
    return url


@pytest.fixture
async def access(database: str | None, tmp_path: Path) -> AsyncIterator[Access]:
    engine = make_engine(database, "access", tmp_path)
    bus = MemoryBus()
    issuer = DevIssuer(tmp_path / "key.pem")
    app = build_app(AccessSettings(data_dir=tmp_path, retention_interval_s=0), bus, engine, issuer)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
        ):
            # The consumers' tasks join their groups at their first step: then bus.pending() counts.
            await asyncio.sleep(0)
            yield Access(client, bus, issuer)
    finally:
        await engine.dispose()


def plate_read(age: timedelta, crop: bytes = CROP, overview: bytes = OVERVIEW) -> read_pb2.PlateRead:
    return read_pb2.PlateRead(
        meta=new_meta("5344", "detect"),
        camera_id="cam-1",
        captured_at=to_timestamp(datetime.now(UTC) - age),
        direction=common_pb2.DIRECTION_IN,
        plate="1ABC234",
        formatted="1-ABC-234",
        country="BE",
        format_valid=True,
        confidence=0.94,
        plate_crop=crop,
        overview=overview,
        reader="test-reader",
    )


def hit_of(read: read_pb2.PlateRead, zone: str = "5344") -> hit_pb2.Hit:
    return hit_pb2.Hit(
        meta=new_meta(zone, "match"),
        read_event_id=read.meta.event_id,
        hotlist_entry_id=str(uuid.uuid4()),
        camera_id=read.camera_id,
        captured_at=read.captured_at,
        plate_read=read.plate,
        plate_listed=read.plate,
        match_kind=hit_pb2.MATCH_KIND_EXACT,
        list_name="stolen",
        priority=1,
    )


def problem(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    detail: str = response.json()["detail"]
    return detail


async def test_those_who_follow_hits_see_a_hits_crop_and_overview_each_view_audited(access: Access) -> None:
    read = plate_read(timedelta(minutes=3))
    hit = hit_of(read)
    await access.publish(read, hit)
    hit_id = hit.meta.event_id

    crop = await access.image(hit_id, "crop")
    assert (crop.status_code, crop.content, crop.headers["content-type"]) == (200, CROP, "image/jpeg")
    assert crop.headers["cache-control"] == "no-store"
    overview = await access.image(hit_id, "overview", Role.SUPERVISOR, "sam")
    assert (overview.status_code, overview.content) == (200, OVERVIEW)
    assert overview.headers["content-type"] == "image/png"
    investigator = await access.image(hit_id, "crop", Role.INVESTIGATOR, "ines", purpose="administrative")
    assert investigator.status_code == 200
    for role in (Role.DPO, Role.AUDITOR, Role.ADMIN):
        problem(await access.image(hit_id, "crop", role, f"no-{role.value}"), 403)

    events = await access.audit()
    views = [
        (e.actor.user_id, e.purpose, e.outcome, list(e.record_ids))
        for e in events
        if e.action == "view_image"
    ]
    # The audit topic is keyed by actor, so order holds per actor only.
    assert sorted(views) == [
        ("ines", "administrative", "allowed", [read.meta.event_id]),
        ("oscar", "operational", "allowed", [read.meta.event_id]),
        ("sam", "operational", "allowed", [read.meta.event_id]),
    ]
    first = json.loads(next(e for e in events if e.actor.user_id == "oscar").query)
    assert first == {"view": "hit", "hit_id": hit_id, "read_event_id": read.meta.event_id, "kind": "crop"}
    # The roles that do not follow hits are refused by the role table, and that is audited too.
    refused = {(e.actor.user_id, e.action) for e in events if e.outcome == "refused"}
    assert refused == {("no-dpo", "view_hits"), ("no-auditor", "view_hits"), ("no-admin", "view_hits")}


async def test_a_hit_names_its_own_read_only_never_another(access: Access) -> None:
    read, other = plate_read(timedelta(minutes=3)), plate_read(timedelta(minutes=2))
    theirs = hit_of(plate_read(timedelta(minutes=1)), zone="5341")
    await access.publish(read, other, hit_of(read), theirs)
    # A read's id is no hit: the route finds hits only, so it browses no reads.
    assert "no hit" in problem(await access.image(other.meta.event_id, "crop"), 404)
    # Another zone's hit stored here is not this zone's operators' to see.
    problem(await access.image(theirs.meta.event_id, "crop"), 404)
    problem(await access.image("not-a-hit", "overview"), 404)
    assert (await access.image(theirs.meta.event_id, "sideways")).status_code == 422
    events = [(e.action, e.outcome, e.detail) for e in await access.audit()]
    assert events == [("view_image", "refused", "no such hit")] * 3


async def test_no_image_or_no_read_yet_is_404_problem_json_and_audited(access: Access) -> None:
    without_overview = plate_read(timedelta(minutes=3), overview=b"")
    arrives_later = plate_read(timedelta(minutes=2))
    lacking, early_hit = hit_of(without_overview), hit_of(arrives_later)
    await access.publish(without_overview, lacking, early_hit)

    assert (await access.image(lacking.meta.event_id, "crop")).status_code == 200
    assert "no overview image" in problem(await access.image(lacking.meta.event_id, "overview"), 404)
    early = early_hit.meta.event_id
    assert "not stored" in problem(await access.image(early, "crop"), 404)
    await access.publish(arrives_later)
    assert (await access.image(early, "crop")).content == CROP
    outcomes = [(e.outcome, e.detail) for e in await access.audit() if e.action == "view_image"]
    assert outcomes == [
        ("allowed", ""),
        ("refused", "no overview stored"),
        ("refused", "the read is not stored"),
        ("allowed", ""),
    ]


async def test_past_the_first_month_only_a_judicial_look_with_its_references_sees_a_hits_images(
    access: Access,
) -> None:
    read = plate_read(timedelta(days=40))
    hit = hit_of(read)
    await access.publish(read, hit)
    hit_id = hit.meta.event_id

    async def as_ines(**params: str) -> httpx.Response:
        # One actor throughout: the audit topic keeps the order of each actor's events.
        return await access.image(hit_id, "crop", Role.INVESTIGATOR, "ines", **params)

    assert "judicial purposes" in problem(await as_ines(), 403)
    assert "judicial purposes" in problem(await as_ines(purpose="administrative"), 403)
    assert "prosecutor" in problem(await as_ines(**{**JUDICIAL, "prosecutor_decision": ""}), 403)
    assert "case" in problem(await as_ines(**{**JUDICIAL, "case_reference": ""}), 422)
    seen = await as_ines(**JUDICIAL)
    assert (seen.status_code, seen.content) == (200, CROP)

    # An operator follows hits too, but past the first month sees nothing for the control room.
    assert "judicial purposes" in problem(await access.image(hit_id, "overview"), 403)
    views = [e for e in await access.audit() if e.action == "view_image" and e.actor.user_id == "ines"]
    assert [(e.purpose, e.outcome) for e in views] == [
        ("operational", "refused"),
        ("administrative", "refused"),
        ("judicial", "refused"),
        ("judicial", "refused"),
        ("judicial", "allowed"),
    ]
    allowed = views[-1]
    assert (allowed.case_reference, allowed.legal_basis, allowed.prosecutor_decision) == (
        "PV/2026/88",
        "art. 46/12 WPA",
        "PR/2026/9",
    )
    assert list(allowed.record_ids) == [read.meta.event_id]
