"""The audit log on real PostgreSQL: append-only in the database itself, one chain across replicas,
a writer role that cannot change rows, and signed checkpoints that catch what the owner could do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr.v1 import audit_pb2
from anpr_audit.chain import micros, sign_checkpoint
from anpr_audit.storage import SCHEMA, AuditLog, install_append_only_guards, install_writer_role, metadata
from anpr_audit.watch import ChainWatch
from anpr_core.db import create_schema, make_engine
from anpr_core.events import new_meta, utcnow

pytestmark = pytest.mark.integration

WRITER = "schild_audit_writer"
KEY = Ed25519PrivateKey.generate()


def _event(n: int) -> audit_pb2.AuditEvent:
    return audit_pb2.AuditEvent(
        meta=new_meta("5344", "test"),
        actor=audit_pb2.Actor(user_id=f"user-{n % 3}", role="investigator", zone_id="5344"),
        action="search",
        case_reference=f"PV-{n}",
        service="access",
        outcome="allowed",
    )


@pytest.fixture
async def engine(database_url: str, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    created = make_engine(database_url, SCHEMA, tmp_path)
    await create_schema(created, metadata, SCHEMA)
    await install_append_only_guards(created)
    try:
        yield created
    finally:
        await created.dispose()


@pytest.fixture
async def log(engine: AsyncEngine) -> AuditLog:
    role = await install_writer_role(engine, WRITER)
    assert role == WRITER, "the test cluster's role has CREATEROLE, so the writer role must be set up"
    return AuditLog(engine, role)


async def _as_owner(engine: AsyncEngine, *statements: str) -> None:
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit.audit_log SET action = 'nothing' WHERE seq = 1",
        "DELETE FROM audit.audit_log WHERE seq = 1",
        "TRUNCATE audit.audit_log",
        "UPDATE audit.checkpoints SET head_hash = 'x'",
        "DELETE FROM audit.checkpoints",
    ],
)
async def test_changing_or_removing_rows_is_refused_by_the_database(
    engine: AsyncEngine, log: AuditLog, statement: str
) -> None:
    for n in range(3):
        assert await log.append(_event(n))
    await ChainWatch(log, KEY, interval_s=60).checkpoint()
    with pytest.raises(DBAPIError, match="append-only"):
        await _as_owner(engine, statement)
    assert await log.count() == 3
    assert (await log.verify(KEY.public_key())).valid


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit.audit_log SET action = 'nothing' WHERE seq = 1",
        "DELETE FROM audit.audit_log WHERE seq = 1",
        "TRUNCATE audit.audit_log",
        "DELETE FROM audit.checkpoints",
        "ALTER TABLE audit.audit_log DISABLE TRIGGER USER",
    ],
)
async def test_the_writer_role_cannot_change_rows_even_with_the_triggers_off(
    engine: AsyncEngine, log: AuditLog, statement: str
) -> None:
    for n in range(3):
        assert await log.append(_event(n))
    await ChainWatch(log, KEY, interval_s=60).checkpoint()
    await _as_owner(
        engine,
        "ALTER TABLE audit.audit_log DISABLE TRIGGER USER",
        "ALTER TABLE audit.checkpoints DISABLE TRIGGER USER",
    )
    try:
        with pytest.raises(DBAPIError, match="permission denied|must be owner"):
            await _as_owner(engine, f"SET LOCAL ROLE {WRITER}", statement)
    finally:
        await _as_owner(
            engine,
            "ALTER TABLE audit.audit_log ENABLE TRIGGER USER",
            "ALTER TABLE audit.checkpoints ENABLE TRIGGER USER",
        )
    assert await log.count() == 3
    assert (await log.verify(KEY.public_key())).valid


async def test_the_appender_writes_as_the_writer_role(engine: AsyncEngine, log: AuditLog) -> None:
    assert await log.append(_event(1))
    async with engine.connect() as conn:
        grants = (
            await conn.execute(
                text(
                    "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
                    "WHERE grantee = :role AND table_schema = 'audit'"
                ),
                {"role": WRITER},
            )
        ).all()
    assert {(t, p) for t, p in grants} == {
        ("audit_log", "INSERT"),
        ("audit_log", "SELECT"),
        ("checkpoints", "INSERT"),
        ("checkpoints", "SELECT"),
    }


async def test_a_row_changed_behind_the_services_back_is_found_by_verify(
    engine: AsyncEngine, log: AuditLog
) -> None:
    for n in range(5):
        await log.append(_event(n))
    # The table's owner can still switch the guard off: the chain is what catches it then.
    await _as_owner(
        engine,
        "ALTER TABLE audit.audit_log DISABLE TRIGGER audit_log_no_update",
        "UPDATE audit.audit_log SET content = content || '\\x00'::bytea WHERE seq = 4",
        "ALTER TABLE audit.audit_log ENABLE TRIGGER audit_log_no_update",
    )
    result = await log.verify(KEY.public_key())
    assert not result.valid
    assert result.first_broken_seq == 4
    assert result.rows_checked == 3


async def test_deleting_rows_from_the_end_is_found_by_the_signed_checkpoint(
    engine: AsyncEngine, log: AuditLog
) -> None:
    for n in range(6):
        await log.append(_event(n))
    signed = await ChainWatch(log, KEY, interval_s=60).checkpoint()
    assert signed is not None and signed.seq == 6
    assert (await log.verify(KEY.public_key())).valid
    await _as_owner(
        engine,
        "ALTER TABLE audit.audit_log DISABLE TRIGGER USER",
        "DELETE FROM audit.audit_log WHERE seq > 4",
        "ALTER TABLE audit.audit_log ENABLE TRIGGER USER",
    )
    result = await log.verify(KEY.public_key())
    assert not result.valid
    assert result.first_broken_seq == 5
    assert "truncated" in result.reason
    # A period that ends before the cut still reports it: truncation is a property of the log.
    assert not (await log.verify(KEY.public_key(), after_seq=1, last_seq=3)).valid


async def test_a_forged_checkpoint_is_found(engine: AsyncEngine, log: AuditLog) -> None:
    for n in range(3):
        await log.append(_event(n))
    head_seq, head_hash = await log.head()
    forged = sign_checkpoint(Ed25519PrivateKey.generate(), head_seq, head_hash, micros(utcnow()))
    await log.add_checkpoint(forged)
    result = await log.verify(KEY.public_key())
    assert (result.valid, result.first_broken_seq) == (False, 3)
    assert "signature" in result.reason


async def test_redelivered_events_are_appended_once(log: AuditLog) -> None:
    event = _event(1)
    assert await log.append(event)
    assert not await log.append(event)
    batch = [_event(2), event, _event(3)]
    appended = await log.append_batch([*batch, batch[0]])
    assert [e.meta.event_id for e in appended] == [batch[0].meta.event_id, batch[2].meta.event_id]
    assert await log.count() == 3
    assert (await log.verify(KEY.public_key())).valid


async def test_replicas_appending_at_once_keep_one_unbroken_chain(
    engine: AsyncEngine, log: AuditLog, database_url: str, tmp_path: Path
) -> None:
    replicas = [make_engine(database_url, SCHEMA, tmp_path) for _ in range(3)]
    try:

        async def produce(replica: AsyncEngine, offset: int) -> None:
            writer = AuditLog(replica, WRITER)
            for n in range(0, 60, 4):
                await writer.append_batch([_event(offset + n + i) for i in range(4)])
            for n in range(20):
                await writer.append(_event(offset + 100 + n))

        await asyncio.gather(*(produce(replica, 1000 * i) for i, replica in enumerate(replicas)))
    finally:
        for replica in replicas:
            await replica.dispose()
    result = await log.verify(KEY.public_key())
    assert (result.valid, result.rows_checked, result.head_seq) == (True, 240, 240)
