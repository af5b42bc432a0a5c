"""The audit consumer on real Kafka and PostgreSQL: a crash between append and offset commit loses
nothing and duplicates nothing; three producers at once give one unbroken chain; the anchor topic
keeps every signed checkpoint, so a wiped log is found from it alone."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from functools import partial
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_audit.adapters.anchor_topic import TOPIC_CONFIG, AnchorTopic
from anpr_audit.adapters.audit_log import AuditLog
from anpr_audit.adapters.migrations import HISTORY
from anpr_audit.adapters.tables import SCHEMA
from anpr_audit.domain.chain import StoredRow
from anpr_audit.entrypoints.consumers import on_audit_batch
from anpr_audit.handlers.chain_watch import ChainWatch
from anpr_core.auditing import AuditTrail
from anpr_core.auth import Principal, Role
from anpr_core.bus import Bus, Consumer, Record
from anpr_core.bus.kafka import KafkaBus
from anpr_core.consume import ConsumerWorker
from anpr_core.db import make_engine
from anpr_core.events import Topics
from anpr_core.migrations import migrate
from conftest import DatabaseRoles

pytestmark = pytest.mark.integration

KEY = Ed25519PrivateKey.generate()
TOTAL_EVENTS = 10_000


class Crash(BaseException):
    """Stands for the process dying: not an Exception, so the worker does not catch and retry it."""


class CrashBeforeCommit:
    """A consumer that dies when asked to commit: the batch is appended, its offsets never committed."""

    def __init__(self, inner: Consumer) -> None:
        self._inner = inner
        self.crashed = asyncio.Event()

    async def start(self) -> None:
        await self._inner.start()

    async def stop(self) -> None:
        await self._inner.stop()

    async def poll(self, timeout_s: float, max_records: int) -> list[Record]:
        return await self._inner.poll(timeout_s, max_records)

    async def commit(self, records: Sequence[Record]) -> None:
        self.crashed.set()
        raise Crash

    def lag(self) -> dict[tuple[str, int], int]:
        return self._inner.lag()


class CrashingBus:
    def __init__(self, inner: KafkaBus) -> None:
        self._inner = inner
        self.consumers: list[CrashBeforeCommit] = []

    def consumer(self, topics: Sequence[str], group_id: str) -> Consumer:
        wrapped = CrashBeforeCommit(self._inner.consumer(topics, group_id))
        self.consumers.append(wrapped)
        return wrapped

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


@pytest.fixture
async def engine(database_roles: DatabaseRoles, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """The runtime role's engine (INSERT and SELECT only), after the owner role migrated."""
    created = make_engine(database_roles.app_url, SCHEMA, tmp_path)
    await migrate(created, database_roles.owner_url, HISTORY)  # as `anpr migrate audit`
    try:
        yield created
    finally:
        await created.dispose()


@pytest.fixture
async def kafka(kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[KafkaBus]:
    topics = Topics(topic_prefix)
    bus = KafkaBus(kafka_bootstrap, client_id="audit-test", topics=topics.all(), compacted=topics.compacted())
    await bus.start()
    yield bus
    await bus.stop()


def audit_worker(bus: Bus, log: AuditLog, topics: Topics) -> ConsumerWorker:
    # The service's own consumer, on a worker that backs off faster than the service's.
    return ConsumerWorker(
        bus,
        topics=[topics.audit],
        group_id=topics.group("audit"),
        batch_handler=partial(on_audit_batch, log),
        dlq_topic=topics.dlq,
        service="audit",
        zone_id="5344",
        max_records=2000,
        backoff_s=0.05,
    )


async def until(condition_met: object, timeout_s: float = 45.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition_met():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def test_a_crash_between_append_and_commit_neither_duplicates_nor_loses(
    engine: AsyncEngine, kafka: KafkaBus, topic_prefix: str
) -> None:
    topics = Topics(topic_prefix)
    log = AuditLog(engine)
    trail = AuditTrail(kafka, topics.audit, "5344", "access")
    investigator = Principal("alice", Role.INVESTIGATOR, "5344")
    published = [await trail.record(investigator, "search", case_reference=f"PV/{n}") for n in range(60)]

    crashing = CrashingBus(kafka)
    doomed = audit_worker(crashing, log, topics)  # type: ignore[arg-type]
    doomed.start()
    await until(lambda: _crashed(crashing))
    with pytest.raises(Crash):
        await doomed.stop()
    appended_before_crash = await log.count()
    assert appended_before_crash > 0, "the batch was appended before the offsets were to be committed"

    successor = audit_worker(kafka, log, topics)
    successor.start()
    try:
        await until(lambda: _has(log, 60))
        await asyncio.sleep(1.0)  # anything redelivered late would show up now
    finally:
        await successor.stop()
    result = await log.verify(KEY.public_key())
    assert (result.valid, result.rows_checked, result.head_seq) == (True, 60, 60), result
    stored = {row.event_id async for row in _event_ids(log)}
    assert stored == {event.meta.event_id for event in published}


async def test_three_producers_at_once_give_one_unbroken_chain(
    engine: AsyncEngine,
    kafka_bootstrap: str,
    kafka: KafkaBus,
    topic_prefix: str,
    database_roles: DatabaseRoles,
    tmp_path: Path,
) -> None:
    topics = Topics(topic_prefix)
    # Two audit replicas in one consumer group, on their own engines: the advisory lock keeps one chain.
    replica_engine = make_engine(database_roles.app_url, SCHEMA, tmp_path)
    replicas = [
        audit_worker(kafka, AuditLog(engine), topics),
        audit_worker(kafka, AuditLog(replica_engine), topics),
    ]
    for replica in replicas:
        replica.start()
    producers = [KafkaBus(kafka_bootstrap, client_id=f"producer-{n}") for n in range(3)]
    log = AuditLog(engine)
    try:
        for producer in producers:
            await producer.start()

        async def produce(bus: KafkaBus, service: str, count: int) -> None:
            trail = AuditTrail(bus, topics.audit, "5344", service)
            actor = Principal(f"user-{service}", Role.INVESTIGATOR, "5344")
            for start in range(0, count, 250):
                await asyncio.gather(
                    *(
                        trail.record(actor, "search", case_reference=f"PV/{n}")
                        for n in range(start, min(count, start + 250))
                    )
                )

        shares = [TOTAL_EVENTS - 2 * (TOTAL_EVENTS // 3), TOTAL_EVENTS // 3, TOTAL_EVENTS // 3]
        services = ("access", "match", "ingest")
        await asyncio.gather(*(produce(*job) for job in zip(producers, services, shares, strict=True)))
        await until(lambda: _has(log, TOTAL_EVENTS))
    finally:
        for replica in replicas:
            await replica.stop()
        for producer in producers:
            await producer.stop()
        await replica_engine.dispose()
    result = await log.verify(KEY.public_key())
    assert (result.valid, result.rows_checked, result.head_seq) == (True, TOTAL_EVENTS, TOTAL_EVENTS), result


async def test_the_anchor_topic_keeps_every_checkpoint_and_shows_a_wiped_log(
    engine: AsyncEngine,
    kafka: KafkaBus,
    kafka_bootstrap: str,
    topic_prefix: str,
    database_roles: DatabaseRoles,
    tmp_path: Path,
) -> None:
    topic = AnchorTopic(kafka, kafka_bootstrap, f"{topic_prefix}anpr.audit.anchors.v1", "5344")
    await topic.ensure()
    await topic.ensure()  # a second replica, or a restart
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic.topic])
        assert len(described["partitions"]) == 1
        assert TOPIC_CONFIG.items() <= (await topic._config(admin)).items()
    finally:
        await admin.close()
    log = AuditLog(engine)
    watch = ChainWatch(log, KEY, interval_s=60, anchors=[topic])
    signed = []
    for n in range(3):
        await log.append_batch(
            [AuditTrail(kafka, "unused", "5344", "access").event(None, "login", detail=str(n))]
        )
        checkpoint = await watch.checkpoint()
        assert checkpoint is not None
        signed.append(checkpoint)
    assert await topic.newest() == signed[-1]
    assert await topic.read() == signed
    # The owner wipes the log and its checkpoints; a service started again knows only the topic.
    owner = make_engine(database_roles.owner_url, SCHEMA, tmp_path)
    try:
        async with owner.begin() as conn:
            for statement in (
                "ALTER TABLE audit.audit_log DISABLE TRIGGER USER",
                "ALTER TABLE audit.checkpoints DISABLE TRIGGER USER",
                "DELETE FROM audit.audit_log",
                "DELETE FROM audit.checkpoints",
            ):
                await conn.execute(text(statement))
    finally:
        await owner.dispose()
    reader = AnchorTopic(kafka, kafka_bootstrap, topic.topic, "5344")
    try:
        verdict = await ChainWatch(log, KEY, interval_s=60, anchors=[reader]).verify()
    finally:
        await reader.close()
        await watch.stop()
    assert (verdict.valid, verdict.rows_checked, verdict.first_broken_seq) == (False, 0, 1)
    assert "wiped" in verdict.reason and "anchor topic" in verdict.reason


async def _crashed(bus: CrashingBus) -> bool:
    return any(consumer.crashed.is_set() for consumer in bus.consumers)


async def _has(log: AuditLog, count: int) -> bool:
    return await log.count() >= count


async def _event_ids(log: AuditLog) -> AsyncIterator[StoredRow]:
    async for rows in log.stored_rows():
        for row in rows:
            yield row
