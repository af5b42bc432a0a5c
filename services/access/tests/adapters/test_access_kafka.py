"""Access on the real platform: reads and hits from Kafka into month partitions on PostgreSQL,
a justified search, and its audit event on the Kafka audit topic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from anpr.v1 import audit_pb2, common_pb2, read_pb2
from anpr_access.bootstrap import build_app
from anpr_access.domain.retention import Month
from anpr_access.settings import AccessSettings
from anpr_core.auth import DevIssuer, Role
from anpr_core.bus.kafka import KafkaBus
from anpr_core.db import make_engine
from anpr_core.events import Topics, new_meta, to_timestamp

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_anpr_environment")]


@pytest.fixture
async def bus(kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[KafkaBus]:
    topics = Topics(topic_prefix)
    kafka = KafkaBus(
        kafka_bootstrap, client_id="access-test", topics=topics.all(), compacted=topics.compacted()
    )
    await kafka.start()
    yield kafka
    await kafka.stop()


async def test_reads_from_kafka_land_in_month_partitions_and_searches_are_audited_on_kafka(
    bus: KafkaBus, topic_prefix: str, migrated_database_url: str, tmp_path: Path
) -> None:
    topics = Topics(topic_prefix)
    issuer = DevIssuer(tmp_path / "key.pem")
    engine = make_engine(migrated_database_url, "access", tmp_path)
    settings = AccessSettings(data_dir=tmp_path, topic_prefix=topic_prefix, retention_interval_s=0)
    app = build_app(settings, bus, engine, issuer)
    # Ten weeks back: a month with no partition made ahead, so the consumer must create it.
    ages = (timedelta(minutes=3), timedelta(days=70))
    sent = [
        read_pb2.PlateRead(
            meta=new_meta("5344", "detect"),
            camera_id="cam-1",
            captured_at=to_timestamp(datetime.now(UTC) - age),
            direction=common_pb2.DIRECTION_IN,
            plate="1ABC234",
            formatted="1-ABC-234",
            country="BE",
            format_valid=True,
            confidence=0.9,
            plate_crop=b"\xff\xd8crop",
            reader="test",
        )
        for age in ages
    ]
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client,
        ):
            for read in [*sent, sent[0]]:  # the last one is a redelivery
                await bus.publish(topics.reads, b"cam-1", read.SerializeToString())
            params = {
                "plate": "1ABC234",
                "purpose": "judicial",
                "case_reference": "PV/2026/5",
                "legal_basis": "art. 44/5 WPA",
                "prosecutor_decision": "PR/2026/1",
                "since": (datetime.now(UTC) - timedelta(days=100)).isoformat(),
            }
            headers = {"Authorization": f"Bearer {issuer.issue('ivan', Role.INVESTIGATOR)}"}
            deadline = time.monotonic() + 30
            while True:
                page = (await client.get("/v1/passages", params=params, headers=headers)).json()
                if len(page["items"]) == 2 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.2)
            found = [read["event_id"] for item in page["items"] for read in item["reads"]]
            assert found == [r.meta.event_id for r in sent]
            async with engine.connect() as conn:
                partitions: dict[str, int] = dict(
                    (
                        await conn.execute(
                            text("SELECT tableoid::regclass::text, count(*) FROM access.reads GROUP BY 1")
                        )
                    ).all()
                )
            old_month = Month.of(datetime.now(UTC) - ages[1]).partition
            assert partitions == {
                f"access.{Month.of(datetime.now(UTC)).partition}": 1,
                f"access.{old_month}": 1,
            }
    finally:
        await engine.dispose()

    consumer = bus.consumer([topics.audit], topics.group("audit-check"))
    await consumer.start()
    searches: list[audit_pb2.AuditEvent] = []
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any(e.record_count == 2 for e in searches):
            for record in await consumer.poll(timeout_s=0.5, max_records=100):
                event = audit_pb2.AuditEvent()
                event.ParseFromString(record.value)
                searches.append(event)
    finally:
        await consumer.stop()
    final = [e for e in searches if e.record_count == 2]
    assert final, "the search's audit event did not reach the Kafka audit topic"
    assert (final[0].action, final[0].actor.user_id, final[0].prosecutor_decision) == (
        "search",
        "ivan",
        "PR/2026/1",
    )
