"""A neighbour zone's shared hotlists in match (as share takes them in on anpr.shared.hotlist.v1):
lists owned by that zone, which no one here changes; hits on their entries say whose list it is;
they end when the neighbour withdraws them or the sharing ends; what is not theirs is refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from anpr.v1 import audit_pb2, dlq_pb2, hit_pb2, hotlist_pb2, read_pb2, share_pb2
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine
from anpr_core.events import Topics, new_meta, to_timestamp
from anpr_core.migrations import upgrade
from anpr_core.testing import eventually
from anpr_match.adapters.migrations import HISTORY
from anpr_match.adapters.tables import hits, hotlists
from anpr_match.bootstrap import build_app
from anpr_match.settings import MatchSettings

pytestmark = pytest.mark.usefixtures("no_anpr_environment")

TOPICS = Topics()
PROBLEM_JSON = "application/problem+json"
LISTED = "zone-5388.stolen"


@dataclass
class Match:
    client: httpx.AsyncClient
    bus: MemoryBus
    issuer: DevIssuer

    def auth(self, role: Role = Role.SUPERVISOR) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue('sue', role)}"}

    async def shared(self, value: bytes, *, kind: bytes = b"", zone: str = "5388") -> None:
        headers = (("schild-kind", kind),) if kind else ()
        await self.bus.publish(TOPICS.shared_hotlist, f"zone:{zone}".encode(), value, headers)

    async def topic(self, name: str) -> list[Any]:
        return [record async for batch in self.bus.replay(name, 0) for record in batch]

    async def entry(self, entry_id: str) -> dict[str, Any]:
        found: dict[str, Any] = {}

        async def indexed() -> bool:
            answer = await self.client.get(f"/v1/hotlist/{entry_id}", headers=self.auth(Role.OPERATOR))
            found.update(answer.json() if answer.status_code == 200 else {})
            return bool(found.get("indexed"))

        await eventually(indexed)
        return found


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


def shared_entry(entry_id: str = "", zone: str = "5388", **fields: Any) -> hotlist_pb2.HotlistEntry:
    entry = hotlist_pb2.HotlistEntry(
        meta=new_meta(zone, "share"),
        entry_id=entry_id or new_meta(zone, "match").event_id,
        plate="1ABC234",
        list_name="stolen",
        category="stolen_vehicle",
        priority=1,
        action="stop and check",
        valid_from=to_timestamp(datetime.now(UTC) - timedelta(hours=1)),
        source_zone=zone,
    )
    for name, value in fields.items():
        setattr(entry, name, value)
    return entry


def read_of(plate: str) -> bytes:
    read = read_pb2.PlateRead(
        meta=new_meta("5344", "detect"),
        camera_id="cam-1",
        captured_at=to_timestamp(datetime.now(UTC)),
        plate=plate,
        confidence=0.95,
    )
    return read.SerializeToString()


async def test_a_neighbours_entry_is_a_list_of_its_own_that_hits_say_is_theirs(match: Match) -> None:
    rules = hotlist_pb2.HotlistRules(
        meta=new_meta("5388", "share"),
        list_name="stolen",
        category="stolen_vehicle",
        max_substitutions=0,
        owner_zone="5388",
    )
    await match.shared(rules.SerializeToString(), kind=b"list")
    entry = shared_entry()
    await match.shared(entry.SerializeToString())
    held = await match.entry(entry.entry_id)
    assert held["list_name"] == LISTED and held["source_zone"] == "5388"

    lists = (await match.client.get("/v1/lists", headers=match.auth())).json()
    (listed,) = [rules for rules in lists if rules["name"] == LISTED]
    assert listed["owner_zone"] == "5388" and listed["max_substitutions"] == 0

    await match.bus.publish(TOPICS.reads, b"cam-1", read_of("1ABC234"))

    async def hit() -> bool:
        return bool((await match.client.get("/v1/hits", headers=match.auth(Role.OPERATOR))).json())

    await eventually(hit)
    (row,) = (await match.client.get("/v1/hits", headers=match.auth(Role.OPERATOR))).json()
    assert row["source_zone"] == "5388" and row["list_name"] == LISTED
    (record,) = await match.topic(TOPICS.hits)
    published = hit_pb2.Hit()
    published.ParseFromString(record.value)
    assert published.source_zone == "5388"

    audited = []
    for record in await match.topic(TOPICS.audit):
        event = audit_pb2.AuditEvent()
        event.ParseFromString(record.value)
        audited.append(event)
    taken = [e for e in audited if e.action == "hotlist_change" and "neighbour_change" in e.query]
    assert entry.entry_id in [i for e in taken for i in e.record_ids]


async def test_no_one_here_changes_a_neighbours_list_or_entries(match: Match) -> None:
    entry = shared_entry()
    await match.shared(entry.SerializeToString())
    await match.entry(entry.entry_id)
    changed = await match.client.put(
        f"/v1/lists/{LISTED}", json={"name": LISTED, "category": "stolen_vehicle"}, headers=match.auth()
    )
    added = await match.client.post(
        "/v1/hotlist",
        json={"plate": "9XYZ999", "list_name": LISTED, "reason": "x", "case_reference": "PV-1"},
        headers=match.auth(),
    )
    patched = await match.client.patch(
        f"/v1/hotlist/{entry.entry_id}", json={"priority": 9, "reason": "x"}, headers=match.auth()
    )
    expired = await match.client.post(
        f"/v1/hotlist/{entry.entry_id}/expire", json={"reason": "x"}, headers=match.auth()
    )
    for answer in (changed, added, patched, expired):
        assert answer.status_code == 409, answer.text
        assert answer.headers["content-type"] == PROBLEM_JSON
        assert "zone 5388" in answer.json()["detail"]
    imported = await match.client.post(
        "/v1/hotlist/import",
        content=f"plate,list_name,reason,case_reference\n9XYZ999,{LISTED},x,PV-1\n",
        headers={**match.auth(), "content-type": "text/csv"},
    )
    assert imported.status_code == 422
    named = await match.client.post(
        "/v1/lists", json={"name": "zone-9999.x", "category": "stolen_vehicle"}, headers=match.auth()
    )
    assert named.status_code == 422 and "neighbour zones" in named.json()["detail"]


async def test_a_neighbours_entries_end_when_it_withdraws_them_or_its_sharing_ends(match: Match) -> None:
    kept, withdrawn = shared_entry(), shared_entry()
    other = shared_entry(zone="5390")
    for entry in (kept, withdrawn, other):
        await match.shared(entry.SerializeToString(), zone=entry.source_zone)
    for entry in (kept, withdrawn, other):
        await match.entry(entry.entry_id)
    gone = shared_entry(withdrawn.entry_id, deleted=True)
    await match.shared(gone.SerializeToString())

    async def withdrawn_here() -> bool:
        answer = await match.client.get(
            f"/v1/hotlist/{withdrawn.entry_id}", headers=match.auth(Role.OPERATOR)
        )
        return answer.json()["indexed"] is False

    await eventually(withdrawn_here)
    listed = await match.client.get("/v1/hotlist", headers=match.auth(Role.OPERATOR))
    assert withdrawn.entry_id not in [e["entry_id"] for e in listed.json()]
    ended_at = datetime.now(UTC)
    ended = share_pb2.SharingEnded(
        meta=new_meta("5344", "share"), zone_id="5388", ended_at=to_timestamp(ended_at)
    )
    await match.shared(ended.SerializeToString(), kind=b"sharing-ended")

    async def ended_here() -> bool:
        answer = await match.client.get(f"/v1/hotlist/{kept.entry_id}", headers=match.auth(Role.OPERATOR))
        return answer.json()["valid_until"] is not None

    await eventually(ended_here)
    answer = await match.client.get(f"/v1/hotlist/{kept.entry_id}", headers=match.auth(Role.OPERATOR))
    assert abs(datetime.fromisoformat(answer.json()["valid_until"]) - ended_at) < timedelta(milliseconds=1)
    untouched = await match.client.get(f"/v1/hotlist/{other.entry_id}", headers=match.auth(Role.OPERATOR))
    assert untouched.json()["valid_until"] is None, "another neighbour's sharing goes on"


async def test_what_is_not_the_neighbours_goes_to_the_dlq_and_the_rest_is_taken(match: Match) -> None:
    own = await match.client.post(
        "/v1/lists", json={"name": "stolen", "category": "stolen_vehicle"}, headers=match.auth()
    )
    assert own.status_code == 201
    created = await match.client.post(
        "/v1/hotlist",
        json={"plate": "5JKL678", "list_name": "stolen", "reason": "x", "case_reference": "PV-1"},
        headers=match.auth(),
    )
    ours = created.json()["entry_id"]
    # A neighbour's record claiming this zone's entry, one without a zone, then a good one.
    await match.shared(shared_entry(ours).SerializeToString())
    await match.shared(shared_entry(zone="").SerializeToString(), zone="")
    good = shared_entry()
    await match.shared(good.SerializeToString())
    await match.entry(good.entry_id)

    async def two_letters() -> bool:
        return len(await match.topic(TOPICS.dlq)) == 2

    await eventually(two_letters)
    reasons = []
    for record in await match.topic(TOPICS.dlq):
        letter = dlq_pb2.DeadLetter()
        letter.ParseFromString(record.value)
        reasons.append(letter.reason)
    # (Different keys, so partitions: in no particular order.)
    assert sorted(reasons) == [
        "PoisonMessage: shared hotlist record refused: a shared record names zone (none), not a neighbour",
        f"PoisonMessage: shared hotlist record refused: entry {ours} here is not zone 5388's",
    ]
    mine = await match.client.get(f"/v1/hotlist/{ours}", headers=match.auth(Role.OPERATOR))
    assert mine.json()["plate"] == "5JKL678" and mine.json()["source_zone"] == "5344"


async def test_tables_of_an_earlier_version_get_the_sharing_columns(tmp_path: Path) -> None:
    engine = make_engine(None, "match", tmp_path)
    try:
        # The previous release's tables (revision 0001), with a list and a hit, then the upgrade.
        assert await upgrade(engine, HISTORY, "0001") == (None, "0001")
        now = datetime.now(UTC)
        async with engine.begin() as conn:  # the columns of 0001 only: no owner_zone, no source_zone
            await conn.execute(
                hotlists.insert(),
                {
                    "name": "stolen",
                    "category": "stolen",
                    "max_substitutions": 1,
                    "allow_edit": True,
                    "directions": "both",
                    "timezone": "Europe/Brussels",
                    "camera_ids": "",
                    "description": "",
                    "created_by": "alice",
                    "created_at": now,
                    "updated_at": now,
                },
            )
            await conn.execute(
                hits.insert(),
                {
                    "hit_id": "h1",
                    "read_event_id": "r1",
                    "entry_id": "e1",
                    "camera_id": "cam-1",
                    "captured_at": now,
                    "plate_read": "1ABC234",
                    "plate_listed": "1ABC234",
                    "match_kind": "exact",
                    "differing_positions": "",
                    "score": 1.0,
                    "list_name": "stolen",
                    "category": "stolen",
                    "priority": 1,
                    "action": "stop",
                    "direction": "in",
                    "from_lookback": False,
                    "created_at": now,
                },
            )
        assert await upgrade(engine, HISTORY) == ("0001", HISTORY.head)
        assert await upgrade(engine, HISTORY) == (HISTORY.head, HISTORY.head)
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT source_zone FROM hits"))).all() == [("",)]
            assert (await conn.execute(text("SELECT name, owner_zone FROM hotlists"))).all() == [
                ("stolen", "")
            ]
    finally:
        await engine.dispose()
