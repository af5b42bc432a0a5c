"""Runs one service as its own process, on Kafka and PostgreSQL (`python -m anpr_<service>`)."""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar

from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_core.bus import Bus
from anpr_core.bus.kafka import KafkaBus
from anpr_core.db import make_engine
from anpr_core.events import Topics
from anpr_core.jsonlog import configure_logging
from anpr_core.service import serve
from anpr_core.settings import CoreSettings

S = TypeVar("S", bound=CoreSettings)
AppFactory = Callable[[S, Bus, AsyncEngine], FastAPI]

log = logging.getLogger(__name__)

HttpProtocol = Literal["httptools", "h11"]


# uvloop and httptools are C: bare uvicorn spent 0.19-0.24 ms of CPU per 200 KB frame POST with them
# against 0.50-0.64 ms on asyncio and the pure-Python h11 parser, and ingest has 2 cores for its
# 500 frames/s. Both stay optional (uvloop has no Windows build): without them a service runs on
# asyncio and h11.
def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def http_protocol() -> HttpProtocol:
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


class PortUnavailable(OSError):
    """The address cannot be listened on; the message names it and why."""

    def __init__(self, message: str, *, in_use: bool) -> None:
        super().__init__(message)
        self.in_use = in_use

    def __str__(self) -> str:
        return str(self.args[0])


def listening_socket(host: str, port: int) -> socket.socket:
    """Binds the port before anything else is built, so that a port in use (or a host that is not
    this machine's) is one clear line at once, not a traceback once the service has started.
    uvicorn then serves on this socket (`serve(..., sock=)`)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        return socket.create_server((host, port), family=family)
    except OSError as error:
        # create_server appends the address to strerror; getaddrinfo errors have negative numbers.
        reason = os.strerror(error.errno) if error.errno and error.errno > 0 else error.strerror or str(error)
        in_use = error.errno == errno.EADDRINUSE
        raise PortUnavailable(f"cannot listen on {host}:{port}: {reason}", in_use=in_use) from None


def service_socket(service: str, settings: CoreSettings) -> socket.socket:
    """The service's listening socket, or one line saying why not and exit 2 (a standalone service's
    entrypoint calls it before building anything)."""
    try:
        return listening_socket(settings.host, settings.port)
    except PortUnavailable as error:
        hint = " (another process has it: set ANPR_PORT)" if error.in_use else ""
        sys.stderr.write(f"{service}: {error}{hint}\n")
        raise SystemExit(2) from None


def kafka_bus_for(settings: CoreSettings, client_id: str) -> KafkaBus:
    if settings.kafka_bootstrap is None:
        raise ValueError("ANPR_KAFKA_BOOTSTRAP is not set")
    topics = Topics(settings.topic_prefix)
    return KafkaBus(
        settings.kafka_bootstrap,
        client_id=client_id,
        topics=topics.all(),
        compacted=topics.compacted(),
        partitions=settings.topic_partitions,
        security=settings.kafka_security(),
    )


def run_standalone(
    service: str, settings_type: type[S], build_app: AppFactory[S], *, needs_database: bool = True
) -> None:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    try:
        settings = settings_type()
    except ValidationError as error:
        sys.stderr.write(f"{service}: invalid settings:\n{error}\n")
        raise SystemExit(2) from error
    configure_logging(settings.log_level)
    if settings.kafka_bootstrap is None or (needs_database and settings.database_url is None):
        sys.stderr.write(
            f"{service}: a standalone service needs ANPR_KAFKA_BOOTSTRAP"
            + (" and ANPR_DATABASE_URL" if needs_database else "")
            + "; "
            "for everything in one process without them, run `anpr run`\n"
        )
        raise SystemExit(2)
    sock = service_socket(service, settings)
    bus = kafka_bus_for(settings, client_id=f"schild-{service}")
    engine = make_engine(settings.database_url, service, Path(settings.data_dir))
    app = build_app(settings, bus, engine)
    loop_factory = event_loop_factory()
    log.info(
        "starting %s on %s:%d (event loop: %s, HTTP parser: %s)",
        service,
        settings.host,
        settings.port,
        loop_factory.__module__,
        http_protocol(),
    )
    # Everything loaded so far (FastAPI, pydantic, SQLAlchemy, protobuf, models) lives as long as the
    # process: frozen out of the collector's reach, full collections under load no longer walk it
    # (they took ~5% of ingest's CPU at 400 frames/s).
    gc.collect()
    gc.freeze()
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_serve_with(bus, engine, app, settings, sock))


async def _serve_with(
    bus: Bus, engine: AsyncEngine, app: FastAPI, settings: CoreSettings, sock: socket.socket
) -> None:
    # The composition root owns the bus and the engine; the app's lifespan owns its consumers.
    await bus.start()
    try:
        await serve(app, settings, http=http_protocol(), sock=sock)
    finally:
        await bus.stop()
        await engine.dispose()
