"""Every look at hits and at the hotlist is audited with who and why, an export states its purpose,
case and recipient, and a token of another zone gets nothing (403, audited) on any data endpoint."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from anpr.v1 import audit_pb2, read_pb2
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import BusUnavailable, MemoryBus, OutgoingRecord
from anpr_core.db import make_engine
from anpr_core.events import Topics, new_meta, to_timestamp
from anpr_core.testing import eventually, read_topic
from anpr_match.bootstrap import MatchService, build_service
from anpr_match.domain.dedupe import hit_event_id
from anpr_match.settings import MatchSettings

TOPICS = Topics()
PROBLEM_JSON = "application/problem+json"
ZONE = "5344"
NEIGHBOUR = "5341"


pytestmark = pytest.mark.usefixtures("no_anpr_environment")


class AuditLogDown(MemoryBus):
    """The in-process bus, whose audit topic can be made to refuse records (the broker is away)."""

    audit_down = False

    async def publish_many(self, records: Sequence[OutgoingRecord]) -> None:
        if self.audit_down and any(record.topic == TOPICS.audit for record in records):
            raise BusUnavailable("the broker did not take the audit record")
        await super().publish_many(records)


@dataclass
class Looks:
    match: MatchService
    client: httpx.AsyncClient
    bus: AuditLogDown
    issuer: DevIssuer
    entry_id: str = ""
    hit_id: str = ""
    # Audit records of the set-up, which no test is about.
    earlier: frozenset[str] = frozenset()

    def auth(self, role: Role = Role.OPERATOR, subject: str = "oscar", zone: str = ZONE) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue(subject, role, zone)}"}

    async def audit(self, action: str | None = None) -> list[audit_pb2.AuditEvent]:
        events = [audit_pb2.AuditEvent.FromString(r.value) for r in await read_topic(self.bus, TOPICS.audit)]
        events.sort(key=lambda e: (e.meta.occurred_at.seconds, e.meta.occurred_at.nanos))
        return [
            e
            for e in events
            if e.meta.event_id not in self.earlier and (action is None or e.action == action)
        ]


@pytest.fixture
async def looks(tmp_path: Path) -> AsyncIterator[Looks]:
    """Match with one list, one entry and one hit on it; the audit topic read empty."""
    bus = AuditLogDown()
    issuer = DevIssuer(tmp_path / "key.pem")
    match = build_service(MatchSettings(data_dir=tmp_path), bus, make_engine(None, "match", tmp_path), issuer)
    app = match.app
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        service = Looks(match, client, bus, issuer)
        supervisor = service.auth(Role.SUPERVISOR, "sue")
        made = await client.post(
            "/v1/lists", json={"name": "stolen", "category": "stolen_vehicle"}, headers=supervisor
        )
        assert made.status_code == 201, made.text
        body = {
            "plate": "1ABC234",
            "list_name": "stolen",
            "reason": "reported stolen",
            "case_reference": "PV/1",
        }
        entered = await client.post("/v1/hotlist", json=body, headers=supervisor)
        assert entered.status_code == 201, entered.text
        service.entry_id = entered.json()["entry_id"]
        await eventually(lambda: _indexed(match, service.entry_id))
        await publish_read(bus, "1ABC234")

        async def one_hit() -> bool:
            return len(await _stored_hits(match)) == 1

        await eventually(one_hit)
        [service.hit_id] = await _stored_hits(match)
        service.earlier = frozenset(e.meta.event_id for e in await service.audit())
        yield service


async def _indexed(match: MatchService, entry_id: str) -> bool:
    return entry_id in match.pipeline.index


async def _stored_hits(match: MatchService) -> list[str]:
    return [hit["hit_id"] for hit in await match.hits.latest(limit=10_000)]


async def publish_read(bus: MemoryBus, plate: str, camera: str = "cam-1") -> read_pb2.PlateRead:
    read = read_pb2.PlateRead(
        meta=new_meta(ZONE, "detect"),
        camera_id=camera,
        captured_at=to_timestamp(datetime.now(UTC)),
        plate=plate,
        confidence=0.9,
    )
    await bus.publish(TOPICS.reads, camera.encode(), read.SerializeToString())
    return read


def who(event: audit_pb2.AuditEvent) -> tuple[str, str, str]:
    return (event.actor.user_id, event.actor.role, event.actor.zone_id)


# --- hits ------------------------------------------------------------------------------------------


async def test_each_look_at_hits_is_audited_with_who_why_what_and_the_hits_seen(looks: Looks) -> None:
    listed = await looks.client.get("/v1/hits", params={"camera_id": "cam-1"}, headers=looks.auth())
    assert listed.status_code == 200
    assert [h["hit_id"] for h in listed.json()] == [looks.hit_id]
    detail = await looks.client.get(
        f"/v1/hits/{looks.hit_id}",
        params={"purpose": "judicial", "case_reference": "PV/2026/55"},
        headers=looks.auth(Role.INVESTIGATOR, "ivan"),
    )
    assert detail.status_code == 200
    missing = await looks.client.get("/v1/hits/no-such-hit", headers=looks.auth())
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM_JSON

    first, second, third = await looks.audit("view_hits")
    assert who(first) == ("oscar", "operator", ZONE)
    assert (first.purpose, first.case_reference, first.outcome) == ("operational", "", "allowed")
    assert json.loads(first.query) == {
        "view": "list",
        "list_name": None,
        "camera_id": "cam-1",
        "unacknowledged": False,
        "limit": 50,
    }
    assert list(first.record_ids) == [looks.hit_id]
    assert who(second) == ("ivan", "investigator", ZONE)
    assert (second.purpose, second.case_reference) == ("judicial", "PV/2026/55")
    assert (json.loads(second.query), list(second.record_ids)) == (
        {"view": "hit", "hit_id": looks.hit_id},
        [looks.hit_id],
    )
    assert (third.outcome, third.detail, list(third.record_ids)) == (
        "refused",
        "hit no-such-hit does not exist",
        [],
    )


async def test_the_live_stream_audits_its_opening_and_each_hit_it_sends(looks: Looks) -> None:
    received: list[str] = []

    async def listen() -> None:
        async with looks.client.stream(
            "GET", "/v1/hits/stream", params={"limit": 1}, headers=looks.auth(Role.SUPERVISOR, "sue")
        ) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    received.append(json.loads(line.removeprefix("data: "))["hit_id"])

    listener = asyncio.create_task(listen())

    async def opened() -> bool:
        return len(await looks.audit("view_hits")) == 1

    await eventually(opened)
    second = await publish_read(looks.bus, "1A8C234", "cam-2")  # another camera: a new hit
    await asyncio.wait_for(listener, timeout=5)
    [hit_id] = received
    assert hit_id == hit_event_id(second.meta.event_id, looks.entry_id)
    events = await looks.audit("view_hits")
    assert [(json.loads(e.query).get("sent"), list(e.record_ids)) for e in events] == [
        (None, []),
        ("hit", [hit_id]),
    ]
    assert all(who(e) == ("sue", "supervisor", ZONE) and e.purpose == "operational" for e in events)
    assert json.loads(events[0].query) == {"view": "stream", "limit": 1, "heartbeat_s": 15.0}


async def test_a_stream_whose_hit_cannot_be_audited_closes_without_sending_it(looks: Looks) -> None:
    lines: list[str] = []

    async def listen() -> None:
        async with looks.client.stream("GET", "/v1/hits/stream", headers=looks.auth()) as response:
            assert response.status_code == 200
            lines.extend([line async for line in response.aiter_lines() if line])

    listener = asyncio.create_task(listen())

    async def opened() -> bool:
        return len(await looks.audit("view_hits")) == 1

    await eventually(opened)
    looks.bus.audit_down = True
    await publish_read(looks.bus, "1ABC234", "cam-3")
    await asyncio.wait_for(listener, timeout=5)
    assert "event: unavailable" in lines
    assert not any(line.startswith("event: hit") or "1ABC234" in line for line in lines)


async def test_a_look_the_audit_log_cannot_record_shows_nothing(looks: Looks) -> None:
    looks.bus.audit_down = True
    calls = [
        ("/v1/hits", looks.auth()),
        (f"/v1/hits/{looks.hit_id}", looks.auth()),
        ("/v1/hits/stream", looks.auth()),
        ("/v1/hotlist", looks.auth()),
        (f"/v1/hotlist/{looks.entry_id}", looks.auth()),
    ]
    for path, headers in calls:
        response = await looks.client.get(path, headers=headers)
        assert response.status_code == 503, path
        assert response.headers["content-type"] == PROBLEM_JSON
        assert "Retry-After" in response.headers
        assert "1ABC234" not in response.text


# --- the hotlist -----------------------------------------------------------------------------------


async def test_each_look_at_the_hotlist_is_audited_with_the_entries_seen(looks: Looks) -> None:
    listed = await looks.client.get("/v1/hotlist", params={"plate": "1-abc-234"}, headers=looks.auth())
    assert [e["entry_id"] for e in listed.json()] == [looks.entry_id]
    one = await looks.client.get(
        f"/v1/hotlist/{looks.entry_id}",
        params={"purpose": "administrative", "case_reference": "VR/12"},
        headers=looks.auth(),
    )
    assert one.status_code == 200
    missing = await looks.client.get("/v1/hotlist/nothing-here", headers=looks.auth())
    assert missing.status_code == 404

    first, second, third = await looks.audit("view_hotlist")
    assert who(first) == ("oscar", "operator", ZONE)
    assert json.loads(first.query) == {
        "view": "list",
        "plate": "1ABC234",
        "list_name": None,
        "in_force": None,
        "limit": 100,
        "offset": 0,
    }
    assert (first.purpose, list(first.record_ids)) == ("operational", [looks.entry_id])
    assert (second.purpose, second.case_reference, list(second.record_ids)) == (
        "administrative",
        "VR/12",
        [looks.entry_id],
    )
    assert (third.outcome, json.loads(third.query)["entry_id"]) == ("refused", "nothing-here")


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({}, "purpose and case_reference"),
        ({"purpose": "judicial"}, "case_reference"),
        ({"case_reference": "PV/1"}, "purpose"),
        ({"purpose": "judicial", "case_reference": "   "}, "case_reference"),
    ],
)
async def test_an_export_without_its_purpose_or_case_is_refused_and_audited(
    looks: Looks, given: dict[str, str], missing: str
) -> None:
    refused = await looks.client.get(
        "/v1/hotlist/export", params=given, headers=looks.auth(Role.SUPERVISOR, "sue")
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert missing in refused.json()["detail"]
    assert "1ABC234" not in refused.text
    [event] = await looks.audit("export")
    assert (event.outcome, who(event), event.record_count) == ("refused", ("sue", "supervisor", ZONE), 0)
    assert missing in event.detail


async def test_an_export_is_audited_as_a_disclosure_to_its_recipient(looks: Looks) -> None:
    exported = await looks.client.get(
        "/v1/hotlist/export",
        params={"purpose": "operational", "case_reference": "OPS/2026/3"},
        headers=looks.auth(Role.SUPERVISOR, "sue"),
    )
    assert exported.status_code == 200
    assert "1ABC234" in exported.text
    [event] = await looks.audit("export")
    assert (event.purpose, event.case_reference, list(event.recipients)) == (
        "operational",
        "OPS/2026/3",
        ["sue"],
    )
    assert list(event.record_ids) == [looks.entry_id]
    assert json.loads(event.query) == {"what": "hotlist", "list_name": "*", "count": 1}


# --- another zone's token --------------------------------------------------------------------------


def calls(looks: Looks) -> dict[tuple[str, str], dict[str, Any]]:
    """Every route of match under /v1, as (method, path template): a real request to make of it."""
    entry, hit = looks.entry_id, looks.hit_id
    body = {"plate": "2XYZ789", "list_name": "stolen", "reason": "r", "case_reference": "PV/2"}
    rules = {"name": "stolen", "category": "stolen_vehicle"}
    return {
        ("GET", "/v1/hits"): {"url": "/v1/hits"},
        ("GET", "/v1/hits/{hit_id}"): {"url": f"/v1/hits/{hit}"},
        ("GET", "/v1/hits/stream"): {"url": "/v1/hits/stream", "params": {"limit": 1}},
        ("GET", "/v1/hits/false-alarm-rates"): {"url": "/v1/hits/false-alarm-rates"},
        ("POST", "/v1/hits/{hit_id}/ack"): {"url": f"/v1/hits/{hit}/ack", "json": {"outcome": "confirmed"}},
        ("GET", "/v1/hotlist"): {"url": "/v1/hotlist"},
        ("GET", "/v1/hotlist/{entry_id}"): {"url": f"/v1/hotlist/{entry}"},
        ("GET", "/v1/hotlist/export"): {
            "url": "/v1/hotlist/export",
            "params": {"purpose": "judicial", "case_reference": "PV/3"},
        },
        ("POST", "/v1/hotlist"): {"url": "/v1/hotlist", "json": body},
        ("PATCH", "/v1/hotlist/{entry_id}"): {"url": f"/v1/hotlist/{entry}", "json": {"priority": 9}},
        ("POST", "/v1/hotlist/{entry_id}/expire"): {
            "url": f"/v1/hotlist/{entry}/expire",
            "json": {"reason": "x"},
        },
        ("POST", "/v1/hotlist/import"): {
            "url": "/v1/hotlist/import",
            "content": "plate,list_name,reason,case_reference\n3KLM456,stolen,r,PV/4\n",
            "headers": {"Content-Type": "text/csv"},
        },
        ("GET", "/v1/lists"): {"url": "/v1/lists"},
        ("GET", "/v1/lists/{name}"): {"url": "/v1/lists/stolen"},
        ("POST", "/v1/lists"): {"url": "/v1/lists", "json": {**rules, "name": "other"}},
        ("PUT", "/v1/lists/{name}"): {"url": "/v1/lists/stolen", "json": rules},
    }


async def test_a_token_of_another_zone_gets_a_403_on_every_data_endpoint_and_is_audited(looks: Looks) -> None:
    routes = {
        (method.upper(), path)
        for path, operations in looks.match.app.openapi()["paths"].items()
        if path.startswith("/v1/")
        for method in operations
    }
    table = calls(looks)
    assert set(table) == routes, "every data endpoint is tried"
    # A supervisor may do all of these in their own zone: what refuses them here is the zone.
    neighbour = looks.auth(Role.SUPERVISOR, "nina", NEIGHBOUR)
    for (method, _template), call in table.items():
        headers = {**neighbour, **call.pop("headers", {})}
        response = await looks.client.request(method, headers=headers, **call)
        assert response.status_code == 403, (method, call["url"], response.text)
        assert response.headers["content-type"] == PROBLEM_JSON
        problem = response.json()
        assert NEIGHBOUR in problem["detail"] and ZONE in problem["detail"]
        assert set(problem) == {"type", "title", "status", "detail", "instance"}, "nothing but the refusal"
    refusals = await looks.audit()
    assert len(refusals) == len(table), "one audit record a refused call, nothing else"
    assert all(e.outcome == "refused" and who(e) == ("nina", "supervisor", NEIGHBOUR) for e in refusals)
    assert sorted(json.loads(e.query)["path"] for e in refusals) == sorted(
        call["url"] for call in table.values()
    )
    # Nothing of ours changed for it.
    unchanged = await looks.client.get(f"/v1/hotlist/{looks.entry_id}", headers=looks.auth())
    assert unchanged.json()["priority"] == 1 and unchanged.json()["valid_until"] is None
    assert len(await _stored_hits(looks.match)) == 1
