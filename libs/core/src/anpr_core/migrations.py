"""Each service's schema migrations: one Alembic history per service, its version table in the
service's own schema, run by the owner role as a step of its own (`anpr migrate SERVICE`), never by
a service starting on PostgreSQL, which only checks that its schema is at the head of its history.

On SQLite (the embedded mode: one process, one owner) a service upgrades its own file at start.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from alembic import command, context, op
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, MetaData, Table, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_core.db import RUNTIME_PRIVILEGES, is_postgres, schema_owner

log = logging.getLogger(__name__)

VERSION_TABLE = "alembic_version"


class SchemaNotCurrent(RuntimeError):
    """A service's schema is not at the head of its history; the message says what to run."""


@dataclass(frozen=True)
class SchemaHistory:
    """One service's migration history: its schema, the models the head must equal, the folder of
    its revisions (env.py and versions/), and what its runtime role may do with its tables."""

    service: str
    schema: str
    metadata: MetaData
    directory: Path
    privileges: Sequence[str] = RUNTIME_PRIVILEGES
    # Prefixes of the tables the owner makes outside the history (access's month partitions).
    unmodelled: Sequence[str] = field(default_factory=tuple)

    def config(self) -> Config:
        config = Config()
        config.set_main_option("script_location", str(self.directory))
        config.attributes["history"] = self
        return config

    @cached_property
    def script(self) -> ScriptDirectory:
        return ScriptDirectory.from_config(self.config())

    @property
    def head(self) -> str:
        head = self.script.get_current_head()
        if head is None:
            raise RuntimeError(f"{self.service}'s history has no revision")
        return head

    def version_schema(self, connection: Connection) -> str | None:
        """Where the version table is: the service's schema on PostgreSQL; on SQLite each service
        has a file of its own, and the schema is translated away (anpr_core.db)."""
        return self.schema if connection.dialect.name == "postgresql" else None

    def knows(self, revision: str) -> bool:
        return any(r.revision == revision for r in self.script.walk_revisions())


def _current_sync(connection: Connection, history: SchemaHistory) -> str | None:
    migration = MigrationContext.configure(
        connection, opts={"version_table_schema": history.version_schema(connection)}
    )
    return migration.get_current_revision()


async def current_revision(engine: AsyncEngine, history: SchemaHistory) -> str | None:
    """The revision the database's schema of the service is at; None where it was never migrated."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current_sync, history)


def _upgrade_sync(
    connection: Connection, history: SchemaHistory, target: str
) -> tuple[str | None, str | None]:
    before = _current_sync(connection, history)
    if before != (history.head if target == "head" else target):
        config = history.config()
        config.attributes["connection"] = connection
        command.upgrade(config, target)
    return before, _current_sync(connection, history)


async def upgrade(
    engine: AsyncEngine, history: SchemaHistory, target: str = "head"
) -> tuple[str | None, str | None]:
    """Brings the service's schema to the head of its history (or to revision `target`: tests of an
    older schema), in one transaction (on PostgreSQL, under a lock that a second migration of the
    same schema waits on). Returns (before, after)."""
    async with engine.begin() as conn:
        if is_postgres(engine):
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(hashtext(:s))"), {"s": f"schema:{history.schema}"}
            )
            await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{history.schema}"'))
        before, after = await conn.run_sync(_upgrade_sync, history, target)
    if before != after:
        log.info("%s schema migrated from %s to %s", history.service, before or "nothing", after)
    return before, after


async def migrate(
    runtime: AsyncEngine, owner_url: str | None, history: SchemaHistory
) -> tuple[str | None, str | None]:
    """The owner's step (`anpr migrate`): refuses a runtime role that could undo the split, upgrades
    the schema as the owner role, then gives the runtime role its rights on what is there (and only
    SELECT on the version table). Returns the revisions before and after."""
    async with schema_owner(
        runtime, owner_url, history.schema, history.privileges, read_only=(VERSION_TABLE,)
    ) as owner:
        return await upgrade(owner, history)


def not_current_message(history: SchemaHistory, revision: str | None) -> str | None:
    """Why a service may not start on a schema at `revision`; None when it may."""
    head, service = history.head, history.service
    if revision == head:
        return None
    if revision is None:
        return (
            f"{service}'s schema ({history.schema}) has not been migrated: run `anpr migrate {service}` "
            "as the owner role (ANPR_DATABASE_OWNER_URL) before starting the service"
        )
    if not history.knows(revision):
        return (
            f"{service}'s schema ({history.schema}) is at revision {revision}, which this release does not "
            f"know (its head is {head}): a newer release migrated it; run that release, or this one's "
            "database"
        )
    return (
        f"{service}'s schema ({history.schema}) is at revision {revision}, this release needs {head}: "
        f"run `anpr migrate {service}` as the owner role (ANPR_DATABASE_OWNER_URL) before starting the "
        "service"
    )


async def require_current(engine: AsyncEngine, history: SchemaHistory) -> None:
    """Refuses (SchemaNotCurrent) to go on unless the service's schema is at the head of its history."""
    if (message := not_current_message(history, await current_revision(engine, history))) is not None:
        log.error("%s", message)
        raise SchemaNotCurrent(message)


async def prepare_schema(engine: AsyncEngine, history: SchemaHistory) -> None:
    """What a service does with its schema at start: on PostgreSQL, checks it is current (the owner
    migrates it, as a step of its own); on SQLite, the embedded mode's one process upgrades it."""
    if is_postgres(engine):
        await require_current(engine, history)
    else:
        await upgrade(engine, history)


def drift(connection: Connection, history: SchemaHistory) -> list[Any]:
    """What autogenerate would change to make the database's schema equal the models (empty: none)."""
    schema = history.version_schema(connection)

    def include_name(name: str | None, kind: str, parents: dict[str, str | None]) -> bool:
        if kind == "schema":
            return name == schema
        if kind == "table":
            return name != VERSION_TABLE and not _is_unmodelled(history, name)
        return True

    # On SQLite the tables have no schema: the models are compared without theirs.
    target = history.metadata if schema is not None else _without_schema(history.metadata)
    migration = MigrationContext.configure(
        connection,
        opts={
            "target_metadata": target,
            "include_schemas": schema is not None,
            "include_name": include_name,
            "version_table_schema": schema,
            "compare_type": True,
        },
    )
    return list(compare_metadata(migration, target))


def _without_schema(metadata: MetaData) -> MetaData:
    plain = MetaData()
    for table in metadata.tables.values():
        copy = table.to_metadata(plain, schema=None)  # type: ignore[arg-type] # None: no schema (documented)
        # The names a schema's conventions gave (ix_<schema>_<table>_<column>) are the names the
        # database has: the copy keeps them rather than name its indexes again without the schema.
        names = {tuple(c.name for c in index.columns): index.name for index in table.indexes}
        for index in copy.indexes:
            index.name = names[tuple(c.name for c in index.columns)]
    return plain


def _is_unmodelled(history: SchemaHistory, name: str | None) -> bool:
    return name is not None and any(name.startswith(prefix) for prefix in history.unmodelled)


def run_env() -> None:
    """The body of every history's env.py: runs Alembic's command on the connection it was given."""
    history: SchemaHistory | None = context.config.attributes.get("history")
    connection: Connection | None = context.config.attributes.get("connection")
    if history is None or connection is None:
        raise RuntimeError(
            "a service's migrations run through `anpr migrate SERVICE`, which connects as the owner"
        )
    context.configure(
        connection=connection,
        target_metadata=history.metadata,
        version_table_schema=history.version_schema(connection),
    )
    with context.begin_transaction():
        context.run_migrations()


# --- for the revisions ------------------------------------------------------------------------


def schema_here(schema: str) -> str | None:
    """The schema a revision names in its op.* calls: the service's on PostgreSQL, none on SQLite
    (one file per service), where Alembic's ALTER TABLE does not follow the schema translation."""
    return schema if op.get_bind().dialect.name == "postgresql" else None


def create_or_complete(*tables: Table) -> None:
    """Creates each table (with its indexes) that is missing; to one that exists, made at start by
    a release before migrations, adds the columns and indexes it lacks. Only the revisions that
    adopt such a database use it: later ones say exactly what they change."""
    bind = op.get_bind()
    for table in tables:
        schema = bind.schema_for_object(table)
        found = inspect(bind)
        if not found.has_table(table.name, schema=schema):
            table.create(bind)
            continue
        add_columns(table.name, schema, *(column._copy() for column in table.columns))
        indexed = {index["name"] for index in found.get_indexes(table.name, schema=schema)}
        for index in table.indexes:
            if index.name not in indexed:
                index.create(bind)


def add_columns(table: str, schema: str | None, *columns: Column[Any]) -> list[str]:
    """Adds each of `columns` that the table lacks (each nullable or with a server default: the
    table may hold rows); returns the names added. For the adopting revisions, as create_or_complete."""
    schema = schema_here(schema) if schema is not None else None
    present = {column["name"] for column in inspect(op.get_bind()).get_columns(table, schema=schema)}
    added = []
    for column in columns:
        if column.name not in present:
            op.add_column(table, column, schema=schema)
            added.append(column.name)
    return added
