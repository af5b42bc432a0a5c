"""Reads a neighbour zone shared (anpr.shared.reads.v1, as share takes them in under an agreement):
stored with their source zone, shown with it by search, and under the same time tiers, retention
and DPO rules as this zone's own reads."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from anpr.v1 import common_pb2, read_pb2
from anpr_access.adapters.codecs import read_record
from anpr_access.adapters.intake import IntakeStore
from anpr_access.bootstrap import build_app
from anpr_access.settings import AccessSettings
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine
from anpr_core.events import Topics, new_meta, to_timestamp
from anpr_core.plates import Confusables

pytestmark = pytest.mark.usefixtures("no_anpr_environment")

TOPICS = Topics()
ADMINISTRATIVE = {"purpose": "administrative", "case_reference": "PV/2026/16", "legal_basis": "art. 44/5 WPA"}


def read(zone: str, plate: str, captured_at: datetime, camera_id: str = "cam-border") -> read_pb2.PlateRead:
    return read_pb2.PlateRead(
        meta=new_meta(zone, "share"),
        camera_id=camera_id,
        captured_at=to_timestamp(captured_at),
        direction=common_pb2.DIRECTION_IN,
        plate=plate,
        formatted=plate,
        confidence=0.9,
    )


@dataclass
class Access:
    client: httpx.AsyncClient
    bus: MemoryBus
    issuer: DevIssuer
    store: IntakeStore

    def auth(self, role: Role) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.issue('alice', role)}"}

    async def publish(self, topic: str, *reads: read_pb2.PlateRead) -> None:
        for one in reads:
            await self.bus.publish(topic, one.camera_id.encode(), one.SerializeToString())
        deadline = time.monotonic() + 10
        while self.bus.pending():
            assert time.monotonic() < deadline, "consumers did not catch up"
            await asyncio.sleep(0.02)

    async def search(self, **params: Any) -> httpx.Response:
        return await self.client.get("/v1/passages", params=params, headers=self.auth(Role.INVESTIGATOR))


@pytest.fixture
async def access(tmp_path: Path) -> AsyncIterator[Access]:
    bus, issuer = MemoryBus(), DevIssuer(tmp_path / "key.pem")
    engine = make_engine(None, "access", tmp_path)
    app = build_app(AccessSettings(data_dir=tmp_path, retention_interval_s=0), bus, engine, issuer)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
        ):
            yield Access(client, bus, issuer, IntakeStore(engine, engine))
    finally:
        await engine.dispose()


async def test_search_shows_each_read_with_the_zone_whose_camera_read_it(access: Access) -> None:
    now = datetime.now(UTC)
    await access.publish(TOPICS.shared_reads, read("5388", "1ABC234", now - timedelta(minutes=5)))
    await access.publish(TOPICS.reads, read("5344", "1ABC234", now - timedelta(minutes=1), "cam-meir"))
    answer = await access.search(plate="1-ABC-234", **ADMINISTRATIVE)
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [(i["camera_id"], i["source_zone"]) for i in items] == [
        ("cam-meir", "5344"),
        ("cam-border", "5388"),
    ]
    assert [r["source_zone"] for i in items for r in i["reads"]] == ["5344", "5388"]


async def test_a_neighbours_reads_fall_under_the_same_time_tiers(access: Access) -> None:
    old = read("5388", "2DEF345", datetime.now(UTC) - timedelta(days=40))
    await access.publish(TOPICS.shared_reads, old)
    window = {"since": (datetime.now(UTC) - timedelta(days=60)).isoformat()}
    refused = await access.search(plate="2DEF345", **window, **ADMINISTRATIVE)
    assert refused.status_code == 403
    judicial = {**ADMINISTRATIVE, "purpose": "judicial", "prosecutor_decision": "PK/2026/77"}
    found = await access.search(plate="2DEF345", **window, **judicial)
    assert found.status_code == 200, found.text
    assert [i["source_zone"] for i in found.json()["items"]] == ["5388"]


async def test_a_neighbours_reads_go_at_retention_and_a_dpo_request_finds_them(access: Access) -> None:
    confusables = Confusables()
    now = datetime.now(UTC)
    expired = read("5388", "3GHI456", now - timedelta(days=366))
    recent = read("5388", "3GHI456", now - timedelta(days=2))
    for one in (expired, recent):
        await access.store.add_read(read_record(one, confusables))
    run = await access.client.post("/v1/retention/run", headers=access.auth(Role.ADMIN))
    assert run.status_code == 200 and run.json()["reads_deleted"] == 1

    headers = access.auth(Role.DPO)
    request = {
        "kind": "access",
        "requester": "J. Peeters",
        "plate": "3GHI456",
        "since": (now - timedelta(days=5)).isoformat(),
        "until": now.isoformat(),
    }
    made = await access.client.post("/v1/dpo/requests", json=request, headers=headers)
    located = await access.client.post(
        f"/v1/dpo/requests/{made.json()['request_id']}/locate", headers=headers
    )
    assert located.status_code == 200, located.text
    assert located.json()["located_ids"] == [recent.meta.event_id]
