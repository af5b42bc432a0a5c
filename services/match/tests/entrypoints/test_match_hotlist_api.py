"""Lists with rules, fuzzy hits an operator can act on, look-back, dedup, acks, SSE, CSV import/export."""

from __future__ import annotations

import asyncio
import gc
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from anpr.v1 import audit_pb2, common_pb2, read_pb2
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import BusUnavailable, MemoryBus, OutgoingRecord, Record
from anpr_core.db import make_engine
from anpr_core.events import Topics, new_meta, to_timestamp
from anpr_core.outbox import OutboxRelay
from anpr_core.testing import eventually, read_topic
from anpr_match.adapters.codecs import INDEXED_BY_HEADER
from anpr_match.bootstrap import build_service
from anpr_match.settings import MatchSettings

TOPICS = Topics()
PROBLEM_JSON = "application/problem+json"
HEADER = "plate,country,list_name,category,priority,action,valid_from,valid_until,reason,case_reference\n"


pytestmark = pytest.mark.usefixtures("no_anpr_environment")


async def entries_on(bus: MemoryBus) -> list[Record]:
    """The hotlist topic's entry records, not its lists' rules."""
    return [r for r in await read_topic(bus, TOPICS.hotlist) if not (r.key or b"").startswith(b"list:")]


@dataclass
class Service:
    client: httpx.AsyncClient
    bus: MemoryBus
    issuer: DevIssuer
    relay: OutboxRelay

    def auth(self, role: Role = Role.SUPERVISOR, subject: str = "sue") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue(subject, role)}"}

    async def new_list(self, name: str = "stolen", **rules: Any) -> dict[str, Any]:
        response = await self.client.post(
            "/v1/lists", json={"name": name, "category": "stolen_vehicle", **rules}, headers=self.auth()
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def new_entry(self, plate: str = "1ABC234", list_name: str = "stolen", **fields: Any) -> str:
        body = {
            "plate": plate,
            "list_name": list_name,
            "reason": "stolen",
            "case_reference": "PV/9",
            **fields,
        }
        response = await self.client.post("/v1/hotlist", json=body, headers=self.auth())
        assert response.status_code == 201, response.text
        entry_id: str = response.json()["entry_id"]
        await eventually(lambda: self._indexed(entry_id))
        return entry_id

    async def _indexed(self, entry_id: str) -> bool:
        response = await self.client.get(f"/v1/hotlist/{entry_id}", headers=self.auth())
        return bool(response.json()["indexed"])

    async def read(self, plate: str, camera: str = "cam-1", **fields: Any) -> read_pb2.PlateRead:
        read = read_pb2.PlateRead(
            meta=new_meta("5344", "detect"),
            camera_id=camera,
            captured_at=to_timestamp(fields.pop("captured_at", datetime.now(UTC))),
            plate=plate,
            confidence=0.9,
            **fields,
        )
        await self.bus.publish(TOPICS.reads, camera.encode(), read.SerializeToString())
        return read

    async def idle(self) -> None:
        async def nothing_pending() -> bool:
            return self.bus.pending() == 0

        await eventually(nothing_pending)

    async def hits(self, **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get("/v1/hits", params=params, headers=self.auth(Role.OPERATOR, "oscar"))
        assert response.status_code == 200, response.text
        result: list[dict[str, Any]] = response.json()
        return result

    async def audit(self, action: str) -> list[audit_pb2.AuditEvent]:
        await self.relay.drain()  # a change's audit record is published with it, by the outbox relay
        events = [audit_pb2.AuditEvent.FromString(r.value) for r in await read_topic(self.bus, TOPICS.audit)]
        return [e for e in events if e.action == action]


class BrokerAway(MemoryBus):
    """The in-process bus, which can be made to refuse every record, as a broker that is away."""

    away = False

    async def publish_many(self, records: Sequence[OutgoingRecord]) -> None:
        if self.away:
            raise BusUnavailable("the broker is away")
        await super().publish_many(records)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[Service]:
    bus = BrokerAway()
    issuer = DevIssuer(tmp_path / "key.pem")
    match = build_service(
        MatchSettings(data_dir=tmp_path, duplicate_window_s=60, lookback_hours=1, lookback_interval_s=0.02),
        bus,
        make_engine(None, "match", tmp_path),
        issuer,
    )
    app = match.app
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield Service(client, bus, issuer, match.relay)


async def test_an_entry_made_while_the_broker_is_away_is_kept_and_announced_once_it_is_back(
    service: Service,
) -> None:
    await service.new_list()
    assert isinstance(service.bus, BrokerAway)
    service.bus.away = True
    body = {"plate": "1ABC234", "list_name": "stolen", "reason": "stolen", "case_reference": "PV/9"}
    made = await service.client.post("/v1/hotlist", json=body, headers=service.auth())
    assert made.status_code == 201, made.text
    assert made.json()["indexed"] is False
    with pytest.raises(BusUnavailable):
        await service.relay.drain()
    service.bus.away = False
    entry_id = made.json()["entry_id"]
    await eventually(lambda: service._indexed(entry_id))
    assert [r.key for r in await entries_on(service.bus)] == [entry_id.encode()]
    created = [a for a in await service.audit("hotlist_change") if json.loads(a.query)["op"] == "create"]
    assert [list(a.record_ids) for a in created] == [[entry_id]], "audited once, with the change"


async def test_an_entry_for_a_list_that_does_not_exist_is_refused(service: Service) -> None:
    response = await service.client.post(
        "/v1/hotlist",
        json={"plate": "1ABC234", "list_name": "nowhere", "reason": "r", "case_reference": "PV/1"},
        headers=service.auth(),
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    assert "POST /v1/lists" in response.json()["detail"]
    assert await read_topic(service.bus, TOPICS.hotlist) == []


async def test_lists_are_a_resource_with_rules(service: Service) -> None:
    made = await service.new_list(
        "night-watch",
        max_substitutions=2,
        allow_edit=True,
        directions=["in"],
        active_from="22:00",
        active_until="06:00",
        camera_ids=["cam-9"],
    )
    assert made["directions"] == ["in"] and made["camera_ids"] == ["cam-9"]
    again = await service.client.post(
        "/v1/lists", json={"name": "night-watch", "category": "seized"}, headers=service.auth()
    )
    assert again.status_code == 409
    half_window = await service.client.post(
        "/v1/lists",
        json={"name": "odd", "category": "seized", "active_from": "08:00"},
        headers=service.auth(),
    )
    assert half_window.status_code == 422
    assert half_window.headers["content-type"] == PROBLEM_JSON
    bad_name = await service.client.post(
        "/v1/lists", json={"name": "Bad Name", "category": "seized"}, headers=service.auth()
    )
    assert bad_name.status_code == 422
    listed = await service.client.get("/v1/lists", headers=service.auth(Role.OPERATOR))
    assert [item["name"] for item in listed.json()] == ["night-watch"]
    changed = await service.client.put(
        "/v1/lists/night-watch", json={**made, "max_substitutions": 0}, headers=service.auth()
    )
    assert changed.status_code == 200 and changed.json()["max_substitutions"] == 0
    changes = [json.loads(e.query)["op"] for e in await service.audit("hotlist_change")]
    assert changes == ["create_list", "change_list"]


async def test_a_confusable_read_raises_one_hit_that_says_how_it_matched(service: Service) -> None:
    await service.new_list()
    entry_id = await service.new_entry("1ABC234", priority=7, action="stop and check")
    first = await service.read("1A8C234", direction=common_pb2.DIRECTION_IN)
    await service.read("1A8C234")  # the next frame of the same passage
    await service.read("9XYZ999")
    await service.idle()
    [hit] = await service.hits()
    assert hit["entry_id"] == entry_id
    assert hit["read_event_id"] == first.meta.event_id
    assert (hit["match_kind"], hit["differing_positions"]) == ("confusable", [2])
    assert (hit["plate_read"], hit["plate_listed"], hit["direction"]) == ("1A8C234", "1ABC234", "in")
    assert hit["score"] == pytest.approx(0.81, abs=1e-3)
    assert (hit["priority"], hit["action"], hit["from_lookback"]) == (7, "stop and check", False)
    metrics = (await service.client.get("/metrics")).text
    assert 'anpr_hits_suppressed_total{list_name="stolen"}' in metrics


async def test_a_list_limited_to_cameras_ignores_the_others(service: Service) -> None:
    await service.new_list("gate", camera_ids=["cam-2"])
    await service.new_entry("1ABC234", list_name="gate")
    await service.read("1ABC234", camera="cam-1")
    await service.read("1ABC234", camera="cam-2")
    await service.idle()
    assert [h["camera_id"] for h in await service.hits()] == ["cam-2"]


async def test_a_new_entry_finds_the_car_that_passed_just_before(service: Service) -> None:
    await service.new_list()
    earlier = await service.read("1ABC234", captured_at=datetime.now(UTC) - timedelta(minutes=10))
    old = await service.read("1ABC234", camera="cam-7", captured_at=datetime.now(UTC) - timedelta(hours=3))
    await service.idle()
    assert await service.hits() == []
    entry_id = await service.new_entry("1ABC234")

    async def found() -> bool:
        return len(await service.hits()) > 0

    await eventually(found)
    [hit] = await service.hits()
    assert (hit["entry_id"], hit["read_event_id"], hit["from_lookback"]) == (
        entry_id,
        earlier.meta.event_id,
        True,
    )
    assert old.meta.event_id != hit["read_event_id"], "reads older than the look-back are left alone"


async def test_an_operator_acknowledges_a_hit_and_the_false_alarm_rate_follows(service: Service) -> None:
    await service.new_list()
    await service.new_entry("1ABC234")
    await service.read("1ABC234", camera="cam-1")
    await service.read("1ABC234", camera="cam-2")
    await service.idle()
    first, second = await service.hits()
    operator = service.auth(Role.OPERATOR, "oscar")
    no_reason = await service.client.post(
        f"/v1/hits/{first['hit_id']}/ack", json={"outcome": "false_alarm"}, headers=operator
    )
    assert no_reason.status_code == 422
    assert no_reason.headers["content-type"] == PROBLEM_JSON
    refused = await service.client.post(
        f"/v1/hits/{first['hit_id']}/ack",
        json={"outcome": "confirmed"},
        headers=service.auth(Role.INVESTIGATOR),
    )
    assert refused.status_code == 403
    acked = await service.client.post(
        f"/v1/hits/{first['hit_id']}/ack",
        json={"outcome": "false_alarm", "reason": "8 read for B, other car"},
        headers=operator,
    )
    assert acked.status_code == 200, acked.text
    assert (acked.json()["ack_outcome"], acked.json()["ack_by"]) == ("false_alarm", "oscar")
    twice = await service.client.post(
        f"/v1/hits/{first['hit_id']}/ack", json={"outcome": "confirmed"}, headers=operator
    )
    assert twice.status_code == 409
    confirmed = await service.client.post(
        f"/v1/hits/{second['hit_id']}/ack", json={"outcome": "confirmed"}, headers=operator
    )
    assert confirmed.status_code == 200
    assert [h["hit_id"] for h in await service.hits(unacknowledged=True)] == []
    [audit] = [a for a in await service.audit("hit_ack") if a.record_ids[0] == first["hit_id"]]
    assert json.loads(audit.query)["outcome"] == "false_alarm"
    assert audit.actor.user_id == "oscar"
    metrics = (await service.client.get("/metrics")).text
    assert f'anpr_hit_false_alarm_ratio{{camera="{first["camera_id"]}",list_name="stolen"}} 1.0' in metrics
    assert f'anpr_hit_false_alarm_ratio{{camera="{second["camera_id"]}",list_name="stolen"}} 0.0' in metrics


async def test_hits_stream_live_as_server_sent_events(service: Service) -> None:
    await service.new_list()
    entry_id = await service.new_entry("1ABC234")
    received: list[dict[str, Any]] = []

    async def listen() -> None:
        async with service.client.stream(
            "GET", "/v1/hits/stream", params={"limit": 1}, headers=service.auth(Role.OPERATOR)
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["cache-control"] == "no-cache"
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    received.append(json.loads(line.removeprefix("data: ")))

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.2)
    read = await service.read("1ABC234")
    await asyncio.wait_for(listener, timeout=5)
    assert [(h["entry_id"], h["read_event_id"], h["match_kind"]) for h in received] == [
        (entry_id, read.meta.event_id, "exact")
    ]


async def test_an_entry_is_updated_and_expired_and_both_are_audited(service: Service) -> None:
    await service.new_list()
    entry_id = await service.new_entry("1ABC234")
    changed = await service.client.patch(
        f"/v1/hotlist/{entry_id}", json={"priority": 9}, headers=service.auth()
    )
    assert changed.status_code == 200 and changed.json()["priority"] == 9
    empty = await service.client.patch(f"/v1/hotlist/{entry_id}", json={}, headers=service.auth())
    assert empty.status_code == 422
    backwards = await service.client.patch(
        f"/v1/hotlist/{entry_id}", json={"valid_until": "2000-01-01T00:00:00Z"}, headers=service.auth()
    )
    assert backwards.status_code == 422
    expired = await service.client.post(
        f"/v1/hotlist/{entry_id}/expire", json={"reason": "car recovered"}, headers=service.auth()
    )
    assert expired.status_code == 200 and expired.json()["valid_until"] is not None
    again = await service.client.post(
        f"/v1/hotlist/{entry_id}/expire", json={"reason": "again"}, headers=service.auth()
    )
    assert again.status_code == 409
    await service.idle()
    await service.read("1ABC234")
    await service.idle()
    assert await service.hits() == []
    ops = [json.loads(a.query)["op"] for a in await service.audit("hotlist_change")]
    assert ops == ["create_list", "create", "update", "expire"]


async def test_a_csv_with_bad_lines_imports_nothing_and_names_every_line(service: Service) -> None:
    await service.new_list()
    text = HEADER + "1ABC234,,stolen,,,,,,r,PV/1\nA,,stolen,,,,,,r,PV/1\n1ABC235,,gone,,,,,,r,PV/1\n"
    response = await service.client.post(
        "/v1/hotlist/import", content=text, headers={**service.auth(), "Content-Type": "text/csv"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    problem = response.json()
    assert [e["line"] for e in problem["errors"]] == [3, 4]
    assert "nothing was imported" in problem["detail"]
    assert gc.isenabled() and gc.get_freeze_count() == 0
    listed = await service.client.get("/v1/hotlist", headers=service.auth())
    assert listed.json() == []
    assert await entries_on(service.bus) == []


async def test_a_csv_with_a_bare_line_break_in_a_field_is_a_422_naming_its_line(service: Service) -> None:
    await service.new_list()
    text = HEADER + "1ABC234,,stolen,,,,,,r,PV/1\n1AB\rC235,,stolen,,,,,,r,PV/2\n"
    response = await service.client.post(
        "/v1/hotlist/import", content=text, headers={**service.auth(), "Content-Type": "text/csv"}
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    [error] = response.json()["errors"]
    assert error["line"] == 3 and "line break" in error["reason"]
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert (await service.client.get("/v1/hotlist", headers=service.auth())).json() == []
    assert await entries_on(service.bus) == []


async def test_the_stream_and_the_export_document_what_they_answer(service: Service) -> None:
    paths = (await service.client.get("/openapi.json")).json()["paths"]
    assert list(paths["/v1/hits/stream"]["get"]["responses"]["200"]["content"]) == ["text/event-stream"]
    assert list(paths["/v1/hotlist/export"]["get"]["responses"]["200"]["content"]) == ["text/csv"]
    await service.new_list()
    await service.new_entry("1ABC234")
    exported = await service.client.get(
        "/v1/hotlist/export",
        params={"purpose": "judicial", "case_reference": "PV/1"},
        headers=service.auth(),
    )
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")


async def test_a_csv_imports_all_its_entries_which_match_and_export_again(service: Service) -> None:
    await service.new_list()
    lines = "".join(f"1ABC{n:03d},BE,stolen,,2,stop,,,bulk,PV/{n}\n" for n in range(200))
    response = await service.client.post(
        "/v1/hotlist/import", content=HEADER + lines, headers={**service.auth(), "Content-Type": "text/csv"}
    )
    assert response.status_code == 201, response.text
    assert response.json() == {"imported": 200, "lists": ["stolen"]}
    # The import kept the cycle collector off its entries only while it ran.
    assert gc.isenabled() and gc.get_freeze_count() == 0
    await service.read("1A8C042")
    await service.idle()
    [hit] = await service.hits()
    assert (hit["plate_listed"], hit["match_kind"]) == ("1ABC042", "confusable")
    published = await entries_on(service.bus)
    assert len(published) == 200
    why = {"purpose": "judicial", "case_reference": "PV/2026/77", "recipient": "parquet Antwerpen"}
    exported = await service.client.get(
        "/v1/hotlist/export", params={"list_name": "stolen", **why}, headers=service.auth()
    )
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = exported.text.splitlines()
    assert len(rows) == 201
    assert {row.split(",")[1] for row in rows[1:]} == {f"1ABC{n:03d}" for n in range(200)}
    [imported] = [
        json.loads(a.query)
        for a in await service.audit("hotlist_change")
        if json.loads(a.query)["op"] == "import"
    ]
    assert imported["count"] == 200
    [export] = await service.audit("export")
    assert (export.purpose, export.case_reference, list(export.recipients)) == (
        "judicial",
        "PV/2026/77",
        ["parquet Antwerpen"],
    )
    assert (json.loads(export.query)["what"], export.record_count) == ("hotlist", 200)


async def test_an_imported_list_reaches_every_replica_marked_as_indexed_by_the_importer(
    service: Service, tmp_path: Path
) -> None:
    other = build_service(
        MatchSettings(data_dir=tmp_path / "b", lookback_hours=0),
        service.bus,
        make_engine(None, "match", tmp_path / "b"),
        service.issuer,
    )
    async with other.app.router.lifespan_context(other.app):
        await service.new_list()
        lines = "".join(f"2XYZ{n:03d},BE,stolen,,1,stop,,,bulk,PV/{n}\n" for n in range(50))
        csv_headers = {**service.auth(), "Content-Type": "text/csv"}
        response = await service.client.post(
            "/v1/hotlist/import", content=HEADER + lines, headers=csv_headers
        )
        assert response.status_code == 201, response.text
        await service.idle()
        published = await entries_on(service.bus)
        assert len(published) == 50
        # Each record names the replica that already indexed it, so only the others decode it again.
        assert all(any(name == INDEXED_BY_HEADER for name, _ in r.headers) for r in published)
        replica_index = other.pipeline.index
        assert all(r.key is not None and r.key.decode() in replica_index for r in published)
        listed = await service.client.get(
            "/v1/hotlist", params={"list_name": "stolen"}, headers=service.auth()
        )
        assert len(listed.json()) == 50
        assert all(entry["indexed"] for entry in listed.json())


async def test_an_import_whose_rows_cannot_be_stored_publishes_nothing(
    service: Service, tmp_path: Path
) -> None:
    await service.new_list()
    # The database refuses one row, as a full disk or a broken constraint would, mid-import.
    with sqlite3.connect(tmp_path / "match.db") as database:
        database.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON hotlist_entries WHEN NEW.plate = '9FAIL99' "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
    lines = "".join(f"3DEF{n:03d},BE,stolen,,1,stop,,,bulk,PV/{n}\n" for n in range(30))
    csv_headers = {**service.auth(), "Content-Type": "text/csv"}
    refused = await service.client.post(
        "/v1/hotlist/import",
        content=HEADER + lines + "9FAIL99,BE,stolen,,1,stop,,,bulk,PV/X\n",
        headers=csv_headers,
    )
    # Not the request's fault, nor a failure that passes: a server error, as problem+json.
    assert refused.status_code == 500
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert gc.isenabled() and gc.get_freeze_count() == 0
    listed = await service.client.get("/v1/hotlist", headers=service.auth())
    assert listed.json() == []
    # The rows and their events are written in one transaction (the outbox): none of them was
    # staged, so none reaches the topic (they used to be published, then withdrawn).
    assert await service.relay.drain() == 0
    assert await entries_on(service.bus) == []
    await service.read("3DEF007")
    await service.idle()
    assert await service.hits() == []


@pytest.mark.parametrize("field", ["priority", "action", "reason", "case_reference"])
async def test_a_change_to_null_of_a_field_that_cannot_be_empty_is_a_422(
    service: Service, field: str
) -> None:
    await service.new_list()
    entry_id = await service.new_entry("1ABC234")
    before = (await service.client.get(f"/v1/hotlist/{entry_id}", headers=service.auth())).json()
    published = len(await entries_on(service.bus))
    refused = await service.client.patch(
        f"/v1/hotlist/{entry_id}", json={field: None}, headers=service.auth()
    )
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == PROBLEM_JSON
    assert field in refused.json()["detail"]
    after = (await service.client.get(f"/v1/hotlist/{entry_id}", headers=service.auth())).json()
    assert after == before
    assert len(await entries_on(service.bus)) == published
    assert [json.loads(a.query)["op"] for a in await service.audit("hotlist_change")] == [
        "create_list",
        "create",
    ]


async def test_a_change_of_valid_until_to_null_makes_the_entry_end_no_more(service: Service) -> None:
    await service.new_list()
    ends = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    entry_id = await service.new_entry("1ABC234", valid_until=ends)
    changed = await service.client.patch(
        f"/v1/hotlist/{entry_id}", json={"valid_until": None}, headers=service.auth()
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["valid_until"] is None
    [change] = [a for a in await service.audit("hotlist_change") if json.loads(a.query)["op"] == "update"]
    assert json.loads(change.query)["fields"] == ["valid_until"]


# A date and a time with no offset after it.
NAIVE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(?![\d.:]|Z|[+-]\d{2}:?\d{2})")


async def test_every_time_match_answers_with_carries_its_offset(service: Service) -> None:
    made = await service.new_list("night", active_from="22:00", active_until="06:00")
    assert (made["active_from"], made["active_until"]) == ("22:00", "06:00"), "a time of day, not a moment"
    starts = datetime.now(UTC).astimezone(timezone(timedelta(hours=2))) - timedelta(hours=1)
    created = await service.client.post(
        "/v1/hotlist",
        json={
            "plate": "1ABC234",
            "list_name": "night",
            "reason": "stolen",
            "case_reference": "PV/1",
            "valid_from": starts.isoformat(),
            "valid_until": (starts + timedelta(days=2)).isoformat(),
        },
        headers=service.auth(),
    )
    assert created.status_code == 201, created.text
    entry = created.json()
    assert datetime.fromisoformat(entry["valid_from"]) == starts
    assert datetime.fromisoformat(entry["valid_from"]).utcoffset() == timedelta(0), "given in UTC"
    await eventually(lambda: service._indexed(entry["entry_id"]))
    await service.new_list()
    await service.new_entry("2XYZ789")
    await service.read("2XYZ789")
    await service.idle()
    [hit] = await service.hits()
    acked = await service.client.post(
        f"/v1/hits/{hit['hit_id']}/ack", json={"outcome": "confirmed"}, headers=service.auth(Role.OPERATOR)
    )
    assert acked.status_code == 200
    answers = [
        created.text,
        acked.text,
        (await service.client.get("/v1/hits", headers=service.auth(Role.OPERATOR))).text,
        (await service.client.get(f"/v1/hits/{hit['hit_id']}", headers=service.auth(Role.OPERATOR))).text,
        (await service.client.get("/v1/hotlist", headers=service.auth())).text,
        (await service.client.get("/v1/lists", headers=service.auth())).text,
    ]
    assert any("T" in text and ("Z" in text or "+00:00" in text) for text in answers)
    assert [NAIVE_TIME.findall(text) for text in answers] == [[] for _ in answers]


@pytest.mark.parametrize(
    "rules",
    [
        pytest.param(
            {"active_from": "22:00+01:00", "active_until": "06:00+01:00"}, id="time-of-day-with-offset"
        ),
        pytest.param({"active_from": "25:00", "active_until": "06:00"}, id="no-such-hour"),
        pytest.param({"timezone": "Europe/Nowhere"}, id="unknown-timezone"),
        pytest.param({"timezone": "../../etc/passwd"}, id="timezone-as-a-path"),
    ],
)
async def test_a_list_with_an_impossible_time_rule_is_a_422(service: Service, rules: dict[str, Any]) -> None:
    refused = await service.client.post(
        "/v1/lists", json={"name": "odd", "category": "seized", **rules}, headers=service.auth()
    )
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == PROBLEM_JSON


@pytest.mark.parametrize("moment", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:30:00+01:00"])
async def test_a_validity_time_outside_what_utc_can_hold_is_a_422(service: Service, moment: str) -> None:
    await service.new_list()
    body = {"plate": "1ABC234", "list_name": "stolen", "reason": "r", "case_reference": "PV/1"}
    created = await service.client.post(
        "/v1/hotlist", json={**body, "valid_until": moment}, headers=service.auth()
    )
    assert created.status_code == 422, created.text
    assert created.headers["content-type"] == PROBLEM_JSON
    entry_id = await service.new_entry("1ABC234")
    changed = await service.client.patch(
        f"/v1/hotlist/{entry_id}", json={"valid_until": moment}, headers=service.auth()
    )
    assert changed.status_code == 422, changed.text
    text = HEADER + f"1ABC235,,stolen,,,,,{moment},r,PV/1\n"
    imported = await service.client.post(
        "/v1/hotlist/import", content=text, headers={**service.auth(), "Content-Type": "text/csv"}
    )
    assert imported.status_code == 422, imported.text
    assert "9999" in imported.json()["errors"][0]["reason"]


async def test_an_offset_past_what_a_database_can_count_is_refused(service: Service) -> None:
    # Found by the fuzzer: an offset beyond 64 bits overflowed SQLite's driver (a 500).
    answer = await service.client.get("/v1/hotlist", params={"offset": 2**70}, headers=service.auth())
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
