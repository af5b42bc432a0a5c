"""A search's answer says how many passages it found over all its pages (or that there are more than
it counts), beside the fields it always had."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from anpr.v1 import common_pb2, read_pb2
from anpr_access.bootstrap import build_app
from anpr_access.settings import AccessSettings
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine
from anpr_core.events import Topics, new_meta, to_timestamp
from anpr_core.testing import eventually

pytestmark = pytest.mark.usefixtures("no_anpr_environment")

TOPICS = Topics()
JUSTIFIED = {"purpose": "administrative", "case_reference": "PV/2026/5", "legal_basis": "art. 44/5 WPA"}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    bus = MemoryBus()
    issuer = DevIssuer(tmp_path / "key.pem")
    settings = AccessSettings(data_dir=tmp_path, retention_interval_s=0)
    app = build_app(settings, bus, make_engine(None, "access", tmp_path), issuer)
    headers = {"Authorization": f"Bearer {issuer.issue('ines', Role.INVESTIGATOR)}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test", headers=headers
        ) as client,
    ):
        for minutes in range(5):
            read = read_pb2.PlateRead(
                meta=new_meta("5344", "detect"),
                camera_id="cam-1",
                captured_at=to_timestamp(datetime.now(UTC) - timedelta(minutes=minutes + 1)),
                direction=common_pb2.DIRECTION_IN,
                plate="1ABC234",
                formatted="1-ABC-234",
                country="BE",
                confidence=0.9,
                reader="test",
            )
            await bus.publish(TOPICS.reads, b"cam-1", read.SerializeToString())

        async def all_stored() -> bool:
            # The consumer may join after the publishing: wait for the reads rather than the bus.
            found = await client.get("/v1/passages", params={"plate": "1ABC234", **JUSTIFIED})
            return len(found.json()["items"]) == 5

        await eventually(all_stored)
        yield client


async def test_every_page_of_a_search_says_its_total(client: httpx.AsyncClient) -> None:
    pages = []
    for offset in (0, 2, 4, 6):
        answer = await client.get(
            "/v1/passages", params={"plate": "1ABC234", "limit": 2, "offset": offset, **JUSTIFIED}
        )
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append((len(body["items"]), body["next_offset"], body["total"], body["total_exact"]))
    assert pages == [(2, 2, 5, True), (2, 4, 5, True), (1, None, 5, True), (0, None, 5, True)]
    # The fields a client had before are all still there.
    assert {"items", "offset", "limit", "next_offset", "legal_tier"} <= set(body)
    nothing = await client.get("/v1/passages", params={"plate": "9ZZZ999", **JUSTIFIED})
    assert (nothing.json()["total"], nothing.json()["total_exact"]) == (0, True)


async def test_the_openapi_describes_the_total(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()["components"]["schemas"]["PassagePage"]
    assert {"total", "total_exact"} <= set(schema["required"])
    assert "more than" in schema["properties"]["total"]["description"]


async def test_an_offset_past_what_a_database_can_count_is_refused(client: httpx.AsyncClient) -> None:
    # Found by the fuzzer: an offset beyond 64 bits overflowed the driver (a 500).
    answer = await client.get("/v1/passages", params={"plate": "1ABC234", "offset": 2**70, **JUSTIFIED})
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
