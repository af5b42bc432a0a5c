"""The audit log on real PostgreSQL: append-only in the database itself, one chain across replicas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr.v1 import audit_pb2
from anpr_audit.chain import verify_chain
from anpr_audit.storage import SCHEMA, AuditLog, install_append_only_guards, metadata
from anpr_core.db import create_schema, make_engine
from anpr_core.events import new_meta

pytestmark = pytest.mark.integration


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


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit.audit_log SET action = 'nothing' WHERE seq = 1",
        "DELETE FROM audit.audit_log WHERE seq = 1",
        "TRUNCATE audit.audit_log",
    ],
)
async def test_changing_or_removing_rows_is_refused_by_the_database(
    engine: AsyncEngine, statement: str
) -> None:
    log = AuditLog(engine)
    for n in range(3):
        assert await log.append(_event(n))
    with pytest.raises(DBAPIError, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(text(statement))
    assert await log.count() == 3


async def test_a_row_changed_behind_the_services_back_is_found_by_verify(engine: AsyncEngine) -> None:
    log = AuditLog(engine)
    for n in range(5):
        await log.append(_event(n))
    # The table's owner can still switch the guard off: the chain is what catches it then.
    async with engine.begin() as conn:
        await conn.execute(text("ALTER TABLE audit.audit_log DISABLE TRIGGER audit_log_no_update"))
        await conn.execute(
            text("UPDATE audit.audit_log SET content = content || '\\x00'::bytea WHERE seq = 4")
        )
        await conn.execute(text("ALTER TABLE audit.audit_log ENABLE TRIGGER audit_log_no_update"))
    result = verify_chain([row async for row in log.chain_rows()])
    assert not result.valid
    assert result.first_broken_seq == 4


async def test_redelivered_events_are_appended_once(engine: AsyncEngine) -> None:
    log = AuditLog(engine)
    event = _event(1)
    assert await log.append(event)
    assert not await log.append(event)
    assert await log.count() == 1


async def test_replicas_appending_at_once_keep_one_unbroken_chain(
    engine: AsyncEngine, database_url: str, tmp_path: Path
) -> None:
    replicas = [make_engine(database_url, SCHEMA, tmp_path) for _ in range(3)]
    try:

        async def produce(replica: AsyncEngine, offset: int) -> None:
            log = AuditLog(replica)
            for n in range(60):
                await log.append(_event(offset + n))

        await asyncio.gather(*(produce(replica, 1000 * i) for i, replica in enumerate(replicas)))
    finally:
        for replica in replicas:
            await replica.dispose()
    rows = [row async for row in AuditLog(engine).chain_rows()]
    assert len(rows) == 180
    assert verify_chain(rows).valid
