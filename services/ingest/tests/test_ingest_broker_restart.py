"""Broker down and back, on a throwaway Kafka broker of this test's own (the shared one stays up):
ingest answers 503 with Retry-After within a bounded time, recovers, and loses no accepted frame;
what it answered 503 for may still arrive, and a camera's resend of it is the same event."""

from __future__ import annotations

import asyncio
import io
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import Column, MetaData, String, Table, func, select

from anpr.v1 import frame_pb2, read_pb2
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus.kafka import KafkaBus
from anpr_core.db import insert_ignoring_duplicates, make_engine, session_factory
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


INFRA = Path(__file__).resolve().parents[3] / "scripts" / "infra.sh"
DELIVERY_TIMEOUT_MS = 3000


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class ThrowawayBroker:
    environment: dict[str, str]
    bootstrap: str

    def _infra(self, command: str) -> None:
        result = subprocess.run(  # noqa: S603 - our own script, fixed arguments
            [str(INFRA), command], env=self.environment, capture_output=True, text=True, timeout=180
        )
        assert result.returncode == 0, result.stderr[-3000:]

    def start(self) -> None:
        self._infra("kafka-up")

    def stop(self) -> None:
        self._infra("kafka-down")


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThrowawayBroker]:
    port = free_port()
    environment = {
        **os.environ,
        "SCHILD_INFRA_DIR": str(tmp_path_factory.mktemp("throwaway-kafka")),
        "SCHILD_KAFKA_PORT": str(port),
        "SCHILD_KAFKA_CONTROLLER_PORT": str(free_port()),
    }
    throwaway = ThrowawayBroker(environment, f"127.0.0.1:{port}")
    throwaway.start()
    try:
        yield throwaway
    finally:
        throwaway.stop()


def jpeg(seed: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (160, 120), (seed % 256, 60, 30)).save(buffer, format="JPEG")
    return buffer.getvalue()


async def test_broker_down_gives_503_and_no_accepted_frame_is_lost(
    broker: ThrowawayBroker, tmp_path: Path, topic_prefix: str, database_url: str
) -> None:
    topics = Topics(topic_prefix)
    bus = KafkaBus(
        broker.bootstrap,
        client_id="ingest-restart",
        topics=topics.all(),
        partitions=1,
        delivery_timeout_ms=DELIVERY_TIMEOUT_MS,
    )
    engine = make_engine(database_url, "ingest", tmp_path)
    issuer = DevIssuer(tmp_path / "key.pem")
    settings = IngestSettings(
        data_dir=tmp_path,
        topic_prefix=topic_prefix,
        kafka_bootstrap=broker.bootstrap,
        database_url=database_url,
    )
    app = build_app(settings, bus, engine, issuer)
    accepted: list[str] = []
    sent = 0

    async def send(client: httpx.AsyncClient, key: str) -> httpx.Response:
        nonlocal sent
        sent += 1
        response = await client.post(
            "/v1/frames",
            headers={"X-Camera-Key": key},
            data={"camera_id": "cam-1", "captured_at": datetime.now(UTC).isoformat()},
            files={"image": ("f.jpg", jpeg(sent), "image/jpeg")},
        )
        if response.status_code == 202:
            accepted.append(response.json()["event_id"])
        return response

    await bus.start()
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest") as client,
        ):
            admin = {"Authorization": f"Bearer {issuer.issue('root', Role.ADMIN)}"}
            created = await client.post(
                "/v1/cameras", json={"camera_id": "cam-1", "name": "x", "direction": "in"}, headers=admin
            )
            key = created.json()["api_key"]
            for _ in range(5):
                assert (await send(client, key)).status_code == 202

            # 1. The broker goes away: a bounded wait, then 503 with Retry-After; never a 202.
            broker.stop()
            started = time.monotonic()
            refused = await send(client, key)
            waited = time.monotonic() - started
            assert refused.status_code == 503, refused.text
            assert int(refused.headers["retry-after"]) > 0
            assert waited < DELIVERY_TIMEOUT_MS / 1000 + 5
            assert len(accepted) == 5

            # 2. It comes back: the producer reconnects and frames are taken again.
            broker.start()
            deadline = time.monotonic() + 60
            while (await send(client, key)).status_code != 202:
                assert time.monotonic() < deadline, "ingest did not recover after the broker came back"
            for _ in range(5):
                assert (await send(client, key)).status_code == 202

        # 3. Every frame answered with 202 is on the topic.
        consumer = bus.consumer([topics.frames], f"{topic_prefix}check")
        await consumer.start()
        found: set[str] = set()
        try:
            deadline = time.monotonic() + 30
            while not set(accepted) <= found and time.monotonic() < deadline:
                for record in await consumer.poll(timeout_s=1.0, max_records=100):
                    found.add(frame_pb2.Frame.FromString(record.value).meta.event_id)
        finally:
            await consumer.stop()
        assert len(accepted) >= 11
        assert set(accepted) <= found, f"lost: {set(accepted) - found}"
    finally:
        await bus.stop()
        await engine.dispose()


async def test_reads_answered_503_in_an_outage_and_resent_are_stored_once(
    broker: ThrowawayBroker, tmp_path: Path, topic_prefix: str, database_url: str
) -> None:
    """The outside test's finding, replayed: reads sent while the broker is away are answered 503,
    and the producer may still deliver them once it is back; the camera sends each again. Kafka may
    then hold two records of a read, but always under one event id (the one the 503 named), so a sink
    idempotent on event ids, as every sink is, stores each read once."""
    topics = Topics(topic_prefix)
    bus = KafkaBus(
        broker.bootstrap,
        client_id="ingest-resend",
        topics=topics.all(),
        partitions=1,
        delivery_timeout_ms=DELIVERY_TIMEOUT_MS,
    )
    engine = make_engine(database_url, "ingest", tmp_path)
    issuer = DevIssuer(tmp_path / "key.pem")
    settings = IngestSettings(data_dir=tmp_path, topic_prefix=topic_prefix, database_url=database_url)
    app = build_app(settings, bus, engine, issuer)
    captured_at = datetime.now(UTC).isoformat()
    plates = [f"1ABC{n:03d}" for n in range(6)]

    async def send(client: httpx.AsyncClient, key: str, plate: str) -> httpx.Response:
        form = {"camera_id": "cam-smart", "captured_at": captured_at, "text": plate, "confidence": "0.9"}
        return await client.post("/v1/reads", headers={"X-Camera-Key": key}, data=form)

    await bus.start()
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://ingest") as client,
        ):
            admin = {"Authorization": f"Bearer {issuer.issue('root', Role.ADMIN)}"}
            created = await client.post(
                "/v1/cameras",
                json={"camera_id": "cam-smart", "name": "x", "direction": "in", "kind": "smart"},
                headers=admin,
            )
            key = created.json()["api_key"]

            # 1. The broker goes away: each read is answered 503, saying it may be stored, and its id.
            broker.stop()
            refused = await asyncio.gather(*(send(client, key, plate) for plate in plates))
            named: dict[str, str] = {}
            for plate, response in zip(plates, refused, strict=True):
                assert response.status_code == 503, response.text
                assert int(response.headers["retry-after"]) > 0
                assert response.json()["stored"] == "unknown"
                assert "not stored" not in response.json()["detail"]
                named[plate] = response.json()["event_id"]
            assert len(set(named.values())) == len(plates)

            # 2. It comes back; the camera sends each read again until it is taken: the same event.
            broker.start()
            deadline = time.monotonic() + 60
            for plate in plates:
                while (taken := await send(client, key, plate)).status_code != 202:
                    assert taken.status_code == 503, taken.text
                    assert time.monotonic() < deadline, "ingest did not recover after the broker came back"
                assert taken.json()["event_id"] == named[plate]
                again = await send(client, key, plate)
                assert again.json() == {**taken.json(), "duplicate": True}

        # 3. Kafka: every record of a read carries the id its 503 named; late deliveries included.
        consumer = bus.consumer([topics.reads], f"{topic_prefix}check")
        await consumer.start()
        records: list[read_pb2.PlateRead] = []
        try:
            deadline = time.monotonic() + 30
            while {r.plate for r in records} < set(plates) and time.monotonic() < deadline:
                for record in await consumer.poll(timeout_s=1.0, max_records=100):
                    records.append(read_pb2.PlateRead.FromString(record.value))
            # Anything the producer still had from the outage has been delivered by now, or never will.
            for record in await consumer.poll(timeout_s=2.0, max_records=100):
                records.append(read_pb2.PlateRead.FromString(record.value))
        finally:
            await consumer.stop()
        assert {r.plate for r in records} == set(plates)
        assert {(r.plate, r.meta.event_id) for r in records} == set(named.items())
        assert len(records) >= len(plates)

        # 4. A sink idempotent on event_id (INSERT ... ON CONFLICT DO NOTHING, as access stores reads)
        #    keeps one row per read, however many records Kafka holds.
        sink = Table("reads_sink", MetaData(), Column("event_id", String(36), primary_key=True))
        async with engine.begin() as connection:
            await connection.run_sync(sink.metadata.create_all)
        async with session_factory(engine).begin() as session:
            for read in records:
                await insert_ignoring_duplicates(session, sink, [{"event_id": read.meta.event_id}])
        async with session_factory(engine)() as session:
            assert await session.scalar(select(func.count()).select_from(sink)) == len(plates)
    finally:
        await bus.stop()
        await engine.dispose()
