"""Access over HTTP and the bus: reads are stored once; every search is justified, checked and audited."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from anpr.v1 import audit_pb2, common_pb2, read_pb2
from anpr_access.bootstrap import build_app
from anpr_access.settings import AccessSettings
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine
from anpr_core.events import Topics, new_meta, to_timestamp
from anpr_core.testing import eventually, read_topic

TOPICS = Topics()
PROBLEM_JSON = "application/problem+json"
JUSTIFIED: dict[str, Any] = {
    "purpose": "administrative",
    "case_reference": "PV/2026/123",
    "legal_basis": "art. 44/5 WPA",
}


pytestmark = pytest.mark.usefixtures("no_anpr_environment")


@dataclass
class Access:
    client: httpx.AsyncClient
    bus: MemoryBus
    issuer: DevIssuer

    def auth(self, role: Role = Role.INVESTIGATOR, subject: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue(subject, role)}"}

    async def search(self, *, role: Role = Role.INVESTIGATOR, **params: Any) -> httpx.Response:
        return await self.client.get("/v1/passages", params=params, headers=self.auth(role))

    async def audit_events(self) -> list[audit_pb2.AuditEvent]:
        events = []
        for record in await read_topic(self.bus, TOPICS.audit):
            event = audit_pb2.AuditEvent()
            event.ParseFromString(record.value)
            events.append(event)
        return events

    async def idle(self) -> None:
        async def nothing_pending() -> bool:
            return self.bus.pending() == 0

        await eventually(nothing_pending)


def app_for(tmp_path: Path, bus: MemoryBus, issuer: DevIssuer) -> FastAPI:
    # The background retention run is off here: its audit event would mix with the ones under test.
    settings = AccessSettings(data_dir=tmp_path, retention_interval_s=0)
    return build_app(settings, bus, make_engine(None, "access", tmp_path), issuer)


@pytest.fixture
async def access(tmp_path: Path) -> AsyncIterator[Access]:
    bus = MemoryBus()
    issuer = DevIssuer(tmp_path / "key.pem")
    app = app_for(tmp_path, bus, issuer)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield Access(client, bus, issuer)


@pytest.fixture
async def access_requests_only(tmp_path: Path) -> AsyncIterator[Access]:
    """The app without its lifespan: enough for searches refused before any storage is touched."""
    bus = MemoryBus()
    issuer = DevIssuer(tmp_path / "key.pem")
    app = app_for(tmp_path, bus, issuer)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield Access(client, bus, issuer)


def plate_read(plate: str, age: timedelta, camera_id: str = "cam-1") -> read_pb2.PlateRead:
    return read_pb2.PlateRead(
        meta=new_meta("5344", "detect"),
        camera_id=camera_id,
        captured_at=to_timestamp(datetime.now(UTC) - age),
        direction=common_pb2.DIRECTION_IN,
        plate=plate,
        formatted="1-ABC-234" if plate == "1ABC234" else plate,
        country="BE",
        format_valid=True,
        confidence=0.94,
        candidates=[read_pb2.PlateCandidate(text=plate, confidence=0.94)],
        plate_crop=b"\xff\xd8crop",
        reader="test-reader",
    )


def read_ids(page: httpx.Response) -> list[str]:
    """The reads of a page of passages, in its order."""
    return [read["event_id"] for item in page.json()["items"] for read in item["reads"]]


async def test_stored_reads_are_found_once_and_the_search_is_audited(access: Access) -> None:
    read = plate_read("1ABC234", timedelta(minutes=5))
    await access.bus.publish(TOPICS.reads, b"cam-1", read.SerializeToString())
    await access.bus.publish(TOPICS.reads, b"cam-1", read.SerializeToString())  # redelivered
    other = plate_read("XYZ987", timedelta(minutes=4))
    await access.bus.publish(TOPICS.reads, b"cam-1", other.SerializeToString())
    await access.idle()

    response = await access.search(plate="1-abc-234", **JUSTIFIED)
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["legal_tier"] == "recent"
    assert len(page["items"]) == 1
    # No passage was published for it: the read comes as a passage of its own, never hidden.
    [passage] = page["items"]
    assert passage["passage_id"] is None
    assert [r["event_id"] for r in passage["reads"]] == [read.meta.event_id]
    item = passage["reads"][0]
    assert item["event_id"] == read.meta.event_id
    assert (item["plate"], item["formatted"], item["country"]) == ("1ABC234", "1-ABC-234", "BE")
    assert (item["camera_id"], item["direction"], item["camera_read"]) == ("cam-1", "in", False)
    assert datetime.fromisoformat(item["captured_at"]) == read.captured_at.ToDatetime(tzinfo=UTC)

    [event] = await access.audit_events()
    assert event.action == "search"
    assert event.outcome == "allowed"
    assert (event.actor.user_id, event.actor.role) == ("alice", "investigator")
    assert event.service == "access"
    assert event.purpose == "administrative"
    assert event.case_reference == "PV/2026/123"
    assert event.legal_basis == "art. 44/5 WPA"
    assert list(event.record_ids) == [read.meta.event_id]
    assert event.record_count == 1
    assert json.loads(event.query)["plate"] == "1-abc-234"


async def test_older_reads_need_a_judicial_search_with_the_prosecutor_decision(access: Access) -> None:
    recent = plate_read("1ABC234", timedelta(days=2))
    old = plate_read("1ABC234", timedelta(days=40))
    other_camera = plate_read("1ABC234", timedelta(days=1), camera_id="cam-2")
    for read in (recent, old, other_camera):
        await access.bus.publish(TOPICS.reads, read.camera_id.encode(), read.SerializeToString())
    await access.idle()

    # The default window is the first tier: the 40-day-old passage is not in it.
    default = await access.search(plate="1ABC234", **JUSTIFIED)
    found = set(read_ids(default))
    assert found == {recent.meta.event_id, other_camera.meta.event_id}
    by_camera = await access.search(camera_id="cam-2", **JUSTIFIED)
    assert read_ids(by_camera) == [other_camera.meta.event_id]

    since = (datetime.now(UTC) - timedelta(days=60)).isoformat()
    judicial = await access.search(
        plate="1ABC234",
        since=since,
        camera_id="cam-1",
        **{**JUSTIFIED, "purpose": "judicial", "prosecutor_decision": "PR/2026/77"},
    )
    assert judicial.status_code == 200, judicial.text
    assert judicial.json()["legal_tier"] == "judicial_only"
    # Newest first.
    assert read_ids(judicial) == [recent.meta.event_id, old.meta.event_id]


async def test_search_needs_a_token(access_requests_only: Access) -> None:
    response = await access_requests_only.client.get("/v1/passages", params={"plate": "1ABC234", **JUSTIFIED})
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.SUPERVISOR, Role.ADMIN, Role.AUDITOR, Role.DPO])
async def test_only_investigators_search_passages(access_requests_only: Access, role: Role) -> None:
    response = await access_requests_only.search(role=role, plate="1ABC234", **JUSTIFIED)
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM_JSON


async def test_search_without_purpose_is_refused_and_the_attempt_audited(
    access_requests_only: Access,
) -> None:
    response = await access_requests_only.search(
        plate="1ABC234", case_reference="PV/2026/123", legal_basis="art. 44/5 WPA"
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "purpose" in response.json()["detail"]

    [event] = await access_requests_only.audit_events()
    assert event.action == "search"
    assert event.outcome == "refused"
    assert event.actor.user_id == "alice"
    assert event.case_reference == "PV/2026/123"
    assert "purpose" in event.detail
    assert list(event.record_ids) == []


async def test_administrative_search_into_older_data_is_forbidden_and_audited(
    access_requests_only: Access,
) -> None:
    since = (datetime.now(UTC) - timedelta(days=31)).isoformat()
    response = await access_requests_only.search(plate="1ABC234", since=since, **JUSTIFIED)
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "judicial" in response.json()["detail"]
    [event] = await access_requests_only.audit_events()
    assert (event.action, event.outcome, event.purpose) == ("search", "refused", "administrative")


OLD = timedelta(days=45)


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        pytest.param(
            {"plate": "1ABC234", "since": OLD, **JUSTIFIED, "purpose": "judicial"},
            403,
            "prosecutor_decision",
            id="judicial-old-without-prosecutor",
        ),
        pytest.param(
            {"plate": "1ABC234", **JUSTIFIED, "case_reference": ""}, 422, "case_reference", id="no-case"
        ),
        pytest.param(
            {"plate": "1ABC234", **JUSTIFIED, "legal_basis": " "}, 422, "legal_basis", id="no-basis"
        ),
        pytest.param(JUSTIFIED, 422, "plate", id="no-plate-or-camera"),
        pytest.param(
            {"plate": "1ABC234", **JUSTIFIED, "since": "2026-01-01T00:00:00"},
            422,
            "timezone",
            id="naive-since",
        ),
    ],
)
async def test_unjustified_search_is_refused_and_audited(
    access_requests_only: Access, params: dict[str, Any], status: int, says: str
) -> None:
    if isinstance(params.get("since"), timedelta):
        params = {**params, "since": (datetime.now(UTC) - params["since"]).isoformat()}
    response = await access_requests_only.search(**params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert says in response.json()["detail"]
    [event] = await access_requests_only.audit_events()
    assert event.outcome == "refused"
    assert says in event.detail


async def test_invalid_purpose_value_is_a_422_problem(access_requests_only: Access) -> None:
    response = await access_requests_only.search(plate="1ABC234", **{**JUSTIFIED, "purpose": "curiosity"})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
