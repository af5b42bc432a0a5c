"""`anpr migrate`: a zone's database of the previous release upgraded to this one with nothing lost;
services refusing a schema that is not at its head; the runtime role kept off the version table;
each history's head equal to the models, on PostgreSQL and SQLite."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from anpr_access.adapters.partitions import ensure_partitions
from anpr_access.domain.retention import months_ahead
from anpr_core.auth import DevIssuer
from anpr_core.bus.memory import MemoryBus
from anpr_core.db import make_engine
from anpr_core.migrations import SchemaNotCurrent, current_revision, drift, upgrade
from anpr_ingest.bootstrap import build_app
from anpr_ingest.settings import IngestSettings
from conftest import DatabaseRoles
from schild.migrate import SERVICES, history, main

PREVIOUS_RELEASE = Path(__file__).parent / "fixtures" / "release_442a33f.sql"
ROWS = 7  # per table of the previous release


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _anpr_migrate(service: str, roles: DatabaseRoles) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANPR_")}
    env |= {"ANPR_DATABASE_URL": roles.app_url, "ANPR_DATABASE_OWNER_URL": roles.owner_url}
    return subprocess.run(
        [sys.executable, "-m", "schild.cli", "migrate", service],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _value(column: asyncpg.Record, i: int, now: datetime) -> Any:
    """Row i's value of a column, by its type: unique where a key needs it, and dated now (the
    partitions of access.reads are this month's and the next two)."""
    kind, name, length = column["data_type"], column["column_name"], column["character_maximum_length"]
    if kind in ("character varying", "text"):
        return f"{i}-{name}"[: length or None]
    if kind == "timestamp with time zone":
        return now + timedelta(seconds=i)
    if kind == "date":
        return date.today()
    if kind == "boolean":
        return i % 2 == 0
    if kind in ("integer", "bigint"):
        return i
    if kind == "double precision":
        return i / 10
    if kind == "json":
        return f'["{i}"]'
    if kind == "bytea":
        return f"bytes {i}".encode()
    raise AssertionError(f"no value for {name} of type {kind}")


async def _columns(conn: asyncpg.Connection) -> dict[str, list[asyncpg.Record]]:
    rows = await conn.fetch(
        "SELECT table_schema || '.' || table_name AS name, column_name, data_type, "
        "character_maximum_length FROM information_schema.columns "
        "WHERE table_schema = ANY($1::text[]) AND table_name NOT LIKE 'reads_p%' "
        "AND table_name <> 'alembic_version' ORDER BY table_schema, table_name, ordinal_position",
        list(SERVICES),
    )
    tables: dict[str, list[asyncpg.Record]] = {}
    for row in rows:
        tables.setdefault(row["name"], []).append(row)
    return tables


async def _contents(
    conn: asyncpg.Connection, tables: dict[str, list[asyncpg.Record]]
) -> dict[str, list[Any]]:
    """Every row of each table, in the previous release's columns, as text, sorted."""
    found = {}
    for table, columns in tables.items():
        names = ", ".join(f'"{c["column_name"]}"::text' for c in columns)
        rows = await conn.fetch(f"SELECT {names} FROM {table}")  # noqa: S608 - names from the catalogue
        found[table] = sorted(tuple(row) for row in rows)
    return found


async def _previous_release(roles: DatabaseRoles) -> dict[str, list[Any]]:
    """The database as release 442a33f left it, made by its owner role and holding ROWS rows in
    every table; returns their contents."""
    owner = await asyncpg.connect(_plain(roles.owner_url))
    try:
        await owner.execute(PREVIOUS_RELEASE.read_text(encoding="utf-8"))
        await owner.execute("SELECT pg_catalog.set_config('search_path', 'public', false)")
        tables = await _columns(owner)
    finally:
        await owner.close()
    now = datetime.now(UTC)
    engine = make_engine(roles.owner_url, "access", Path("."))
    try:
        await ensure_partitions(engine, months_ahead(now, 2))  # as that release made them at start
    finally:
        await engine.dispose()
    owner = await asyncpg.connect(_plain(roles.owner_url))
    try:
        for table, columns in tables.items():
            names = ", ".join(f'"{c["column_name"]}"' for c in columns)
            marks = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
            await owner.executemany(
                f"INSERT INTO {table} ({names}) VALUES ({marks})",  # noqa: S608 - names from the catalogue
                [[_value(c, i, now) for c in columns] for i in range(ROWS)],
            )
        return await _contents(owner, tables)
    finally:
        await owner.close()


async def test_anpr_migrate_upgrades_the_previous_release_with_nothing_lost(
    database_roles: DatabaseRoles,
) -> None:
    before = await _previous_release(database_roles)
    assert set(before) >= {"ingest.cameras", "match.hotlists", "audit.audit_log", "access.reads"}
    assert all(len(rows) == ROWS for rows in before.values())

    result = _anpr_migrate("all", database_roles)
    assert result.returncode == 0, result.stderr
    heads = {service: history(service).head for service in SERVICES}
    assert result.stdout.splitlines() == [
        f"{service}: none (never migrated) -> {head}" for service, head in heads.items()
    ]

    owner = await asyncpg.connect(_plain(database_roles.owner_url))
    try:
        after = await _contents(owner, {t: c for t, c in (await _columns(owner)).items() if t in before})
        # The audit log's guards survive: the previous release's rows still may not change.
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await owner.execute("UPDATE audit.audit_log SET actor_user = 'x'")
    finally:
        await owner.close()
    assert {table: len(rows) for table, rows in after.items()} == {table: ROWS for table in before}
    # The previous release's columns, as they were (columns added since only add).
    assert {t: [row[: len(before[t][0])] for row in rows] for t, rows in after.items()} == before

    for service in SERVICES:
        found = history(service)
        runtime = make_engine(database_roles.app_url, found.schema, Path("."))
        owner_engine = make_engine(database_roles.owner_url, found.schema, Path("."))
        try:
            assert await current_revision(runtime, found) == found.head
            async with owner_engine.connect() as conn:
                assert await conn.run_sync(drift, found) == [], service
        finally:
            await runtime.dispose()
            await owner_engine.dispose()

    again = _anpr_migrate("all", database_roles)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [f"{s}: at {h} (the head), nothing to do" for s, h in heads.items()]


async def test_the_runtime_role_reads_the_version_but_cannot_write_it(migrated_roles: DatabaseRoles) -> None:
    app = await asyncpg.connect(_plain(migrated_roles.app_url))
    try:
        for service in SERVICES:
            version = await app.fetchval(f"SELECT version_num FROM {service}.alembic_version")  # noqa: S608
            assert version == history(service).head
            version_table = f"{service}.alembic_version"
            for statement in (
                f"UPDATE {version_table} SET version_num = '0000'",  # noqa: S608 - the module's names
                f"DELETE FROM {version_table}",  # noqa: S608
                f"INSERT INTO {version_table} VALUES ('9999')",  # noqa: S608
            ):
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await app.execute(statement)
        # Its own tables it may write, those of the last revisions included.
        await app.execute(
            "INSERT INTO ingest.vendor_tracks (camera_id, track, last_at) VALUES ('c', 't', now())"
        )
    finally:
        await app.close()


def _ingest(database_url: str, tmp_path: Path) -> Any:
    engine = make_engine(database_url, "ingest", tmp_path)
    settings = IngestSettings(data_dir=tmp_path, database_url=database_url)
    return build_app(settings, MemoryBus(), engine, DevIssuer(tmp_path / "key.pem"))


async def test_a_service_refuses_a_schema_not_migrated_or_too_old_naming_anpr_migrate(
    database_url: str, tmp_path: Path
) -> None:
    app = _ingest(database_url, tmp_path)
    with pytest.raises(SchemaNotCurrent, match=r"has not been migrated: run `anpr migrate ingest`"):
        async with app.router.lifespan_context(app):
            pass

    ingest = history("ingest")
    engine = make_engine(database_url, "ingest", tmp_path)
    try:
        await upgrade(engine, ingest)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE ingest.alembic_version SET version_num = '0001'"))
        app = _ingest(database_url, tmp_path)
        with pytest.raises(
            SchemaNotCurrent,
            match=rf"at revision 0001, this release needs {ingest.head}: run `anpr migrate ingest`",
        ):
            async with app.router.lifespan_context(app):
                pass
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE ingest.alembic_version SET version_num = 'f00d'"))
        app = _ingest(database_url, tmp_path)
        with pytest.raises(SchemaNotCurrent, match="which this release does not know"):
            async with app.router.lifespan_context(app):
                pass
    finally:
        await engine.dispose()


@pytest.mark.parametrize("service", SERVICES)
async def test_each_head_equals_the_models_on_sqlite(service: str, tmp_path: Path) -> None:
    found = history(service)
    engine = make_engine(None, found.schema, tmp_path)
    try:
        assert await upgrade(engine, found) == (None, found.head)
        assert await upgrade(engine, found) == (found.head, found.head), "a second start changes nothing"
        async with engine.connect() as conn:
            assert await conn.run_sync(drift, found) == []
    finally:
        await engine.dispose()


async def test_each_head_equals_the_models_on_postgresql(migrated_roles: DatabaseRoles) -> None:
    for service in SERVICES:
        found = history(service)
        engine = make_engine(migrated_roles.owner_url, found.schema, Path("."))
        try:
            async with engine.connect() as conn:
                assert await conn.run_sync(drift, found) == [], service
        finally:
            await engine.dispose()


def test_anpr_migrate_says_in_one_line_what_it_lacks(
    database_roles: DatabaseRoles, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main("ingest", {}) == 2
    assert capsys.readouterr().err.splitlines() == [
        "anpr migrate: ANPR_DATABASE_URL must be the runtime role's PostgreSQL URL (the embedded mode's "
        "SQLite files upgrade themselves at start)"
    ]
    assert main("ingest", {"ANPR_DATABASE_URL": database_roles.app_url}) == 2
    assert "ANPR_DATABASE_OWNER_URL must be the owner role's" in capsys.readouterr().err
    # The runtime role given as the owner: it could undo the split.
    wrong = {
        "ANPR_DATABASE_URL": database_roles.admin_url,
        "ANPR_DATABASE_OWNER_URL": database_roles.owner_url,
    }
    assert main("ingest", wrong) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "it could undo the audit log" in err
    unreachable = database_roles.owner_url.replace(
        database_roles.owner_url.split("@")[1].split("/")[0], "127.0.0.1:1"
    )
    assert main("all", {**wrong, "ANPR_DATABASE_OWNER_URL": unreachable}) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "could not be reached" in err


def test_anpr_migrate_of_one_service_leaves_the_others_alone(
    database_roles: DatabaseRoles, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {"ANPR_DATABASE_URL": database_roles.app_url, "ANPR_DATABASE_OWNER_URL": database_roles.owner_url}
    head = history("match").head
    assert main("match", env) == 0
    assert capsys.readouterr().out.splitlines() == [f"match: none (never migrated) -> {head}"]
    assert main("all", env) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"match: at {head} (the head), nothing to do" in lines
    assert f"ingest: none (never migrated) -> {history('ingest').head}" in lines
