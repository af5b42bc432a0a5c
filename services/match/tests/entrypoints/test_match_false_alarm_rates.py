"""The false-alarm rate as a REST figure: operators' verdicts counted per list and per camera over a
period, for those who follow hits; counts only, the look audited; the same rate as the metric."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from anpr.v1 import audit_pb2, read_pb2
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine
from anpr_core.events import Topics, new_meta, to_timestamp
from anpr_core.testing import eventually, read_topic
from anpr_match.bootstrap import build_app
from anpr_match.settings import MatchSettings

TOPICS = Topics()
PROBLEM_JSON = "application/problem+json"
RATES = "/v1/hits/false-alarm-rates"

pytestmark = pytest.mark.usefixtures("no_anpr_environment")


@dataclass
class Match:
    client: httpx.AsyncClient
    bus: MemoryBus
    issuer: DevIssuer

    def auth(self, role: Role = Role.OPERATOR, subject: str = "oscar") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue(subject, role)}"}

    async def listed(self, list_name: str, plate: str) -> None:
        supervisor = self.auth(Role.SUPERVISOR, "sue")
        made = await self.client.post(
            "/v1/lists", json={"name": list_name, "category": "stolen_vehicle"}, headers=supervisor
        )
        assert made.status_code == 201, made.text
        body = {"plate": plate, "list_name": list_name, "reason": "wanted", "case_reference": "PV/1"}
        entry = await self.client.post("/v1/hotlist", json=body, headers=supervisor)
        assert entry.status_code == 201, entry.text

        async def indexed() -> bool:
            answer = await self.client.get(f"/v1/hotlist/{entry.json()['entry_id']}", headers=supervisor)
            return bool(answer.json()["indexed"])

        await eventually(indexed)

    async def hit(self, plate: str, camera: str) -> str:
        read = read_pb2.PlateRead(
            meta=new_meta("5344", "detect"),
            camera_id=camera,
            captured_at=to_timestamp(datetime.now(UTC)),
            plate=plate,
            confidence=0.9,
        )
        await self.bus.publish(TOPICS.reads, camera.encode(), read.SerializeToString())

        async def raised() -> bool:
            return any(h["read_event_id"] == read.meta.event_id for h in await self.hits())

        await eventually(raised)
        (hit_id,) = [h["hit_id"] for h in await self.hits() if h["read_event_id"] == read.meta.event_id]
        return str(hit_id)

    async def hits(self) -> list[dict[str, Any]]:
        answer = await self.client.get("/v1/hits", params={"limit": 500}, headers=self.auth())
        found: list[dict[str, Any]] = answer.json()
        return found

    async def ack(self, hit_id: str, outcome: str) -> None:
        answer = await self.client.post(
            f"/v1/hits/{hit_id}/ack",
            json={"outcome": outcome, "reason": "seen on camera"},
            headers=self.auth(),
        )
        assert answer.status_code == 200, answer.text

    async def rates(
        self, role: Role = Role.OPERATOR, subject: str = "oscar", **params: str
    ) -> httpx.Response:
        return await self.client.get(RATES, params=params, headers=self.auth(role, subject))


@pytest.fixture
async def match(tmp_path: Path) -> AsyncIterator[Match]:
    bus = MemoryBus()
    issuer = DevIssuer(tmp_path / "key.pem")
    app = build_app(MatchSettings(data_dir=tmp_path), bus, make_engine(None, "match", tmp_path), issuer)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield Match(client, bus, issuer)


def counts(row: dict[str, Any]) -> tuple[Any, ...]:
    keys = ("hits", "acknowledged", "confirmed", "false_alarms", "not_seen", "false_alarm_rate")
    return tuple(row[key] for key in keys)


async def test_verdicts_are_counted_per_list_and_per_camera_with_the_rate_of_the_metric(match: Match) -> None:
    await match.listed("stolen", "1ABC234")
    await match.listed("watch", "2XYZ987")
    await match.ack(await match.hit("1ABC234", "cam-1"), "false_alarm")
    await match.ack(await match.hit("1ABC234", "cam-2"), "confirmed")
    await match.ack(await match.hit("2XYZ987", "cam-1"), "not_seen")
    await match.hit("2XYZ987", "cam-2")  # not acknowledged yet
    await match.listed("local", "3LOC333")
    await match.hit("3LOC333", "cam-3")  # a list and a camera with no verdict yet

    answer = await match.rates(since=(datetime.now(UTC) - timedelta(hours=1)).isoformat())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert {row["list_name"]: counts(row) for row in body["lists"]} == {
        "stolen": (2, 2, 1, 1, 0, 0.5),
        "watch": (2, 1, 0, 0, 1, 0.0),
        # No verdict yet: no rate, rather than a rate of 0.
        "local": (1, 0, 0, 0, 0, None),
    }
    assert {row["camera_id"]: counts(row) for row in body["cameras"]} == {
        "cam-1": (2, 2, 0, 1, 1, 0.5),
        "cam-2": (2, 1, 1, 0, 0, 0.0),
        "cam-3": (1, 0, 0, 0, 0, None),
    }
    # Counts only: not a plate, not a hit in the answer.
    assert "1ABC234" not in answer.text
    assert "2XYZ987" not in answer.text
    # The same rate as the Prometheus gauge, per list and camera.
    metrics = (await match.client.get("/metrics")).text
    assert 'anpr_hit_false_alarm_ratio{camera="cam-1",list_name="stolen"} 1.0' in metrics
    # The period: by default the last 30 days up to now; hits outside it are not counted.
    default = (await match.rates()).json()
    assert {row["list_name"] for row in default["lists"]} == {"stolen", "watch", "local"}
    since = datetime.fromisoformat(default["since"])
    assert datetime.fromisoformat(default["until"]) - since == timedelta(days=30)
    soon = datetime.now(UTC) + timedelta(minutes=1)
    later = await match.rates(since=soon.isoformat(), until=(soon + timedelta(hours=1)).isoformat())
    assert (later.json()["lists"], later.json()["cameras"]) == ([], [])


async def test_those_who_follow_hits_see_the_rates_their_look_audited(match: Match) -> None:
    for role in (Role.OPERATOR, Role.INVESTIGATOR, Role.SUPERVISOR):
        assert (await match.rates(role, f"who-{role.value}")).status_code == 200
    for role in (Role.DPO, Role.AUDITOR, Role.ADMIN):
        refused = await match.rates(role, f"who-{role.value}")
        assert (refused.status_code, refused.headers["content-type"]) == (403, PROBLEM_JSON)
    events = [audit_pb2.AuditEvent.FromString(r.value) for r in await read_topic(match.bus, TOPICS.audit)]
    looks = sorted((e.actor.user_id, e.action, e.outcome, e.purpose) for e in events)
    assert looks == [
        ("who-admin", "view_hits", "refused", ""),
        ("who-auditor", "view_hits", "refused", ""),
        ("who-dpo", "view_hits", "refused", ""),
        ("who-investigator", "view_stats", "allowed", "operational"),
        ("who-operator", "view_stats", "allowed", "operational"),
        ("who-supervisor", "view_stats", "allowed", "operational"),
    ]
    allowed = next(e for e in events if e.actor.user_id == "who-operator")
    assert json.loads(allowed.query)["view"] == "false_alarm_rates"
    assert list(allowed.record_ids) == []


async def test_a_period_without_offset_or_empty_is_refused_as_problem_json(match: Match) -> None:
    naive = await match.rates(since=datetime.now(UTC).replace(tzinfo=None).isoformat())
    assert (naive.status_code, naive.headers["content-type"]) == (422, PROBLEM_JSON)
    assert "timezone offset" in naive.json()["detail"]
    now = datetime.now(UTC)
    empty = await match.rates(since=now.isoformat(), until=(now - timedelta(hours=1)).isoformat())
    assert (empty.status_code, empty.headers["content-type"]) == (422, PROBLEM_JSON)
    assert "empty" in empty.json()["detail"]
