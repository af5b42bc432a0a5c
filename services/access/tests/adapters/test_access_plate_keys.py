"""Stored plate keys follow the zone's confusable classes (ANPR_CONFUSABLE_CLASSES): a zone that
changes its classes gets its keys made again at start, so fuzzy search never meets a stale key."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from anpr.v1 import common_pb2, read_pb2
from anpr_access.adapters.migrations import HISTORY
from anpr_access.adapters.partitions import make_partitions_ahead
from anpr_access.adapters.plate_keys import rekey_plates
from anpr_access.adapters.tables import reads
from anpr_access.bootstrap import build_app
from anpr_access.settings import AccessSettings
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine
from anpr_core.events import Topics, new_meta, to_timestamp
from anpr_core.migrations import migrate
from anpr_core.plates import Confusables
from anpr_core.testing import eventually

pytestmark = pytest.mark.usefixtures("no_anpr_environment")

JUSTIFIED = {"purpose": "administrative", "case_reference": "PV/2026/1", "legal_basis": "art. 44/5 WPA"}
# Another zone's cameras: 1 and I look alike, B and 8 do not; 7 and T do.
NARROW = ("0OD", "1I", "7T")
CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@pytest.fixture(params=[pytest.param("sqlite"), pytest.param("postgres", marks=pytest.mark.integration)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("migrated_database_url")  # as `anpr migrate all` leaves it
    return url


@asynccontextmanager
async def access(
    database: str | None, tmp_path: Path, classes: tuple[str, ...], bus: MemoryBus
) -> AsyncIterator[httpx.AsyncClient]:
    settings = AccessSettings(data_dir=tmp_path, retention_interval_s=0, confusable_classes=classes)
    engine = make_engine(database, "access", tmp_path)
    app = build_app(settings, bus, engine, DevIssuer(tmp_path / "key.pem"))
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
        ):
            yield client
    finally:
        await engine.dispose()


async def fuzzy_search(client: httpx.AsyncClient, tmp_path: Path, plate: str) -> list[str]:
    token = DevIssuer(tmp_path / "key.pem").issue("alice", Role.INVESTIGATOR)
    response = await client.get(
        "/v1/passages",
        params={"plate": plate, "fuzzy": "true", **JUSTIFIED},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    return [read["event_id"] for item in response.json()["items"] for read in item["reads"]]


async def test_a_zone_that_changes_its_classes_gets_its_stored_keys_made_again(
    database: str | None, tmp_path: Path
) -> None:
    bus = MemoryBus()
    read = read_pb2.PlateRead(
        meta=new_meta("5344", "detect"),
        camera_id="cam-1",
        captured_at=to_timestamp(datetime.now(UTC) - timedelta(minutes=5)),
        direction=common_pb2.DIRECTION_IN,
        plate="1ABC234",
        reader="test",
    )
    async with access(database, tmp_path, Confusables().classes, bus) as client:
        await bus.publish(Topics().reads, b"cam-1", read.SerializeToString())

        async def stored() -> bool:
            return bool(await fuzzy_search(client, tmp_path, "1A8C234"))

        await eventually(stored)
        assert await fuzzy_search(client, tmp_path, "IABC234") == [read.meta.event_id]

    async with access(database, tmp_path, NARROW, bus) as client:
        # Under the zone's new classes B and 8 are different characters, 1 and I still alike.
        assert await fuzzy_search(client, tmp_path, "1A8C234") == []
        assert await fuzzy_search(client, tmp_path, "IABC234") == [read.meta.event_id]
        assert await fuzzy_search(client, tmp_path, "LABC234") == []


async def test_the_keys_made_in_sql_are_the_keys_made_in_python(database: str | None, tmp_path: Path) -> None:
    engine = make_engine(database, "access", tmp_path)
    rng = random.Random(5)
    plates = ["".join(rng.choice(CHARACTERS) for _ in range(rng.randint(2, 12))) for _ in range(400)]
    try:
        now = datetime.now(UTC)
        await migrate(engine, None, HISTORY)  # `anpr migrate access`, then the service's partitions
        await make_partitions_ahead(engine, now)
        async with engine.begin() as conn:
            await conn.execute(reads.insert(), [_row(f"r{n}", plate, now) for n, plate in enumerate(plates)])
        assert await rekey_plates(engine, Confusables(), now) is False, "the defaults made the keys"
        assert await _keys(engine) == {f"r{n}": Confusables().key(p) for n, p in enumerate(plates)}

        odd = Confusables(("Q0O", "L1I7", "8B", "SZ52", "UV", "MNH"))
        assert await rekey_plates(engine, odd, now) is True
        assert await _keys(engine) == {f"r{n}": odd.key(p) for n, p in enumerate(plates)}
        # The same classes again: nothing to do, even after a key was spoiled by hand.
        async with engine.begin() as conn:
            await conn.execute(update(reads).where(reads.c.event_id == "r0").values(plate_key="spoiled"))
        assert await rekey_plates(engine, odd, now) is False
        assert (await _keys(engine))["r0"] == "spoiled"
    finally:
        await engine.dispose()


def _row(event_id: str, plate: str, now: datetime) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "captured_at": now,
        "zone_id": "5344",
        "camera_id": "cam-1",
        "direction": "in",
        "plate": plate,
        "plate_key": Confusables().key(plate),
        "formatted": plate,
        "country": "",
        "format_valid": False,
        "confidence": 0.9,
        "candidates": [],
        "box": [0, 0, 0, 0],
        "frame_event_id": "",
        "camera_read": True,
        "reader": "test",
        "plate_crop": None,
        "overview": None,
        "stored_at": now,
    }


async def _keys(engine: Any) -> dict[str, str]:
    async with engine.connect() as conn:
        return {e: k for e, k in (await conn.execute(select(reads.c.event_id, reads.c.plate_key))).all()}
