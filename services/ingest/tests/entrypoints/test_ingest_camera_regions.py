"""A camera's region of interest and expected plate width: kept by the register, refused when they
make no sense (422 problem+json), and carried to detect on each of the camera's frames."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from anpr.v1 import frame_pb2
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine
from anpr_core.events import Topics
from anpr_core.testing import read_topic
from anpr_ingest.bootstrap import build_app
from anpr_ingest.settings import IngestSettings

pytestmark = pytest.mark.usefixtures("no_anpr_environment")

PROBLEM_JSON = "application/problem+json"
REGION = [{"x": 100, "y": 300}, {"x": 1180, "y": 300}, {"x": 1180, "y": 700}, {"x": 100, "y": 700}]
PLATE_WIDTH = {"min": 80, "max": 300}


@dataclass
class Ingest:
    client: httpx.AsyncClient
    bus: MemoryBus
    admin: dict[str, str]

    async def register(self, **fields: Any) -> httpx.Response:
        body = {"camera_id": "cam-1", "name": "Camera 1", "direction": "in", **fields}
        return await self.client.post("/v1/cameras", json=body, headers=self.admin)

    async def frames(self) -> list[frame_pb2.Frame]:
        return [frame_pb2.Frame.FromString(r.value) for r in await read_topic(self.bus, Topics().frames)]


@pytest.fixture
async def ingest(tmp_path: Path) -> AsyncIterator[Ingest]:
    bus = MemoryBus()
    issuer = DevIssuer(tmp_path / "key.pem")
    engine = make_engine(None, "ingest", tmp_path)
    app = build_app(IngestSettings(data_dir=tmp_path), bus, engine, issuer)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
        ):
            yield Ingest(client, bus, {"Authorization": f"Bearer {issuer.issue('root', Role.ADMIN)}"})
    finally:
        await engine.dispose()


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (1280, 720), (30, 60, 90)).save(buffer, format="JPEG")
    return buffer.getvalue()


async def _send_frame(ingest: Ingest, api_key: str) -> None:
    response = await ingest.client.post(
        "/v1/frames",
        headers={"X-Camera-Key": api_key},
        data={"camera_id": "cam-1", "captured_at": datetime.now(UTC).isoformat()},
        files={"image": ("frame.jpg", _jpeg(), "image/jpeg")},
    )
    assert response.status_code == 202, response.text


async def test_the_register_keeps_the_region_and_plate_width(ingest: Ingest) -> None:
    created = await ingest.register(region=REGION, plate_width=PLATE_WIDTH)
    assert created.status_code == 201, created.text
    assert (created.json()["region"], created.json()["plate_width"]) == (REGION, PLATE_WIDTH)
    shown = (await ingest.client.get("/v1/cameras/cam-1", headers=ingest.admin)).json()
    assert (shown["region"], shown["plate_width"]) == (REGION, PLATE_WIDTH)

    narrower = {"min": 60, "max": 120}
    patched = await ingest.client.patch(
        "/v1/cameras/cam-1", json={"plate_width": narrower}, headers=ingest.admin
    )
    assert patched.status_code == 200, patched.text
    assert (patched.json()["region"], patched.json()["plate_width"]) == (REGION, narrower)
    cleared = await ingest.client.patch(
        "/v1/cameras/cam-1", json={"region": None, "plate_width": None}, headers=ingest.admin
    )
    assert (cleared.json()["region"], cleared.json()["plate_width"]) == (None, None)


async def test_a_camera_registered_without_them_reads_the_whole_frame(ingest: Ingest) -> None:
    created = await ingest.register()
    assert (created.json()["region"], created.json()["plate_width"]) == (None, None)
    await _send_frame(ingest, created.json()["api_key"])
    (frame,) = await ingest.frames()
    assert not frame.HasField("region")


async def test_each_frame_carries_its_camera_region_to_detect(ingest: Ingest) -> None:
    created = await ingest.register(region=REGION, plate_width=PLATE_WIDTH)
    await _send_frame(ingest, created.json()["api_key"])
    await ingest.client.patch("/v1/cameras/cam-1", json={"region": None}, headers=ingest.admin)
    await _send_frame(ingest, created.json()["api_key"])
    first, second = await ingest.frames()
    assert [(p.x, p.y) for p in first.region.polygon] == [(c["x"], c["y"]) for c in REGION]
    assert (first.region.min_plate_width, first.region.max_plate_width) == (80, 300)
    # The region cleared, the width kept: the frame is read whole, plates still of that width.
    assert list(second.region.polygon) == []
    assert (second.region.min_plate_width, second.region.max_plate_width) == (80, 300)


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"region": REGION[:2]}, id="two-corners"),
        pytest.param({"region": [{"x": 0, "y": 0}, {"x": 10, "y": 10}, {"x": 20, "y": 20}]}, id="no-area"),
        pytest.param({"region": [{"x": -1, "y": 0}, *REGION[1:]]}, id="negative"),
        pytest.param({"region": [{"x": 100_000, "y": 0}, *REGION[1:]]}, id="beyond-any-frame"),
        pytest.param({"region": [{"x": 1}, *REGION[1:]]}, id="corner-without-y"),
        pytest.param({"plate_width": {"min": 300, "max": 80}}, id="min-above-max"),
        pytest.param({"plate_width": {"min": 0, "max": 80}}, id="zero-width"),
        pytest.param({"plate_width": {"min": 80}}, id="no-max"),
    ],
)
async def test_a_region_or_width_that_makes_no_sense_is_refused(
    ingest: Ingest, fields: dict[str, Any]
) -> None:
    created = await ingest.register(**fields)
    assert created.status_code == 422, created.text
    assert created.headers["content-type"] == PROBLEM_JSON
    assert (await ingest.register()).status_code == 201
    patched = await ingest.client.patch("/v1/cameras/cam-1", json=fields, headers=ingest.admin)
    assert patched.status_code == 422, patched.text
    assert patched.headers["content-type"] == PROBLEM_JSON
