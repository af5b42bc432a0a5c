"""The owner/runtime role split on real PostgreSQL: the owner migrates, the runtime role gets only
its rights, owns nothing, and so cannot drop, alter or switch off what protects its tables."""

# ruff: noqa: S608 - the SQL is built from this module's constants only

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Column, Integer, MetaData, String, Table, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_core.db import (
    DatabaseRoleError,
    grant_runtime_rights,
    make_engine,
    owner_engine,
    schema_owner,
)
from anpr_core.settings import CoreSettings, Environment
from anpr_core.testing import create_tables
from conftest import APP_ROLE, OWNER_ROLE, DatabaseRoles

SCHEMA = "probe"
metadata = MetaData(schema=SCHEMA)
notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("body", String(50), nullable=False),
)
GUARD = [
    f"""CREATE OR REPLACE FUNCTION {SCHEMA}.refuse() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'append-only: % refused', TG_OP; END $$""",
    f"DROP TRIGGER IF EXISTS notes_guard ON {SCHEMA}.notes",
    f"""CREATE TRIGGER notes_guard BEFORE UPDATE OR DELETE ON {SCHEMA}.notes
        FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.refuse()""",
]


async def _run(engine: AsyncEngine, *statements: str) -> list[Any]:
    async with engine.begin() as conn:
        results = [await conn.execute(text(statement)) for statement in statements]
    return [r.all() if r.returns_rows else r.rowcount for r in results]


@pytest.fixture
async def runtime(database_roles: DatabaseRoles, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_roles.app_url, SCHEMA, tmp_path)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _migrate(runtime: AsyncEngine, owner_url: str, privileges: tuple[str, ...]) -> None:
    async with schema_owner(runtime, owner_url, SCHEMA, privileges) as owner:
        assert owner is not runtime
        await create_tables(owner, metadata, SCHEMA)
        await _run(owner, *GUARD)


@pytest.mark.integration
async def test_the_owner_migrates_and_the_runtime_role_owns_nothing(
    database_roles: DatabaseRoles, runtime: AsyncEngine
) -> None:
    await _migrate(runtime, database_roles.owner_url, ("SELECT", "INSERT", "UPDATE", "DELETE"))
    await _migrate(runtime, database_roles.owner_url, ("SELECT", "INSERT", "UPDATE", "DELETE"))  # replicas
    [owners] = await _run(
        runtime,
        f"SELECT c.relname, pg_get_userbyid(c.relowner) FROM pg_class c "
        f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '{SCHEMA}' AND c.relkind = 'r'",
    )
    assert owners == [("notes", OWNER_ROLE)]
    assert await _run(runtime, f"INSERT INTO {SCHEMA}.notes (body) VALUES ('a'), ('b')") == [2]
    assert await _run(runtime, f"SELECT body FROM {SCHEMA}.notes ORDER BY id") == [[("a",), ("b",)]]


@pytest.mark.integration
@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        (f"ALTER TABLE {SCHEMA}.notes DISABLE TRIGGER notes_guard", "must be owner"),
        (f"ALTER TABLE {SCHEMA}.notes DISABLE TRIGGER USER", "must be owner"),
        (f"DROP TRIGGER notes_guard ON {SCHEMA}.notes", "must be owner"),
        (f"DROP TABLE {SCHEMA}.notes", "must be owner"),
        (f"DROP SCHEMA {SCHEMA} CASCADE", "must be owner"),
        (f"TRUNCATE {SCHEMA}.notes", "permission denied"),
        (f"UPDATE {SCHEMA}.notes SET body = 'x'", "permission denied"),
        (f"DELETE FROM {SCHEMA}.notes", "permission denied"),
        ("SET session_replication_role = replica", "permission denied"),
        (f"CREATE TABLE {SCHEMA}.mine (id int)", "permission denied"),
        (f"GRANT {OWNER_ROLE} TO {APP_ROLE}", "permission denied|must have admin option"),
    ],
)
async def test_an_insert_and_select_runtime_role_cannot_undo_the_guards(
    database_roles: DatabaseRoles, runtime: AsyncEngine, statement: str, refusal: str
) -> None:
    await _migrate(runtime, database_roles.owner_url, ("SELECT", "INSERT"))
    await _run(runtime, f"INSERT INTO {SCHEMA}.notes (body) VALUES ('kept')")
    with pytest.raises(DBAPIError, match=refusal):
        await _run(runtime, statement)
    assert await _run(runtime, f"SELECT body FROM {SCHEMA}.notes") == [[("kept",)]]


@pytest.mark.integration
async def test_tables_the_owner_creates_later_are_granted_too(
    database_roles: DatabaseRoles, runtime: AsyncEngine
) -> None:
    await _migrate(runtime, database_roles.owner_url, ("SELECT", "INSERT", "UPDATE", "DELETE"))
    owner = owner_engine(runtime, database_roles.owner_url)
    try:
        await _run(owner, f"CREATE TABLE {SCHEMA}.later (id int)")
    finally:
        await owner.dispose()
    assert await _run(runtime, f"INSERT INTO {SCHEMA}.later VALUES (1)", f"DELETE FROM {SCHEMA}.later") == [
        1,
        1,
    ]


@pytest.mark.integration
async def test_narrowing_the_rights_takes_back_what_an_earlier_start_granted(
    database_roles: DatabaseRoles, runtime: AsyncEngine
) -> None:
    await _migrate(runtime, database_roles.owner_url, ("SELECT", "INSERT", "UPDATE", "DELETE"))
    await _migrate(runtime, database_roles.owner_url, ("SELECT", "INSERT"))
    [grants] = await _run(
        runtime,
        "SELECT privilege_type FROM information_schema.role_table_grants "
        f"WHERE grantee = '{APP_ROLE}' AND table_schema = '{SCHEMA}' ORDER BY 1",
    )
    assert grants == [("INSERT",), ("SELECT",)]


@pytest.mark.integration
async def test_a_runtime_role_that_could_undo_the_split_is_refused(
    database_roles: DatabaseRoles, tmp_path: Path
) -> None:
    # The fixture's administrator may create roles, so it could grant itself the owner's.
    mighty = make_engine(database_roles.admin_url, SCHEMA, tmp_path)
    try:
        with pytest.raises(DatabaseRoleError, match="CREATEROLE"):
            await _migrate(mighty, database_roles.owner_url, ("SELECT", "INSERT"))
    finally:
        await mighty.dispose()


@pytest.mark.integration
async def test_tables_of_another_role_are_refused_with_the_fix(
    database_roles: DatabaseRoles, runtime: AsyncEngine, tmp_path: Path
) -> None:
    # A deployment that ran with one role: its schema and tables belong to that role.
    legacy = make_engine(database_roles.admin_url, SCHEMA, tmp_path)
    try:
        await create_tables(legacy, metadata, SCHEMA)
    finally:
        await legacy.dispose()
    with pytest.raises(DatabaseRoleError, match="OWNER TO"):
        await _migrate(runtime, database_roles.owner_url, ("SELECT", "INSERT"))


async def test_without_an_owner_url_or_on_sqlite_the_runtime_engine_migrates(tmp_path: Path) -> None:
    sqlite = make_engine(None, SCHEMA, tmp_path)
    try:
        assert owner_engine(sqlite, "postgresql://schild_owner@db/schild") is sqlite
        async with schema_owner(sqlite, None, SCHEMA) as owner:
            assert owner is sqlite
            await create_tables(owner, metadata, SCHEMA)
        await grant_runtime_rights(sqlite, sqlite, SCHEMA)  # nothing to grant: one role
        assert await _run(sqlite, "INSERT INTO notes (body) VALUES ('a')") == [1]
    finally:
        await sqlite.dispose()


PRODUCTION: dict[str, Any] = {
    "env": Environment.PRODUCTION,
    "kafka_bootstrap": "kafka:9092",
    "database_url": "postgresql://schild_app@db/schild",
    "oidc_issuer": "https://idp.example/realms/police",
    "oidc_jwks_url": "https://idp.example/realms/police/certs",
    "metrics_token": "prometheus-scrape-token",
}


def test_production_on_postgresql_needs_a_separate_owner_role(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANPR_DATABASE_OWNER_URL", raising=False)
    with pytest.raises(ValidationError, match="ANPR_DATABASE_OWNER_URL"):
        CoreSettings(data_dir=tmp_path, **PRODUCTION)
    with pytest.raises(ValidationError, match="two different roles"):
        CoreSettings(
            data_dir=tmp_path, database_owner_url="postgresql://schild_app:x@db/schild", **PRODUCTION
        )
    with pytest.raises(ValidationError, match="not a valid database URL") as refused:
        CoreSettings(
            data_dir=tmp_path, database_owner_url="postgresql://owner:s3cret@db:port/x", **PRODUCTION
        )
    assert "s3cret" not in str(refused.value)
    settings = CoreSettings(
        data_dir=tmp_path, database_owner_url="postgresql://schild_owner@db/schild", **PRODUCTION
    )
    assert settings.database_owner_url == "postgresql://schild_owner@db/schild"
