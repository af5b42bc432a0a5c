"""What the chain watch tells the dashboard and the alerts, on SQLite: when it last finished a
verification (a stale time: the watch stopped), the chain's verdict, and per anchor store when it
last held the newest checkpoint (a store that refuses keeps its old time, and its failures count)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from prometheus_client import REGISTRY
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr.v1 import audit_pb2
from anpr_audit.adapters.anchor_file import AnchorFile
from anpr_audit.adapters.audit_log import AuditLog
from anpr_audit.adapters.tables import SCHEMA, audit_log, metadata
from anpr_audit.domain.checkpoints import Checkpoint
from anpr_audit.handlers.chain_watch import ChainWatch
from anpr_core.db import make_engine
from anpr_core.events import new_meta

KEY = Ed25519PrivateKey.generate()


class RefusingTopic:
    """An anchor topic whose broker refuses every write."""

    name = "anchor topic anpr.audit.anchors.v1"

    async def append(self, checkpoint: Checkpoint) -> None:
        raise ConnectionError("the broker did not acknowledge")

    async def newest(self) -> Checkpoint | None:
        return None

    async def since(self, after_seq: int) -> list[Checkpoint]:
        return []

    async def read(self, after_seq: int = 0, last_seq: int | None = None) -> list[Checkpoint]:
        return []

    async def close(self) -> None:
        return None


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    created = make_engine(None, SCHEMA, tmp_path)
    async with created.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        yield created
    finally:
        await created.dispose()


def sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def _append(log: AuditLog, count: int) -> None:
    for n in range(count):
        event = audit_pb2.AuditEvent(
            meta=new_meta("5344", "test"),
            actor=audit_pb2.Actor(user_id="alice", role="investigator", zone_id="5344"),
            action="search",
            case_reference=f"PV-{n}",
            service="access",
            outcome="allowed",
            purpose="judicial",
        )
        assert await log.append(event)


async def test_each_verification_is_timed_and_a_refusing_anchor_store_keeps_its_old_time(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    log = AuditLog(engine)
    anchor_file = AnchorFile(tmp_path / "anchors.jsonl", "5344")
    anchor_file.open()
    watch = ChainWatch(log, KEY, interval_s=60, anchors=[anchor_file, RefusingTopic()])
    refused = sample("anpr_audit_anchor_failures_total", store="topic") or 0.0
    await _append(log, 3)
    before = time.time()
    assert await watch.checkpoint() is not None
    after = time.time()

    verified = sample("anpr_audit_chain_verified_timestamp_seconds")
    assert verified is not None and before <= verified <= after
    assert sample("anpr_audit_chain_valid") == 1
    file_at = sample("anpr_audit_anchor_last_success_timestamp_seconds", store="file")
    assert file_at is not None and before <= file_at <= after
    topic_at = sample("anpr_audit_anchor_last_success_timestamp_seconds", store="topic")
    assert topic_at is None or topic_at < before, "the topic took nothing: its time is not renewed"
    assert sample("anpr_audit_anchor_failures_total", store="topic") == refused + 1

    # The head did not move: the file owes nothing and stays current; the topic still owes one.
    again = time.time()
    assert await watch.checkpoint() is not None
    assert (sample("anpr_audit_anchor_last_success_timestamp_seconds", store="file") or 0) >= again
    assert sample("anpr_audit_anchor_failures_total", store="topic") == refused + 2
    await watch.stop()


async def test_a_broken_chain_is_reported_at_every_verification(engine: AsyncEngine) -> None:
    log = AuditLog(engine)
    watch = ChainWatch(log, KEY, interval_s=60)
    await _append(log, 3)
    assert (await watch.check()).valid
    async with engine.begin() as connection:
        await connection.execute(update(audit_log).where(audit_log.c.seq == 2).values(action="nothing"))
    watch = ChainWatch(log, KEY, interval_s=60)  # a watch started again reads the tampered rows
    assert not (await watch.check()).valid
    assert sample("anpr_audit_chain_valid") == 0
    before = time.time()
    assert not (await watch.check()).valid, "a broken chain stays broken"
    assert (sample("anpr_audit_chain_verified_timestamp_seconds") or 0) >= before
    assert sample("anpr_audit_chain_valid") == 0
