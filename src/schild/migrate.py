"""`anpr migrate SERVICE|all`: the owner role's step before a release's services start on PostgreSQL.

Each service with a database has its own history (anpr_<service>.adapters.migrations.HISTORY); this
runs it with anpr_core.migrations.migrate, connected as the owner role (ANPR_DATABASE_OWNER_URL),
and gives the runtime role (ANPR_DATABASE_URL) its rights. Running it again changes nothing.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anpr_core.migrations import SchemaHistory

# The services that keep data of their own, in the order `all` migrates them (detect and the
# console have no database).
SERVICES = ("ingest", "match", "audit", "access", "share")


class MigrateError(RuntimeError):
    """What keeps `anpr migrate` from running; the message says what to do."""


def history(service: str) -> SchemaHistory:
    module = importlib.import_module(f"anpr_{service}.adapters.migrations")
    found: SchemaHistory = module.HISTORY
    return found


async def migrate_services(
    services: Sequence[str], database_url: str, owner_url: str | None
) -> list[tuple[str, str | None, str | None]]:
    """Brings each service's schema to the head of its history as the owner role (the runtime role
    itself without `owner_url`: one role, as a development database); returns (service, revision
    before, revision after) for each."""
    from anpr_core.db import make_engine
    from anpr_core.migrations import migrate

    done = []
    for service in services:
        found = history(service)
        runtime = make_engine(database_url, found.schema, Path("."))
        try:
            before, after = await migrate(runtime, owner_url, found)
        finally:
            await runtime.dispose()
        done.append((service, before, after))
    return done


def _urls(environ: dict[str, str]) -> tuple[str, str]:
    database_url = environ.get("ANPR_DATABASE_URL", "")
    owner_url = environ.get("ANPR_DATABASE_OWNER_URL", "")
    if not database_url.startswith("postgresql"):
        raise MigrateError(
            "ANPR_DATABASE_URL must be the runtime role's PostgreSQL URL (the embedded mode's SQLite "
            "files upgrade themselves at start)"
        )
    if not owner_url.startswith("postgresql"):
        raise MigrateError(
            "ANPR_DATABASE_OWNER_URL must be the owner role's PostgreSQL URL: migrations run as the "
            "role that owns the schemas, never as the runtime role"
        )
    return database_url, owner_url


def main(service: str, environ: dict[str, str] | None = None) -> int:
    """The command: prints each service's revision before and after; 0 when all are at their head,
    2 with a one-line error otherwise."""
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from anpr_core.db import DatabaseRoleError

    services = SERVICES if service == "all" else (service,)
    try:
        database_url, owner_url = _urls(dict(os.environ) if environ is None else environ)
        done = asyncio.run(migrate_services(services, database_url, owner_url))
    except (MigrateError, DatabaseRoleError, CommandError) as error:
        sys.stderr.write(f"anpr migrate: {_one_line(error)}\n")
        return 2
    except (SQLAlchemyError, OSError) as error:
        sys.stderr.write(f"anpr migrate: the database refused or could not be reached: {_one_line(error)}\n")
        return 2
    for name, before, after in done:
        if before == after:
            sys.stdout.write(f"{name}: at {after} (the head), nothing to do\n")
        else:
            sys.stdout.write(f"{name}: {before or 'none (never migrated)'} -> {after}\n")
    return 0


def _one_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error)
    return " ".join(text.split())
