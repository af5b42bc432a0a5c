"""The register's feed: every camera's entry (status, border camera, neighbour zone) on the cameras
topic, at each change and again at start, for the services that act on it (share)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from anpr.v1 import camera_pb2
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine
from anpr_core.events import Topics
from anpr_core.testing import eventually, read_topic
from anpr_ingest.bootstrap import build_app
from anpr_ingest.settings import IngestSettings

pytestmark = pytest.mark.usefixtures("no_anpr_environment")

TOPICS = Topics()


async def entries(bus: MemoryBus) -> dict[str, camera_pb2.CameraEntry]:
    """The newest entry of each camera, as a compacted topic keeps it."""
    latest: dict[str, camera_pb2.CameraEntry] = {}
    for record in await read_topic(bus, TOPICS.cameras):
        entry = camera_pb2.CameraEntry()
        entry.ParseFromString(record.value)
        assert record.key == entry.camera_id.encode()
        latest[entry.camera_id] = entry
    return latest


async def announced(bus: MemoryBus, camera_id: str) -> dict[str, camera_pb2.CameraEntry]:
    """The entries, once `camera_id`'s is among them (the start's announcement runs in the background)."""
    seen: dict[str, camera_pb2.CameraEntry] = {}

    async def there() -> bool:
        seen.update(await entries(bus))
        return camera_id in seen

    await eventually(there)
    return seen


async def test_registering_and_changing_a_camera_puts_its_entry_on_the_cameras_topic(tmp_path: Path) -> None:
    bus = MemoryBus()
    issuer = DevIssuer(tmp_path / "key.pem")
    engine = make_engine(None, "ingest", tmp_path)
    app = build_app(IngestSettings(data_dir=tmp_path, zone_id="5344"), bus, engine, issuer)
    admin = {"Authorization": f"Bearer {issuer.issue('root', Role.ADMIN)}"}
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
        ):
            border: dict[str, object] = {"camera_id": "cam-e40", "name": "E40", "direction": "in"}
            border |= {"border_camera": True, "neighbour_zone_id": "5388"}
            assert (await client.post("/v1/cameras", json=border, headers=admin)).status_code == 201
            inner = {"camera_id": "cam-meir", "name": "Meir", "direction": "out"}
            assert (await client.post("/v1/cameras", json=inner, headers=admin)).status_code == 201
            seen = await entries(bus)
            assert seen["cam-e40"].border_camera and seen["cam-e40"].neighbour_zone_id == "5388"
            assert not seen["cam-meir"].border_camera and seen["cam-meir"].neighbour_zone_id == ""
            assert seen["cam-e40"].meta.zone_id == "5344" and seen["cam-e40"].status == "active"

            changed = await client.patch(
                "/v1/cameras/cam-e40",
                json={"border_camera": False, "neighbour_zone_id": None, "status": "maintenance"},
                headers=admin,
            )
            assert changed.status_code == 200, changed.text
            seen = await entries(bus)
            assert not seen["cam-e40"].border_camera and seen["cam-e40"].status == "maintenance"
    finally:
        await engine.dispose()


async def test_the_register_is_announced_again_at_start(tmp_path: Path) -> None:
    issuer = DevIssuer(tmp_path / "key.pem")
    admin = {"Authorization": f"Bearer {issuer.issue('root', Role.ADMIN)}"}
    camera: dict[str, object] = {"camera_id": "cam-e40", "name": "E40", "direction": "in"}
    camera |= {"border_camera": True, "neighbour_zone_id": "5388"}
    for run in range(2):
        # A new in-process bus each run, as the embedded mode has: the register is on it again.
        bus = MemoryBus()
        engine = make_engine(None, "ingest", tmp_path)
        app = build_app(IngestSettings(data_dir=tmp_path), bus, engine, issuer)
        try:
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
            ):
                if run == 0:
                    assert (await client.post("/v1/cameras", json=camera, headers=admin)).status_code == 201
                seen = await announced(bus, "cam-e40")
        finally:
            await engine.dispose()
        assert seen["cam-e40"].border_camera and seen["cam-e40"].neighbour_zone_id == "5388"
