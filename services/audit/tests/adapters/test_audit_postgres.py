"""The audit log on real PostgreSQL, run as production runs it: the owner role made the tables and
their triggers, the service writes as a runtime role that may only INSERT and SELECT and owns
nothing. Every attack of the runtime role is refused by the database; every attack of the owner
(or of a superuser, or a restored backup) is found by verify, with the first bad seq, through the
chain, the signed checkpoints and the anchors kept outside the database."""

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
from anpr_audit.adapters.anchor_file import AnchorFile
from anpr_audit.adapters.anchors import read_anchor_lines
from anpr_audit.adapters.audit_log import AuditLog
from anpr_audit.adapters.migrations import HISTORY
from anpr_audit.adapters.tables import SCHEMA
from anpr_audit.domain.chain import GENESIS, link_hash, micros
from anpr_audit.domain.checkpoints import sign_checkpoint
from anpr_audit.handlers.chain_watch import ChainWatch
from anpr_core.db import make_engine
from anpr_core.events import new_meta, utcnow
from anpr_core.migrations import migrate
from conftest import APP_ROLE, OWNER_ROLE, DatabaseRoles

pytestmark = pytest.mark.integration

KEY = Ed25519PrivateKey.generate()
GUARDS_OFF = (
    "ALTER TABLE audit.audit_log DISABLE TRIGGER USER",
    "ALTER TABLE audit.checkpoints DISABLE TRIGGER USER",
)
GUARDS_ON = (
    "ALTER TABLE audit.audit_log ENABLE TRIGGER USER",
    "ALTER TABLE audit.checkpoints ENABLE TRIGGER USER",
)


def _event(n: int) -> audit_pb2.AuditEvent:
    return audit_pb2.AuditEvent(
        meta=new_meta("5344", "test"),
        actor=audit_pb2.Actor(user_id=f"user-{n % 3}", role="investigator", zone_id="5344"),
        action="search",
        case_reference=f"PV-{n}",
        service="access",
        outcome="allowed",
        purpose="judicial",
    )


async def _migrate(runtime: AsyncEngine, owner_url: str) -> None:
    # `anpr migrate audit`: the owner makes the tables and their triggers, the runtime role INSERTs.
    await migrate(runtime, owner_url, HISTORY)


@pytest.fixture
async def engine(database_roles: DatabaseRoles, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """The service's runtime engine (schild_app), after the owner migrated."""
    created = make_engine(database_roles.app_url, SCHEMA, tmp_path)
    await _migrate(created, database_roles.owner_url)
    try:
        yield created
    finally:
        await created.dispose()


@pytest.fixture
async def owner(database_roles: DatabaseRoles, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """The owner role's engine: the attacker who owns the tables."""
    created = make_engine(database_roles.owner_url, SCHEMA, tmp_path)
    try:
        yield created
    finally:
        await created.dispose()


@pytest.fixture
def log(engine: AsyncEngine) -> AuditLog:
    return AuditLog(engine)


@pytest.fixture
async def anchor_file(tmp_path: Path) -> AsyncIterator[AnchorFile]:
    anchors = AnchorFile(tmp_path / "auditor" / "anchors.jsonl", "5344")
    anchors.open()
    try:
        yield anchors
    finally:
        await anchors.close()


@pytest.fixture
def watch(log: AuditLog, anchor_file: AnchorFile) -> ChainWatch:
    return ChainWatch(log, KEY, interval_s=60, anchors=[anchor_file])


def _restarted(log: AuditLog, anchor_file: AnchorFile) -> ChainWatch:
    """The watch of a service started again: it knows nothing but the database and the anchors."""
    return ChainWatch(log, KEY, interval_s=60, anchors=[AnchorFile(anchor_file.path, "5344")])


async def _as(engine: AsyncEngine, *statements: str) -> None:
    async with engine.begin() as conn:
        for statement in statements:
            await conn.execute(text(statement))


async def _tamper(owner: AsyncEngine, *statements: str) -> None:
    """What the tables' owner can do: switch the guards off, change what it likes, switch them on."""
    await _as(owner, *GUARDS_OFF, *statements, *GUARDS_ON)


async def _rehash_from(owner: AsyncEngine, first: int) -> None:
    """What an owner who knows the format does: recompute the hash of every row from `first` on."""
    rows = [row async for batch in AuditLog(owner).stored_rows() for row in batch]
    previous = rows[first - 2].row_hash if first > 1 else GENESIS
    updates = []
    for row in rows[first - 1 :]:
        chain = row.chain_row()
        row_hash = link_hash(
            previous,
            row.seq,
            chain.appended_us,
            row.content,
            occurred_us=chain.occurred_us,
            columns=chain.columns,
        )
        updates.append(
            f"UPDATE audit.audit_log SET previous_hash = '{previous}', row_hash = '{row_hash}' "  # noqa: S608
            f"WHERE seq = {row.seq}"
        )
        previous = row_hash
    await _tamper(owner, *updates)


async def _append(log: AuditLog, start: int, count: int) -> None:
    for n in range(start, start + count):
        assert await log.append(_event(n))


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
    owner: AsyncEngine, log: AuditLog, watch: ChainWatch, statement: str
) -> None:
    for n in range(3):
        assert await log.append(_event(n))
    await watch.checkpoint()
    with pytest.raises(DBAPIError, match="append-only"):
        await _as(owner, statement)
    assert await log.count() == 3
    assert (await log.verify(KEY.public_key())).valid


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("UPDATE audit.audit_log SET action = 'nothing' WHERE seq = 1", "permission denied"),
        ("UPDATE audit.audit_log SET actor_user = 'mallory' WHERE seq = 1", "permission denied"),
        ("DELETE FROM audit.audit_log WHERE seq = 1", "permission denied"),
        ("TRUNCATE audit.audit_log", "permission denied"),
        ("DELETE FROM audit.checkpoints", "permission denied"),
        ("UPDATE audit.checkpoints SET head_hash = 'x'", "permission denied"),
        ("ALTER TABLE audit.audit_log DISABLE TRIGGER USER", "must be owner"),
        ("ALTER TABLE audit.audit_log DISABLE TRIGGER audit_log_no_update", "must be owner"),
        ("ALTER TABLE audit.checkpoints DISABLE TRIGGER USER", "must be owner"),
        ("DROP TRIGGER audit_log_no_update ON audit.audit_log", "must be owner"),
        ("DROP TABLE audit.audit_log", "must be owner"),
        ("DROP SCHEMA audit CASCADE", "must be owner"),
        ("SET session_replication_role = replica", "permission denied"),
        (
            "CREATE OR REPLACE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql "
            "AS $$ BEGIN RETURN NULL; END $$",
            "must be owner|permission denied",
        ),
        (f"GRANT {OWNER_ROLE} TO {APP_ROLE}", "permission denied|must have admin option"),
    ],
)
async def test_the_runtime_role_cannot_change_rows_or_switch_the_guards_off(
    owner: AsyncEngine, engine: AsyncEngine, log: AuditLog, watch: ChainWatch, statement: str, refusal: str
) -> None:
    for n in range(3):
        assert await log.append(_event(n))
    await watch.checkpoint()
    # Even with the guards off (by their owner), the runtime role has no right to change a row.
    await _as(owner, *GUARDS_OFF)
    try:
        with pytest.raises(DBAPIError, match=refusal):
            await _as(engine, statement)
    finally:
        await _as(owner, *GUARDS_ON)
    assert await log.count() == 3
    assert (await log.verify(KEY.public_key())).valid


async def test_the_runtime_role_may_only_insert_and_select_and_owns_nothing(
    engine: AsyncEngine, log: AuditLog
) -> None:
    assert await log.append(_event(1))
    async with engine.connect() as conn:
        grants = (
            await conn.execute(
                text(
                    "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
                    "WHERE grantee = :role AND table_schema = 'audit'"
                ),
                {"role": APP_ROLE},
            )
        ).all()
        owners = (
            await conn.execute(
                text(
                    "SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'audit'"
                )
            )
        ).scalars()
        assert set(owners) == {OWNER_ROLE}
    assert {(t, p) for t, p in grants} == {
        ("audit_log", "INSERT"),
        ("audit_log", "SELECT"),
        ("checkpoints", "INSERT"),
        ("checkpoints", "SELECT"),
        ("alembic_version", "SELECT"),  # the schema's revision, which the service checks at start
    }


async def test_a_row_changed_behind_the_services_back_is_found_by_verify(
    owner: AsyncEngine, log: AuditLog
) -> None:
    for n in range(5):
        await log.append(_event(n))
    # The table's owner can still switch the guard off: the chain is what catches it then.
    await _as(
        owner,
        "ALTER TABLE audit.audit_log DISABLE TRIGGER audit_log_no_update",
        "UPDATE audit.audit_log SET content = content || '\\x00'::bytea WHERE seq = 4",
        "ALTER TABLE audit.audit_log ENABLE TRIGGER audit_log_no_update",
    )
    result = await log.verify(KEY.public_key())
    assert not result.valid
    assert result.first_broken_seq == 4
    assert result.rows_checked == 3


@pytest.mark.parametrize(
    "change",
    [
        "actor_user = 'someone-else'",
        "case_reference = 'PV-other'",
        "actor_role = 'auditor'",
        "action = 'login'",
        "service = 'ingest'",
        "outcome = 'refused'",
        "occurred_at = occurred_at - interval '1 day'",
        "event_id = '00000000-0000-7000-8000-000000000000'",
    ],
)
async def test_an_edit_of_any_stored_column_is_found_at_its_row(
    owner: AsyncEngine, log: AuditLog, watch: ChainWatch, change: str
) -> None:
    await _append(log, 0, 6)
    await watch.checkpoint()
    await _tamper(owner, f"UPDATE audit.audit_log SET {change} WHERE seq = 4")  # noqa: S608 - the test's own SQL
    result = await watch.verify()
    assert (result.valid, result.first_broken_seq, result.rows_checked) == (False, 4, 3)
    assert "does not match its hash" in result.reason
    # The owner hashes every row again from 4 on: the links hold, the anchored checkpoint does not.
    await _rehash_from(owner, 4)
    assert (await AuditLog(owner).verify(KEY.public_key())).valid is False
    rehashed = await watch.verify()
    assert (rehashed.valid, rehashed.first_broken_seq) == (False, 6)
    assert "rewritten" in rehashed.reason and "no row can be vouched for" in rehashed.reason


async def test_deleting_rows_from_the_end_is_found_by_the_signed_checkpoint(
    owner: AsyncEngine, log: AuditLog, watch: ChainWatch
) -> None:
    for n in range(6):
        await log.append(_event(n))
    signed = await watch.checkpoint()
    assert signed is not None and signed.seq == 6
    assert (await log.verify(KEY.public_key())).valid
    await _as(
        owner,
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


async def test_a_cut_tail_with_its_checkpoints_deleted_is_found_by_the_anchor(
    owner: AsyncEngine, log: AuditLog, watch: ChainWatch, anchor_file: AnchorFile
) -> None:
    await _append(log, 0, 4)
    await watch.checkpoint()
    await _append(log, 4, 4)
    assert (await watch.checkpoint()) is not None
    await _tamper(
        owner, "DELETE FROM audit.audit_log WHERE seq > 5", "DELETE FROM audit.checkpoints WHERE seq > 5"
    )
    assert await log.newest_checkpoint() is not None  # the one at seq 4 is left: it still matches
    for verdict in (await watch.verify(), await _restarted(log, anchor_file).check()):
        assert (verdict.valid, verdict.first_broken_seq) == (False, 6)
        assert "truncated" in verdict.reason and "anchor file" in verdict.reason
    # The running watch, which had verified up to seq 8, says so too.
    assert (await watch.check()).first_broken_seq == 6


async def test_a_wiped_log_is_reported_and_never_valid_with_no_rows(
    owner: AsyncEngine, log: AuditLog, watch: ChainWatch, anchor_file: AnchorFile
) -> None:
    await _append(log, 0, 5)
    await watch.checkpoint()
    await _tamper(owner, "DELETE FROM audit.audit_log", "DELETE FROM audit.checkpoints")
    assert await log.count() == 0
    verdict = await _restarted(log, anchor_file).verify()
    assert (verdict.valid, verdict.rows_checked, verdict.first_broken_seq) == (False, 0, 1)
    assert "wiped" in verdict.reason
    # What the service appends next cannot make it whole again.
    await _append(log, 10, 3)
    again = await _restarted(log, anchor_file).check()
    assert (again.valid, again.first_broken_seq) == (False, 1)


async def test_a_restored_older_backup_is_found_at_the_first_reused_seq(
    owner: AsyncEngine, log: AuditLog, watch: ChainWatch, anchor_file: AnchorFile
) -> None:
    await _append(log, 0, 3)
    assert (await watch.checkpoint()) is not None
    # The backup: the database as it was then (what pg_dump would hold, in a schema beside it).
    await _as(
        owner,
        "CREATE SCHEMA backup",
        "CREATE TABLE backup.audit_log AS SELECT * FROM audit.audit_log",
        "CREATE TABLE backup.checkpoints AS SELECT * FROM audit.checkpoints",
    )
    await _append(log, 3, 4)
    assert (await watch.checkpoint()) is not None  # anchored at seq 7
    await _tamper(
        owner,
        "DELETE FROM audit.audit_log",
        "DELETE FROM audit.checkpoints",
        "INSERT INTO audit.audit_log SELECT * FROM backup.audit_log",
        "INSERT INTO audit.checkpoints SELECT * FROM backup.checkpoints",
    )
    assert (await log.verify(KEY.public_key())).valid, "the backup alone is a valid chain"
    restored = await _restarted(log, anchor_file).verify()
    assert (restored.valid, restored.first_broken_seq) == (False, 4)
    assert "truncated" in restored.reason
    # The service writes on: seqs 4.. are numbered again, and are found as reused.
    await _append(log, 20, 6)
    rewritten = _restarted(log, anchor_file)
    for verdict in (await rewritten.verify(), await rewritten.check()):
        assert (verdict.valid, verdict.first_broken_seq) == (False, 4)
        assert "reused" in verdict.reason
    # And no checkpoint is signed over it.
    assert await rewritten.checkpoint() is None


async def test_each_checkpoint_reaches_the_anchor_file(
    log: AuditLog, watch: ChainWatch, anchor_file: AnchorFile
) -> None:
    await _append(log, 0, 2)
    first = await watch.checkpoint()
    await _append(log, 2, 3)
    second = await watch.checkpoint()
    assert first is not None and second is not None
    assert await watch.checkpoint() == second  # the head did not move: nothing new is signed
    anchored = read_anchor_lines(anchor_file.path.read_text().splitlines(), "file")
    assert anchored == [first, second]
    assert await log.checkpoints() == [first, second]
    assert second.created_us >= (await log.appended_us_at(5) or 0)


async def test_a_forged_checkpoint_is_found(log: AuditLog) -> None:
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


async def test_a_nul_in_a_column_is_stored_replaced_and_the_chain_verifies(log: AuditLog) -> None:
    event = _event(1)
    event.actor.user_id = "ali\x00ce"
    event.case_reference = "PV\x00-1"
    assert await log.append(event)
    [row] = await log.search(actor=None, action=None, case_reference=None, since=None, until=None, limit=10)
    assert (row.actor_user, row.case_reference) == ("ali\ufffdce", "PV\ufffd-1")
    assert (await log.verify(KEY.public_key())).valid


async def test_replicas_appending_at_once_keep_one_unbroken_chain(
    log: AuditLog, database_roles: DatabaseRoles, tmp_path: Path
) -> None:
    replicas = [make_engine(database_roles.app_url, SCHEMA, tmp_path) for _ in range(3)]
    try:

        async def produce(replica: AsyncEngine, offset: int) -> None:
            writer = AuditLog(replica)
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


async def test_a_row_deleted_from_the_middle_is_a_gap_named_by_its_seq(
    owner: AsyncEngine, log: AuditLog, watch: ChainWatch
) -> None:
    await _append(log, 0, 6)
    await watch.checkpoint()
    await _tamper(owner, "DELETE FROM audit.audit_log WHERE seq = 3")
    result = await watch.verify()
    assert (result.valid, result.first_broken_seq, result.rows_checked) == (False, 3, 2)
    assert "row 3 is missing" in result.reason
