"""The database really away: every route answers 503 problem+json with Retry-After, never a 500, and
ingest recovers when it is back.

"Away" is real: ingest talks to the shared PostgreSQL through a TCP relay of this test's own, which
is stopped (its listener closed, every connection cut) and started again; the shared server stays up.
A second case points ingest at a port where nothing listens at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from PIL import Image

from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine
from anpr_core.migrations import migrate
from anpr_ingest.adapters.migrations import HISTORY
from anpr_ingest.bootstrap import build_app
from anpr_ingest.settings import IngestSettings

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_anpr_environment")]


@pytest.fixture
async def database_url(database_url: str) -> str:
    """The test's database with ingest's schema at its head, as `anpr migrate ingest` leaves it before
    the service starts (it refuses a schema that is not)."""
    engine = make_engine(database_url, "ingest", Path("."))
    try:
        await migrate(engine, None, HISTORY)
    finally:
        await engine.dispose()
    return database_url


def jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (160, 120), (seed % 256, 60, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


class Relay:
    """A TCP relay to PostgreSQL that can be taken away (listener closed, connections cut) and back."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port: int = probe.getsockname()[1]

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection(*self._target)
        self._writers |= {client_writer, server_writer}

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while chunk := await reader.read(65536):
                    writer.write(chunk)
                    await writer.drain()
            writer.transport.abort()

        try:
            await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))
        finally:
            self._writers -= {client_writer, server_writer}


def via(database_url: str, port: int) -> str:
    parts = urlsplit(database_url)
    credentials = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{port}"))


@asynccontextmanager
async def ingest_on(
    database_url: str, tmp_path: Path, *, lifespan: bool = True
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    engine = make_engine(database_url, "ingest", tmp_path)
    issuer = DevIssuer(tmp_path / "key.pem")
    settings = IngestSettings(
        data_dir=tmp_path,
        database_url=database_url,
        # Every frame and heartbeat looks the camera up and writes its last-seen time.
        credential_cache_ttl_s=0,
        last_seen_write_interval_s=0,
    )
    app = build_app(settings, MemoryBus(), engine, issuer)
    admin = {"Authorization": f"Bearer {issuer.issue('root', Role.ADMIN)}"}
    try:
        async with contextlib.AsyncExitStack() as stack:
            if lifespan:
                await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest")
            )
            yield client, admin
    finally:
        await engine.dispose()


def calls(
    admin: dict[str, str], frame_key: str, smart_key: str, seed: int
) -> list[tuple[str, dict[str, Any]]]:
    """One request to every kind of route: the camera side (frames both ways, reads, heartbeat) and
    the register (list, show, register, change, rotate a key, the public map)."""
    now = datetime.now(UTC).isoformat()
    return [
        (
            "POST /v1/frames multipart",
            {
                "method": "POST",
                "url": "/v1/frames",
                "headers": {"X-Camera-Key": frame_key},
                "data": {"camera_id": "cam-1", "captured_at": now},
                "files": {"image": ("f.jpg", jpeg(seed), "image/jpeg")},
            },
        ),
        (
            "POST /v1/frames raw body",
            {
                "method": "POST",
                "url": "/v1/frames",
                "headers": {
                    "X-Camera-Key": frame_key,
                    "X-Camera-Id": "cam-1",
                    "X-Captured-At": now,
                    "Content-Type": "image/jpeg",
                },
                "content": jpeg(seed + 1),
            },
        ),
        (
            "POST /v1/reads",
            {
                "method": "POST",
                "url": "/v1/reads",
                "headers": {"X-Camera-Key": smart_key},
                "data": {
                    "camera_id": "cam-smart",
                    "captured_at": now,
                    "text": "1ABC234",
                    "confidence": "0.9",
                },
            },
        ),
        (
            "POST heartbeat",
            {"method": "POST", "url": "/v1/cameras/cam-1/heartbeat", "headers": {"X-Camera-Key": frame_key}},
        ),
        ("GET /v1/cameras", {"method": "GET", "url": "/v1/cameras", "headers": admin}),
        ("GET /v1/cameras/cam-1", {"method": "GET", "url": "/v1/cameras/cam-1", "headers": admin}),
        (
            "POST /v1/cameras",
            {
                "method": "POST",
                "url": "/v1/cameras",
                "headers": admin,
                "json": {"camera_id": f"cam-new-{seed}", "name": "new", "direction": "in"},
            },
        ),
        (
            "PATCH /v1/cameras/cam-1",
            {"method": "PATCH", "url": "/v1/cameras/cam-1", "headers": admin, "json": {"road": "N2"}},
        ),
        ("POST key rotation", {"method": "POST", "url": "/v1/cameras/cam-smart/key", "headers": admin}),
        ("GET public map", {"method": "GET", "url": "/v1/cameras/export?format=csv"}),
    ]


def assert_unavailable(name: str, response: httpx.Response) -> None:
    assert response.status_code == 503, f"{name}: {response.status_code} {response.text}"
    assert response.headers["content-type"] == "application/problem+json", name
    assert int(response.headers["retry-after"]) > 0, name
    problem = response.json()
    assert problem["status"] == 503 and problem["title"] == "Service Unavailable", name
    assert problem["detail"], name


async def test_database_away_gives_503_with_retry_after_on_every_route_then_recovers(
    database_url: str, tmp_path: Path
) -> None:
    target = urlsplit(database_url)
    relay = Relay(target.hostname or "127.0.0.1", target.port or 5432)
    await relay.start()
    async with ingest_on(via(database_url, relay.port), tmp_path) as (client, admin):
        keys = {}
        for camera_id, kind in (("cam-1", "frame"), ("cam-smart", "smart")):
            created = await client.post(
                "/v1/cameras",
                json={"camera_id": camera_id, "name": camera_id, "direction": "in", "kind": kind},
                headers=admin,
            )
            keys[camera_id] = created.json()["api_key"]
        for name, request in calls(admin, keys["cam-1"], keys["cam-smart"], seed=1):
            response = await client.request(**request)
            assert response.status_code < 300, f"{name} with the database up: {response.text}"
            if name == "POST key rotation":
                keys["cam-smart"] = response.json()["api_key"]

        # 1. The database goes away: every route says so, and when to come back.
        await relay.stop()
        for name, request in calls(admin, keys["cam-1"], keys["cam-smart"], seed=10):
            assert_unavailable(name, await client.request(**request))

        # 2. It comes back: the same requests succeed (pooled connections that died are replaced).
        await relay.start()
        for name, request in calls(admin, keys["cam-1"], keys["cam-smart"], seed=30):
            for _attempt in range(3):  # a connection cut while pooled may fail once more, with a 503
                response = await client.request(**request)
                if response.status_code != 503:
                    break
            assert response.status_code < 300, f"{name} after the database came back: {response.text}"
            if name == "POST key rotation":
                keys["cam-smart"] = response.json()["api_key"]
    await relay.stop()


async def test_database_never_there_gives_503_not_500(database_url: str, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # nothing listens once the probe is closed
    async with ingest_on(via(database_url, closed_port), tmp_path, lifespan=False) as (client, admin):
        for name, request in calls(admin, "cam_some-key", "cam_other-key", seed=1):
            assert_unavailable(name, await client.request(**request))
