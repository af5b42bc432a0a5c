"""Passages stored and counted: access consumes anpr.passages.v1 beside the reads, links each read to
its passage whichever comes first, searches passages with their reads, counts vehicles (passages)
in its traffic statistics, and keeps or deletes a passage and its reads together (retention, holds,
DPO requests). On SQLite (embedded) and on real PostgreSQL."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
import zipfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr.v1 import audit_pb2, common_pb2, dlq_pb2, passage_pb2, read_pb2
from anpr_access.adapters.codecs import read_record
from anpr_access.adapters.intake import IntakeStore
from anpr_access.adapters.tables import passages, reads
from anpr_access.bootstrap import build_app
from anpr_access.settings import AccessSettings
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine
from anpr_core.events import Topics, new_meta, to_timestamp
from anpr_core.plates import Confusables
from anpr_core.testing import read_topic

pytestmark = pytest.mark.usefixtures("no_anpr_environment")

TOPICS = Topics()
JUSTIFIED = {"purpose": "administrative", "case_reference": "PV/2026/16", "legal_basis": "art. 44/5 WPA"}


def car(
    texts: tuple[str, ...],
    first: datetime,
    camera_id: str = "cam-in",
    direction: common_pb2.Direction.ValueType = common_pb2.DIRECTION_IN,
    camera_read: bool = False,
    spacing_s: float = 0.4,
) -> tuple[list[read_pb2.PlateRead], passage_pb2.Passage]:
    """One car read in consecutive frames (0.4 s apart), and the passage detect makes of them (the
    consensus: the most common reading). Camera-side reads carry no passage id; detect's do."""
    passage_id = f"{camera_id}:{uuid.uuid4()}"
    frames = [
        read_pb2.PlateRead(
            meta=new_meta("5344", "detect"),
            camera_id=camera_id,
            captured_at=to_timestamp(first + timedelta(seconds=spacing_s * n)),
            direction=direction,
            plate=text,
            formatted=text,
            country="BE",
            format_valid=True,
            confidence=0.9,
            plate_crop=f"crop-{n}".encode(),
            camera_read=camera_read,
            passage_id="" if camera_read else passage_id,
            reader="test",
        )
        for n, text in enumerate(texts)
    ]
    consensus = max(set(texts), key=texts.count)
    passage = passage_pb2.Passage(
        meta=new_meta("5344", "detect"),
        passage_id=passage_id,
        camera_id=camera_id,
        plate=consensus,
        formatted=consensus,
        country="BE",
        confidence=0.88,
        read_ids=[r.meta.event_id for r in frames],
        direction=direction,
        zone="5344",
    )
    passage.first_seen.CopyFrom(frames[0].captured_at)
    passage.last_seen.CopyFrom(frames[-1].captured_at)
    return frames, passage


@dataclass
class Access:
    client: httpx.AsyncClient
    bus: MemoryBus
    issuer: DevIssuer
    engine: AsyncEngine

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue('alice', role)}"}

    async def publish(self, *messages: read_pb2.PlateRead | passage_pb2.Passage) -> None:
        for message in messages:
            topic = TOPICS.reads if isinstance(message, read_pb2.PlateRead) else TOPICS.passages
            await self.bus.publish(topic, message.camera_id.encode(), message.SerializeToString())
        deadline = time.monotonic() + 10
        while self.bus.pending():
            assert time.monotonic() < deadline, "consumers did not catch up"
            await asyncio.sleep(0.02)

    async def search(self, **params: Any) -> list[dict[str, Any]]:
        response = await self.client.get(
            "/v1/passages", params={**JUSTIFIED, **params}, headers=self.auth(Role.INVESTIGATOR)
        )
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    async def traffic(self, since: datetime, until: datetime) -> list[tuple[str, int, int]]:
        response = await self.client.get(
            "/v1/stats/traffic",
            params={"from": since.isoformat(), "to": until.isoformat()},
            headers=self.auth(Role.SUPERVISOR),
        )
        assert response.status_code == 200, response.text
        return [(r["camera_id"], r["passages_in"], r["passages_out"]) for r in response.json()["rows"]]

    async def links(self) -> dict[str, str | None]:
        async with self.engine.connect() as conn:
            return dict((await conn.execute(select(reads.c.event_id, reads.c.passage_id))).all())

    async def stored_passages(self) -> set[str]:
        async with self.engine.connect() as conn:
            return set((await conn.scalars(select(passages.c.passage_id))).all())

    async def audit(self) -> list[audit_pb2.AuditEvent]:
        events = []
        for record in await read_topic(self.bus, TOPICS.audit):
            event = audit_pb2.AuditEvent()
            event.ParseFromString(record.value)
            events.append(event)
        return events


async def _running(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[Access]:
    bus, issuer = MemoryBus(), DevIssuer(tmp_path / "key.pem")
    app = build_app(AccessSettings(data_dir=tmp_path, retention_interval_s=0), bus, engine, issuer)
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
    async for running in _running(make_engine(None, "access", tmp_path), tmp_path):
        yield running


@pytest.fixture
async def postgres_access(migrated_database_url: str, tmp_path: Path) -> AsyncIterator[Access]:
    async for running in _running(make_engine(migrated_database_url, "access", tmp_path), tmp_path):
        yield running


@pytest.fixture(
    params=[
        pytest.param("sqlite_access", id="sqlite"),
        pytest.param("postgres_access", id="postgres", marks=pytest.mark.integration),
    ]
)
def access(request: pytest.FixtureRequest) -> Access:
    value: Access = request.getfixturevalue(request.param)
    return value


def ids(items: list[dict[str, Any]]) -> list[tuple[str | None, list[str]]]:
    return [(item["passage_id"], [r["event_id"] for r in item["reads"]]) for item in items]


# --- the test ---------------------------------------------------------------------------


@pytest.mark.parametrize("passage_first", [False, True], ids=["reads-first", "passage-first"])
async def test_three_frames_of_one_car_are_three_reads_one_passage_and_one_vehicle_in(
    access: Access, passage_first: bool
) -> None:
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)
    frames, passage = car(("1ABC234", "1ABC234", "1ABC234"), hour + timedelta(minutes=12))
    if passage_first:
        await access.publish(passage, *frames)
    else:
        await access.publish(*frames, passage)
    await access.publish(passage, frames[1])  # redelivered: nothing changes

    found = await access.search(plate="1-ABC-234")
    assert ids(found) == [(passage.passage_id, [r.meta.event_id for r in frames])]
    [item] = found
    assert (item["camera_id"], item["direction"], item["plate"]) == ("cam-in", "in", "1ABC234")
    assert datetime.fromisoformat(item["first_seen"]) == frames[0].captured_at.ToDatetime(tzinfo=UTC)
    assert datetime.fromisoformat(item["last_seen"]) == frames[2].captured_at.ToDatetime(tzinfo=UTC)
    assert await access.links() == {r.meta.event_id: passage.passage_id for r in frames}
    assert await access.traffic(hour - timedelta(hours=1), hour + timedelta(hours=2)) == [("cam-in", 1, 0)]
    [search] = [e for e in await access.audit() if e.action == "search"]
    assert list(search.record_ids) == [passage.passage_id, *(r.meta.event_id for r in frames)]


@pytest.mark.parametrize("passage_first", [False, True], ids=["reads-first", "passage-first"])
async def test_camera_side_reads_naming_no_passage_are_linked_to_the_passage_that_lists_them(
    access: Access, passage_first: bool
) -> None:
    frames, passage = car(("2XYZ789", "2XYZ789"), datetime.now(UTC) - timedelta(minutes=3), camera_read=True)
    order: list[read_pb2.PlateRead | passage_pb2.Passage] = [*frames, passage]
    await access.publish(*(order[-1:] + order[:-1] if passage_first else order))
    assert await access.links() == {r.meta.event_id: passage.passage_id for r in frames}
    assert ids(await access.search(plate="2XYZ789")) == [
        (passage.passage_id, [r.meta.event_id for r in frames])
    ]


async def test_search_finds_a_passage_by_its_consensus_and_by_any_of_its_reads(access: Access) -> None:
    now = datetime.now(UTC)
    frames, passage = car(("1ABC234", "1A8C234", "1ABC234"), now - timedelta(minutes=30))
    other_frames, other = car(("9XYZ999",), now - timedelta(minutes=10), camera_id="cam-out",
                              direction=common_pb2.DIRECTION_OUT)  # fmt: skip
    await access.publish(*frames, *other_frames, passage, other)
    whole = (passage.passage_id, [r.meta.event_id for r in frames])

    assert ids(await access.search(plate="1ABC234")) == [whole]  # the consensus
    assert ids(await access.search(plate="1A8C234")) == [whole]  # one misread frame
    assert ids(await access.search(plate="LABC234", fuzzy="true")) == [whole]
    assert ids(await access.search(plate="1A8C234", fuzzy="true", direction="out")) == []
    assert ids(await access.search(camera_id="cam-in")) == [whole]
    page = await access.search(camera_id="cam-in", limit=1)
    assert ids(page) == [whole], "a page counts passages, not reads"
    # A read whose passage is not stored (yet, or lost with a detect instance) is never hidden.
    [late] = car(("7LAT777",), now - timedelta(minutes=5))[0]
    await access.publish(late)
    assert ids(await access.search(plate="7LAT777")) == [(None, [late.meta.event_id])]
    newest_first = await access.search(since=(now - timedelta(hours=1)).isoformat(), camera_id="cam-in")
    assert [item["passage_id"] for item in newest_first] == [None, passage.passage_id]


async def test_traffic_counts_passages_per_camera_direction_and_hour_never_reads(access: Access) -> None:
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=5)
    inbound = [car(("1AAA111",) * 5, hour + timedelta(minutes=m)) for m in (1, 2, 3)]
    outbound = car(("2BBB222",) * 4, hour + timedelta(minutes=4), direction=common_pb2.DIRECTION_OUT)
    next_hour = car(("3CCC333",) * 2, hour + timedelta(minutes=61), camera_id="cam-2")
    for frames, passage in [*inbound, outbound, next_hour]:
        await access.publish(*frames, passage)
    rows = await access.traffic(hour, hour + timedelta(hours=2))
    assert rows == [("cam-in", 3, 1), ("cam-2", 1, 0)]


async def test_the_images_of_a_passage_are_its_reads_images_each_view_audited(access: Access) -> None:
    frames, passage = car(("1ABC234", "1ABC234"), datetime.now(UTC) - timedelta(minutes=2))
    await access.publish(*frames, passage)
    [item] = await access.search(plate="1ABC234")
    for n, read in enumerate(item["reads"]):
        image = await access.client.get(
            f"/v1/passages/{read['event_id']}/image", params=JUSTIFIED, headers=access.auth(Role.INVESTIGATOR)
        )
        assert image.status_code == 200
        assert image.content == f"crop-{n}".encode()
    views = [e for e in await access.audit() if e.action == "view_image"]
    assert [list(v.record_ids) for v in views] == [[r.meta.event_id] for r in frames]
    assert {json.loads(v.query)["passage_id"] for v in views} == {passage.passage_id}


async def test_a_passage_that_names_no_read_goes_to_the_dead_letters(access: Access) -> None:
    empty = passage_pb2.Passage(meta=new_meta("5344", "detect"), passage_id="cam-in:x", camera_id="cam-in")
    await access.publish(empty)
    [letter] = await read_topic(access.bus, TOPICS.dlq)
    dead = dlq_pb2.DeadLetter()
    dead.ParseFromString(letter.value)
    assert "read_ids" in dead.reason
    assert await access.stored_passages() == set()


# --- retention, holds and DPO requests act on a passage and its reads together ------------------


async def store(access: Access, frames: list[read_pb2.PlateRead], passage: passage_pb2.Passage) -> None:
    """Old data straight into the tables (the consumers refuse what is past retention)."""
    from anpr_access.adapters.codecs import decode_passage

    intake = IntakeStore(access.engine, access.engine)
    for read in frames:
        await intake.add_read(read_record(read, Confusables()))
    await intake.add_passage(decode_passage(passage.SerializeToString(), Confusables()))


async def test_retention_takes_a_passage_and_all_its_reads_once_its_first_read_is_past_the_cutoff(
    access: Access,
) -> None:
    cutoff = datetime.now(UTC) - timedelta(days=365)
    # First read a second before the cut-off, the others after it: the passage goes whole.
    straddling = car(("1ABC234",) * 4, cutoff - timedelta(seconds=1), spacing_s=10)
    held = car(("7HLD777", "7HLD777", "THLD777"), cutoff - timedelta(days=20))
    kept = car(("1ABC234",) * 2, cutoff + timedelta(days=10))
    for frames, passage in (straddling, held, kept):
        await store(access, frames, passage)
    # The hold names the misread of one frame: the whole passage stays with it.
    hold = await access.client.post(
        "/v1/holds",
        json={"case_reference": "PV/1", "plate": "THLD777", "reason": "trial"},
        headers=access.auth(Role.SUPERVISOR),
    )
    assert hold.json()["records_covered"] == 3

    run = await access.client.post("/v1/retention/run", headers=access.auth(Role.ADMIN))
    assert run.status_code == 200, run.text
    counts = run.json()
    assert (counts["reads_deleted"], counts["passages_deleted"]) == (4, 1)
    assert (counts["reads_kept_on_hold"], counts["passages_kept_on_hold"]) == (3, 1)
    assert set(await access.links()) == {r.meta.event_id for r in [*held[0], *kept[0]]}
    assert await access.stored_passages() == {held[1].passage_id, kept[1].passage_id}

    await access.client.delete(
        f"/v1/holds/{hold.json()['hold_id']}", params={"reason": "done"}, headers=access.auth(Role.SUPERVISOR)
    )
    again = (await access.client.post("/v1/retention/run", headers=access.auth(Role.ADMIN))).json()
    assert (again["reads_deleted"], again["passages_deleted"]) == (3, 1)
    assert await access.stored_passages() == {kept[1].passage_id}


def dpo_request(kind: str, plate: str, **extra: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "kind": kind,
        "requester": "J. Peeters",
        "plate": plate,
        "since": (now - timedelta(days=5)).isoformat(),
        "until": now.isoformat(),
        **extra,
    }


async def dpo_through(access: Access, request: dict[str, Any], decision: dict[str, Any]) -> httpx.Response:
    headers = access.auth(Role.DPO)
    request_id = (await access.client.post("/v1/dpo/requests", json=request, headers=headers)).json()[
        "request_id"
    ]
    await access.client.post(f"/v1/dpo/requests/{request_id}/locate", headers=headers)
    await access.client.post(f"/v1/dpo/requests/{request_id}/decision", json=decision, headers=headers)
    return await access.client.post(f"/v1/dpo/requests/{request_id}/execute", headers=headers)


async def test_dpo_access_finds_and_exports_whole_passages_a_misread_frame_included(access: Access) -> None:
    now = datetime.now(UTC)
    own, own_passage = car(("1ABC234", "1A8C234", "1ABC234"), now - timedelta(days=1))
    other, other_passage = car(("IABC234", "IABC234"), now - timedelta(days=2))
    await access.publish(*own, *other, own_passage, other_passage)
    headers = access.auth(Role.DPO)
    request_id = (
        await access.client.post("/v1/dpo/requests", json=dpo_request("access", "1ABC234"), headers=headers)
    ).json()["request_id"]
    located = await access.client.post(f"/v1/dpo/requests/{request_id}/locate", headers=headers)
    assert set(located.json()["located_ids"]) == {r.meta.event_id for r in [*own, *other]}
    granted = await access.client.post(
        f"/v1/dpo/requests/{request_id}/decision", json={"decision": "grant", "reasons": "r"}, headers=headers
    )
    # The grant covers the passage whose consensus is the plate, its misread frame too.
    assert granted.json()["decided_ids"] == [r.meta.event_id for r in own]
    export = await access.client.post(f"/v1/dpo/requests/{request_id}/execute", headers=headers)
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(export.content)).read("reads.json"))
    assert [(r["event_id"], r["passage_id"], r["plate"]) for r in manifest["reads"]] == [
        (r.meta.event_id, own_passage.passage_id, r.plate) for r in own
    ]


async def test_dpo_erasure_takes_the_passage_with_all_its_reads_or_nothing_under_a_hold(
    access: Access,
) -> None:
    now = datetime.now(UTC)
    frames, passage = car(("1ABC234", "1ABC234", "1ABC234"), now - timedelta(days=1))
    await access.publish(*frames, passage)
    # The DPO names one frame; the decision covers its passage whole.
    partial = {"decision": "partial", "reasons": "r", "record_ids": [frames[1].meta.event_id]}
    await access.client.post(
        "/v1/holds", json={"case_reference": "PV/2", "plate": "1ABC234", "reason": "r"},
        headers=access.auth(Role.SUPERVISOR),
    )  # fmt: skip
    refused = await dpo_through(access, dpo_request("erasure", "1ABC234"), partial)
    assert refused.status_code == 409
    assert set(refused.json()["held_record_ids"]) == {r.meta.event_id for r in frames}
    [hold] = (await access.client.get("/v1/holds", headers=access.auth(Role.SUPERVISOR))).json()
    await access.client.delete(
        f"/v1/holds/{hold['hold_id']}", params={"reason": "done"}, headers=access.auth(Role.SUPERVISOR)
    )
    erased = await dpo_through(access, dpo_request("erasure", "1ABC234"), partial)
    assert erased.json()["outcome"] == "erased 3 records"
    assert await access.links() == {}
    assert await access.stored_passages() == set()
    assert await access.search(plate="1ABC234") == []


async def test_dpo_rectification_rewrites_the_passage_with_its_reads(access: Access) -> None:
    frames, passage = car(("1ABC284", "1ABC284"), datetime.now(UTC) - timedelta(days=1))
    await access.publish(*frames, passage)
    executed = await dpo_through(
        access,
        dpo_request("rectification", "1ABC284", corrected_plate="1-ABC-234"),
        {"decision": "grant", "reasons": "photo"},
    )
    assert executed.json()["state"] == "executed"
    found = await access.search(plate="1ABC234")
    assert [(item["plate"], [r["plate"] for r in item["reads"]]) for item in found] == [
        ("1ABC234", ["1ABC234", "1ABC234"])
    ]
    [rectified] = [e for e in await access.audit() if e.action == "rectification"]
    assert json.loads(rectified.query)["original_passage_plates"] == {passage.passage_id: "1ABC284"}
