"""Async SQLAlchemy engines: asyncpg on PostgreSQL, aiosqlite for the embedded mode.

Each service owns one PostgreSQL schema. On SQLite each service gets its own file and the
schema name is translated away, so the same models serve both.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Dialect, MetaData, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator


def make_engine(database_url: str | None, schema: str, data_dir: Path) -> AsyncEngine:
    if database_url is None:
        data_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(f"sqlite+aiosqlite:///{data_dir / f'{schema}.db'}")
        _tune_sqlite(engine)
        return engine.execution_options(schema_translate_map={schema: None})
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+asyncpg://" + database_url.removeprefix("postgresql://")
    return create_async_engine(database_url, pool_size=5, max_overflow=5, pool_pre_ping=True)


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


async def create_schema(engine: AsyncEngine, metadata: MetaData, schema: str) -> None:
    """Creates the service's schema and tables if missing (idempotent across replicas)."""
    async with engine.begin() as conn:
        if is_postgres(engine):
            # Two replicas starting together must not race on CREATE SCHEMA.
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": f"schema:{schema}"})
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        await conn.run_sync(metadata.create_all)


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
