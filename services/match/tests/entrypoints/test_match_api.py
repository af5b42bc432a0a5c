"""Match over HTTP and the bus: hotlist entries get indexed, reads raise hits once, changes are audited."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from anpr.v1 import audit_pb2, hit_pb2, hotlist_pb2, read_pb2
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine
from anpr_core.events import Topics, new_meta, to_timestamp
from anpr_core.testing import eventually, read_topic
from anpr_match.bootstrap import build_app
from anpr_match.domain.dedupe import hit_event_id
from anpr_match.settings import MatchSettings

TOPICS = Topics()
PROBLEM_JSON = "application/problem+json"


pytestmark = pytest.mark.usefixtures("no_anpr_environment")


@dataclass
class Match:
    client: httpx.AsyncClient
    bus: MemoryBus
    issuer: DevIssuer

    def auth(self, role: Role = Role.INVESTIGATOR, subject: str = "alice") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue(subject, role)}"}

    async def create_list(self, name: str = "stolen", **rules: Any) -> httpx.Response:
        body: dict[str, Any] = {"name": name, "category": "stolen_vehicle", **rules}
        return await self.client.post("/v1/lists", json=body, headers=self.auth(Role.SUPERVISOR, "sue"))

    async def create(self, **overrides: Any) -> httpx.Response:
        body: dict[str, Any] = {
            "plate": "1-abc-234",
            "list_name": "stolen",
            "category": "stolen_vehicle",
            "priority": 5,
            "action": "stop and check",
            "reason": "reported stolen",
            "case_reference": "PV/2026/123",
        }
        body.update(overrides)
        return await self.client.post("/v1/hotlist", json=body, headers=self.auth())

    async def indexed(self, entry_id: str) -> None:
        async def is_indexed() -> bool:
            response = await self.client.get(f"/v1/hotlist/{entry_id}", headers=self.auth(Role.OPERATOR))
            assert response.status_code == 200
            return bool(response.json()["indexed"])

        await eventually(is_indexed)

    async def hits(self) -> list[dict[str, Any]]:
        response = await self.client.get("/v1/hits", headers=self.auth(Role.OPERATOR, "oscar"))
        assert response.status_code == 200
        result: list[dict[str, Any]] = response.json()
        return result

    async def idle(self) -> None:
        async def nothing_pending() -> bool:
            return self.bus.pending() == 0

        await eventually(nothing_pending)


def app_for(tmp_path: Path, bus: MemoryBus, issuer: DevIssuer) -> FastAPI:
    return build_app(MatchSettings(data_dir=tmp_path), bus, make_engine(None, "match", tmp_path), issuer)


@pytest.fixture
async def match(tmp_path: Path) -> AsyncIterator[Match]:
    bus = MemoryBus()
    issuer = DevIssuer(tmp_path / "key.pem")
    app = app_for(tmp_path, bus, issuer)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        service = Match(client, bus, issuer)
        assert (await service.create_list()).status_code == 201
        yield service


@pytest.fixture
async def match_requests_only(tmp_path: Path) -> AsyncIterator[Match]:
    """The app without its lifespan: enough for requests refused before any storage is touched."""
    bus = MemoryBus()
    issuer = DevIssuer(tmp_path / "key.pem")
    app = app_for(tmp_path, bus, issuer)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield Match(client, bus, issuer)


def plate_read(plate: str, candidates: tuple[str, ...] = ()) -> read_pb2.PlateRead:
    read = read_pb2.PlateRead(
        meta=new_meta("5344", "detect"),
        camera_id="cam-1",
        captured_at=to_timestamp(datetime.now(UTC)),
        plate=plate,
        confidence=0.93,
        candidates=[read_pb2.PlateCandidate(text=c, confidence=0.5) for c in candidates],
        format_valid=True,
        country="BE",
    )
    return read


async def test_created_entry_is_normalised_indexed_and_audited(match: Match) -> None:
    response = await match.create(plate="1-abc-234")
    assert response.status_code == 201, response.text
    entry = response.json()
    assert entry["plate"] == "1ABC234"
    assert entry["entered_by"] == "alice"
    assert entry["source_zone"] == "5344"
    entry_id = entry["entry_id"]

    await match.indexed(entry_id)
    listed = await match.client.get(
        "/v1/hotlist", params={"plate": "1 ABC 234"}, headers=match.auth(Role.SUPERVISOR)
    )
    assert [e["entry_id"] for e in listed.json()] == [entry_id]

    published = [r for r in await read_topic(match.bus, TOPICS.hotlist) if r.key != b"list:stolen"]
    assert len(published) == 1
    event = hotlist_pb2.HotlistEntry()
    event.ParseFromString(published[0].value)
    assert (event.entry_id, event.plate, event.deleted) == (entry_id, "1ABC234", False)

    events = [audit_pb2.AuditEvent.FromString(r.value) for r in await read_topic(match.bus, TOPICS.audit)]
    audit = [a for a in events if a.action == "hotlist_change"]  # the others: the looks at the entry
    # The first is the list's creation.
    assert [a.record_ids[0] for a in audit] == ["list:stolen", entry_id]
    change = audit[1]
    assert change.action == "hotlist_change"
    assert change.actor.user_id == "alice"
    assert change.case_reference == "PV/2026/123"
    assert list(change.record_ids) == [entry_id]
    assert change.service == "match"


async def test_a_read_of_a_listed_plate_raises_one_hit_even_when_redelivered(match: Match) -> None:
    entry_id = (await match.create()).json()["entry_id"]
    await match.indexed(entry_id)

    read = plate_read("1ABC234")
    await match.bus.publish(TOPICS.reads, b"cam-1", read.SerializeToString())

    async def has_hit() -> bool:
        return len(await match.hits()) == 1

    await eventually(has_hit)
    # The same read again (redelivery, a replayed topic): still one hit.
    await match.bus.publish(TOPICS.reads, b"cam-1", read.SerializeToString())
    await match.idle()
    [hit] = await match.hits()
    assert hit["hit_id"] == hit_event_id(read.meta.event_id, entry_id)
    assert hit["read_event_id"] == read.meta.event_id
    assert hit["entry_id"] == entry_id
    assert hit["camera_id"] == "cam-1"
    assert (hit["plate_read"], hit["plate_listed"]) == ("1ABC234", "1ABC234")
    assert hit["match_kind"] == "exact"
    assert (hit["list_name"], hit["category"], hit["priority"]) == ("stolen", "stolen_vehicle", 5)

    records = await read_topic(match.bus, TOPICS.hits)
    assert records, "the hit is published for the control room"
    events = []
    for record in records:
        event = hit_pb2.Hit()
        event.ParseFromString(record.value)
        events.append(event)
    assert {e.meta.event_id for e in events} == {hit["hit_id"]}, "a redelivered hit keeps its id"
    assert events[0].hotlist_entry_id == entry_id
    assert events[0].read_event_id == read.meta.event_id


async def test_reads_match_through_candidates_and_nothing_else_raises_a_hit(match: Match) -> None:
    now = datetime.now(UTC)
    listed = (await match.create(plate="XYZ987")).json()["entry_id"]
    expired = await match.create(
        plate="EXP001",
        valid_from=(now - timedelta(days=3)).isoformat(),
        valid_until=(now - timedelta(days=1)).isoformat(),
    )
    assert expired.status_code == 201
    await match.indexed(listed)
    await match.indexed(expired.json()["entry_id"])

    await match.bus.publish(TOPICS.reads, b"cam-1", plate_read("1ABC234").SerializeToString())
    await match.bus.publish(TOPICS.reads, b"cam-1", plate_read("EXP001").SerializeToString())
    await match.bus.publish(TOPICS.reads, b"cam-1", plate_read("XYZ937", ("XYZ987",)).SerializeToString())
    await match.idle()
    hits = await match.hits()
    assert [(h["entry_id"], h["plate_read"]) for h in hits] == [(listed, "XYZ987")]


NOW_ISO = datetime.now(UTC).isoformat()


@pytest.mark.parametrize(
    "overrides",
    [
        pytest.param({"plate": "A"}, id="plate-too-short"),
        pytest.param({"plate": "--!!--"}, id="plate-without-characters"),
        pytest.param({"plate": "ABCDEFGHIJKLM"}, id="plate-too-long"),
        pytest.param({"category": "parking_ticket"}, id="unknown-category"),
        pytest.param(
            {"valid_from": NOW_ISO, "valid_until": (datetime.now(UTC) - timedelta(days=1)).isoformat()},
            id="until-before-from",
        ),
        pytest.param({"valid_from": NOW_ISO, "valid_until": NOW_ISO}, id="empty-window"),
        pytest.param({"valid_from": datetime.now(UTC).replace(tzinfo=None).isoformat()}, id="naive-time"),
        pytest.param({"reason": ""}, id="no-reason"),
        pytest.param({"case_reference": ""}, id="no-case"),
        pytest.param({"priority": 10}, id="priority-out-of-range"),
    ],
)
async def test_invalid_entry_is_refused_with_422_and_nothing_is_published(
    match_requests_only: Match, overrides: dict[str, Any]
) -> None:
    response = await match_requests_only.create(**overrides)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["status"] == 422
    assert await read_topic(match_requests_only.bus, TOPICS.hotlist) == []
    assert await read_topic(match_requests_only.bus, TOPICS.audit) == []


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.AUDITOR, Role.ADMIN, Role.DPO])
async def test_only_investigators_and_supervisors_manage_the_hotlist(
    match_requests_only: Match, role: Role
) -> None:
    response = await match_requests_only.client.post(
        "/v1/hotlist",
        json={
            "plate": "1ABC234",
            "list_name": "stolen",
            "category": "stolen_vehicle",
            "reason": "x",
            "case_reference": "PV/1",
        },
        headers=match_requests_only.auth(role, "someone"),
    )
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM_JSON
    assert await read_topic(match_requests_only.bus, TOPICS.hotlist) == []


async def test_hits_need_a_token(match_requests_only: Match) -> None:
    response = await match_requests_only.client.get("/v1/hits")
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM_JSON
