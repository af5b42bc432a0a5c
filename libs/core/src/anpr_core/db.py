"""Async SQLAlchemy engines: asyncpg on PostgreSQL, aiosqlite for the embedded mode.

Each service owns one PostgreSQL schema. On SQLite each service gets its own file and the
schema name is translated away, so the same models serve both.

On PostgreSQL two roles take part: the owner role (ANPR_DATABASE_OWNER_URL) runs the migrations
and owns the schema and its tables; the runtime role (ANPR_DATABASE_URL) serves requests with
only the rights its service needs. A role that owns no table cannot drop it, alter it or switch
its triggers off, so the append-only guards of the audit log hold against the service itself.
Without an owner URL (SQLite, or a single-role development set-up) the runtime role migrates.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Dialect, event, text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.types import TypeDecorator

log = logging.getLogger(__name__)

# What a service's runtime role may do with its own tables, unless the service asks for less.
RUNTIME_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
# The largest row offset a page may ask for: SQLite and PostgreSQL take 64-bit offsets, and a larger
# number from a client is a 422, not an overflow in the driver (a 500).
MAX_ROW_OFFSET = 2**31 - 1
_PRIVILEGES = frozenset({*RUNTIME_PRIVILEGES, "TRUNCATE", "REFERENCES", "TRIGGER"})


def _asyncpg_url(database_url: str) -> str:
    if database_url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + database_url.removeprefix("postgresql://")
    return database_url


def make_engine(database_url: str | None, schema: str, data_dir: Path) -> AsyncEngine:
    if database_url is None:
        data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(f"sqlite+aiosqlite:///{data_dir / f'{schema}.db'}")
        _tune_sqlite(engine)
        return engine.execution_options(schema_translate_map={schema: None})
    return create_async_engine(_asyncpg_url(database_url), pool_size=5, max_overflow=5, pool_pre_ping=True)


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets the REST side read while a consumer writes.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()


def is_postgres(engine: AsyncEngine) -> bool:
    return engine.dialect.name == "postgresql"


class DatabaseRoleError(RuntimeError):
    """The owner and runtime roles are not set up as the split requires; the message says how to fix it."""


def owner_engine(runtime: AsyncEngine, owner_url: str | None) -> AsyncEngine:
    """The engine migrations run on: the owner role's where one is configured on PostgreSQL,
    else the runtime engine itself (SQLite, or a single-role development set-up)."""
    if owner_url is None or not is_postgres(runtime):
        return runtime
    owner = create_async_engine(_asyncpg_url(owner_url), pool_size=2, max_overflow=2, pool_pre_ping=True)
    if owner.url.username == runtime.url.username:
        log.warning(
            "ANPR_DATABASE_OWNER_URL connects as the runtime role %s: no role split", runtime.url.username
        )
    return owner


async def dispose_owner(owner: AsyncEngine, runtime: AsyncEngine) -> None:
    if owner is not runtime:
        await owner.dispose()


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def grant_runtime_rights(
    owner: AsyncEngine,
    runtime: AsyncEngine,
    schema: str,
    privileges: Sequence[str] = RUNTIME_PRIVILEGES,
    read_only: Sequence[str] = (),
) -> None:
    """Gives the runtime role `privileges` on the schema's tables, now and for tables the owner
    creates there later (partitions), and use of its sequences; nothing else. On the tables named
    in `read_only` (the migrations' version table) it may only SELECT.

    Refuses, with what to do, a runtime role that could undo the split: a superuser, a role that
    may create roles (it could grant itself the owner's), a member of the owner role, or the
    owner of the database, the schema or one of its tables. Nothing happens when both engines
    connect as one role (SQLite, or no owner URL).
    """
    app = _split_runtime_role(owner, runtime)
    if app is None:
        return
    wanted = [p.upper() for p in privileges]
    if unknown := set(wanted) - _PRIVILEGES:
        raise ValueError(f"unknown table privileges {sorted(unknown)}")
    async with owner.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": f"schema:{schema}"})
        await _refuse_a_mighty_runtime_role(conn, app, schema)
        role, quoted = _identifier(app), _identifier(schema)
        # One transaction: a replica starting at the same time never sees the rights half-changed.
        for statement in (
            f"REVOKE ALL ON SCHEMA {quoted} FROM {role}",
            f"GRANT USAGE ON SCHEMA {quoted} TO {role}",
            f"REVOKE ALL ON ALL TABLES IN SCHEMA {quoted} FROM {role}",
            f"GRANT {', '.join(wanted)} ON ALL TABLES IN SCHEMA {quoted} TO {role}",
            f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {quoted} FROM {role}",
            f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {quoted} TO {role}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {quoted} REVOKE ALL ON TABLES FROM {role}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {quoted} GRANT {', '.join(wanted)} ON TABLES TO {role}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {quoted} GRANT USAGE, SELECT ON SEQUENCES TO {role}",
        ):
            await conn.execute(text(statement))
        for table in read_only:
            await conn.execute(text(f"REVOKE ALL ON {quoted}.{_identifier(table)} FROM {role}"))
            await conn.execute(text(f"GRANT SELECT ON {quoted}.{_identifier(table)} TO {role}"))


def _split_runtime_role(owner: AsyncEngine, runtime: AsyncEngine) -> str | None:
    """The runtime role's name where the two engines are two roles on PostgreSQL, else None."""
    app = runtime.url.username
    if not is_postgres(owner) or owner is runtime or not app or app == owner.url.username:
        return None
    return app


async def check_role_split(owner: AsyncEngine, runtime: AsyncEngine, schema: str) -> None:
    """Refuses, before any migration, what `grant_runtime_rights` would refuse after it."""
    if (app := _split_runtime_role(owner, runtime)) is not None:
        async with owner.connect() as conn:
            await _refuse_a_mighty_runtime_role(conn, app, schema)


async def _refuse_a_mighty_runtime_role(conn: AsyncConnection, app: str, schema: str) -> None:
    found = (
        await conn.execute(
            text(
                "SELECT rolsuper, rolcreaterole, pg_has_role(:app, current_user, 'MEMBER') "
                "FROM pg_roles WHERE rolname = :app"
            ),
            {"app": app},
        )
    ).first()
    if found is None:
        raise DatabaseRoleError(f"the runtime role {app} does not exist")
    superuser, create_role, member = found
    problems = []
    if superuser:
        problems.append("is a superuser")
    if create_role:
        problems.append("may create roles (CREATEROLE), so it could grant itself the owner's")
    if member:
        problems.append("is a member of the owner role")
    version = int((await conn.execute(text("SHOW server_version_num"))).scalar_one())
    if (
        version >= 150000
        and (
            await conn.execute(
                text("SELECT has_parameter_privilege(:app, 'session_replication_role', 'SET')"), {"app": app}
            )
        ).scalar_one()
    ):
        problems.append("may set session_replication_role, which switches triggers off")
    owned = (
        await conn.execute(
            text(
                "SELECT 'database ' || datname FROM pg_database "
                "WHERE datname = current_database() AND pg_get_userbyid(datdba) = :app "
                "UNION ALL SELECT 'schema ' || nspname FROM pg_namespace "
                "WHERE nspname = :schema AND pg_get_userbyid(nspowner) = :app "
                "UNION ALL SELECT 'table ' || n.nspname || '.' || c.relname FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :schema AND pg_get_userbyid(c.relowner) = :app"
            ),
            {"app": app, "schema": schema},
        )
    ).scalars()
    if owned_names := list(owned):
        problems.append(
            f"owns {', '.join(owned_names[:5])}{' and more' if len(owned_names) > 5 else ''} "
            "(give them to the owner role once: ALTER ... OWNER TO <owner role>)"
        )
    if problems:
        raise DatabaseRoleError(
            f"the runtime role {app} (ANPR_DATABASE_URL) {'; '.join(problems)}: it must own nothing and "
            "hold only the rights the service grants it, or it could undo the audit log's guards"
        )
    others = (
        await conn.execute(
            text(
                "SELECT 'table ' || n.nspname || '.' || c.relname || ' (owner ' "
                "|| pg_get_userbyid(c.relowner) || ')' FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'S') AND c.relowner <> "
                "(SELECT oid FROM pg_roles WHERE rolname = current_user) "
                "UNION ALL SELECT 'the schema (owner ' || pg_get_userbyid(nspowner) || ')' "
                "FROM pg_namespace WHERE nspname = :schema AND pg_get_userbyid(nspowner) <> current_user"
            ),
            {"schema": schema},
        )
    ).scalars()
    if foreign := list(others):
        raise DatabaseRoleError(
            f"{', '.join(foreign[:5])} of schema {schema} belong to another role than the owner role "
            "(ANPR_DATABASE_OWNER_URL): give them to it once, as their owner or a superuser, with "
            "ALTER SCHEMA/TABLE/SEQUENCE ... OWNER TO <owner role>"
        )


@asynccontextmanager
async def schema_owner(
    runtime: AsyncEngine,
    owner_url: str | None,
    schema: str,
    privileges: Sequence[str] = RUNTIME_PRIVILEGES,
    read_only: Sequence[str] = (),
) -> AsyncIterator[AsyncEngine]:
    """The owner's engine for a service's migrations; on leaving, the runtime role gets its rights
    on what they created, and the owner's connections are closed."""
    owner = owner_engine(runtime, owner_url)
    try:
        await check_role_split(owner, runtime, schema)
        yield owner
        await grant_runtime_rights(owner, runtime, schema, privileges, read_only)
    finally:
        await dispose_owner(owner, runtime)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def ping(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:  # noqa: BLE001 - readiness reports any failure as not ready
        return False
    return True


async def insert_ignoring_duplicates(session: AsyncSession, table: Any, rows: list[dict[str, Any]]) -> int:
    """INSERT ... ON CONFLICT DO NOTHING: the idempotent sink. Returns how many rows were new."""
    if not rows:
        return 0
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement: Any = pg_insert(table).values(rows).on_conflict_do_nothing()
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table).values(rows).on_conflict_do_nothing()
    result = await session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both PostgreSQL and SQLite (which keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: every time in Schild is timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
