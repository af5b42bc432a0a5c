"""Two ingest replicas on one PostgreSQL database and the real Kafka broker: a frame sent to both
is published once, and key rotation on one reaches the other within the credential cache's TTL."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from anpr.v1 import frame_pb2
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus import Record
from anpr_core.bus.kafka import KafkaBus
from anpr_core.db import make_engine
from anpr_core.events import Topics
from anpr_core.migrations import migrate
from anpr_ingest.adapters.migrations import HISTORY
from anpr_ingest.bootstrap import build_app
from anpr_ingest.settings import IngestSettings

pytestmark = pytest.mark.integration


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


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (160, 120), (90, 60, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


class SlowBus:
    """The real bus, with a pause before each publish so two replicas' requests overlap."""

    def __init__(self, inner: KafkaBus, pause_s: float) -> None:
        self.inner = inner
        self.pause_s = pause_s

    async def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: Sequence[tuple[str, bytes]] = ()
    ) -> None:
        await asyncio.sleep(self.pause_s)
        await self.inner.publish(topic, key, value, headers)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@asynccontextmanager
async def replicas(
    tmp_path: Path, kafka_bootstrap: str, topic_prefix: str, database_url: str, **settings: Any
) -> AsyncIterator[tuple[list[httpx.AsyncClient], KafkaBus, DevIssuer]]:
    topics = Topics(topic_prefix)
    bus = KafkaBus(kafka_bootstrap, client_id="ingest-replicas", topics=topics.all(), partitions=1)
    issuer = DevIssuer(tmp_path / "key.pem")
    await bus.start()
    async with AsyncExitStack() as stack:
        stack.push_async_callback(bus.stop)
        clients = []
        for n in range(2):
            engine = make_engine(database_url, "ingest", tmp_path)
            stack.push_async_callback(engine.dispose)
            app = build_app(
                IngestSettings(
                    data_dir=tmp_path,
                    topic_prefix=topic_prefix,
                    kafka_bootstrap=kafka_bootstrap,
                    database_url=database_url,
                    **settings,
                ),
                SlowBus(bus, 0.3),
                engine,
                issuer,
            )
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://replica-{n}")
            clients.append(await stack.enter_async_context(client))
        yield clients, bus, issuer


async def frames_on(bus: KafkaBus, topic: str, group: str, want: int) -> list[Record]:
    consumer = bus.consumer([topic], group)
    await consumer.start()
    taken: list[Record] = []
    try:
        deadline = time.monotonic() + 20
        # Read a little past `want` so an extra (duplicate) record would be seen too.
        while time.monotonic() < deadline and (len(taken) < want or time.monotonic() < deadline - 17):
            taken.extend(await consumer.poll(timeout_s=0.5, max_records=100))
    finally:
        await consumer.stop()
    return taken


async def test_two_replicas_racing_on_one_frame_publish_it_once(
    tmp_path: Path, kafka_bootstrap: str, topic_prefix: str, database_url: str
) -> None:
    async with replicas(tmp_path, kafka_bootstrap, topic_prefix, database_url) as (clients, bus, issuer):
        admin = {"Authorization": f"Bearer {issuer.issue('root', Role.ADMIN)}"}
        created = await clients[0].post(
            "/v1/cameras", json={"camera_id": "cam-1", "name": "x", "direction": "in"}, headers=admin
        )
        key = created.json()["api_key"]
        data = {"camera_id": "cam-1", "captured_at": datetime.now(UTC).isoformat()}
        files = {"image": ("f.jpg", jpeg(), "image/jpeg")}
        answers = await asyncio.gather(
            *(
                client.post("/v1/frames", headers={"X-Camera-Key": key}, data=data, files=files)
                for client in clients
            )
        )
        assert [a.status_code for a in answers] == [202, 202]
        bodies = [a.json() for a in answers]
        assert bodies[0]["event_id"] == bodies[1]["event_id"]
        assert sorted(b["duplicate"] for b in bodies) == [False, True]

        records = await frames_on(bus, Topics(topic_prefix).frames, f"{topic_prefix}race", want=1)
        assert [frame_pb2.Frame.FromString(r.value).meta.event_id for r in records] == [bodies[0]["event_id"]]


async def test_rotation_reaches_the_other_replica_within_the_cache_ttl(
    tmp_path: Path, kafka_bootstrap: str, topic_prefix: str, database_url: str
) -> None:
    ttl = 1.0
    async with replicas(
        tmp_path, kafka_bootstrap, topic_prefix, database_url, credential_cache_ttl_s=ttl
    ) as (clients, _bus, issuer):
        admin = {"Authorization": f"Bearer {issuer.issue('root', Role.ADMIN)}"}
        old = (
            await clients[0].post(
                "/v1/cameras", json={"camera_id": "cam-1", "name": "x", "direction": "in"}, headers=admin
            )
        ).json()["api_key"]

        async def send(client: httpx.AsyncClient, key: str) -> int:
            response = await client.post(
                "/v1/frames",
                headers={"X-Camera-Key": key},
                data={"camera_id": "cam-1", "captured_at": datetime.now(UTC).isoformat()},
                files={"image": ("f.jpg", jpeg(), "image/jpeg")},
            )
            return response.status_code

        assert await send(clients[1], old) == 202  # replica 1 now caches the old key
        rotated_at = time.monotonic()
        new = (await clients[0].post("/v1/cameras/cam-1/key", headers=admin)).json()["api_key"]
        assert await send(clients[0], old) == 401, "at once on the replica that rotated"
        assert await send(clients[0], new) == 202
        while await send(clients[1], old) == 202:
            assert time.monotonic() - rotated_at < ttl + 1.0, "the old key outlived the cache TTL"
            await asyncio.sleep(0.1)
        assert await send(clients[1], new) == 202
