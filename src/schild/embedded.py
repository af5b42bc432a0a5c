"""The embedded platform: every service in one process, on the in-process bus and SQLite.

Same service code as on Kafka and PostgreSQL; only the adapters handed to each composition
root differ. The REST surfaces share one port under /ingest, /detect, /match, /audit, /access,
/share; the operator console is at /. A neighbour zone runs beside it (schild.partner, under
/partner/<zone>), both zones' share services on one in-process exchange.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_access.bootstrap import build_app as build_access
from anpr_access.settings import AccessSettings
from anpr_audit.bootstrap import build_app as build_audit
from anpr_audit.settings import AuditSettings
from anpr_console.adapters.upstreams import in_process
from anpr_console.bootstrap import build_app as build_console
from anpr_console.settings import ConsoleSettings
from anpr_core.auth import DevIssuer
from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine, ping
from anpr_core.service import create_service_app
from anpr_core.settings import CoreSettings
from anpr_detect.bootstrap import ReaderFactory, onnx_reader
from anpr_detect.bootstrap import build_app as build_detect
from anpr_detect.settings import DetectSettings
from anpr_ingest.bootstrap import build_app as build_ingest
from anpr_ingest.entrypoints.http_vendors import FixedPathsAtRoot
from anpr_ingest.settings import IngestSettings
from anpr_match.bootstrap import build_app as build_match
from anpr_match.settings import MatchSettings
from anpr_share.bootstrap import build_app as build_share
from anpr_share.settings import ShareSettings
from schild.partner import PartnerZone, build_partner

SERVICES = ("ingest", "detect", "match", "audit", "access", "share")


@dataclass
class EmbeddedPlatform:
    app: FastAPI
    bus: MemoryBus
    issuer: DevIssuer
    services: dict[str, FastAPI]
    engines: dict[str, AsyncEngine] = field(default_factory=dict)
    # Where this zone and its neighbours share topics, and the neighbour zone running beside it.
    exchange: MemoryBus = field(default_factory=MemoryBus)
    partner: PartnerZone | None = None
    zone_id: str = ""

    def _pending(self) -> int:
        buses = [self.bus, self.exchange] + ([self.partner.bus] if self.partner else [])
        return sum(bus.pending() for bus in buses)

    async def wait_until_idle(self, timeout_s: float = 120.0, settle_s: float = 0.3) -> bool:
        """Waits until every consumer group has committed everything published so far."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._pending() == 0:
                await asyncio.sleep(settle_s)
                if self._pending() == 0:
                    return True
            await asyncio.sleep(0.05)
        return False


def build_platform(
    data_dir: Path | None = None,
    *,
    reader_factory: ReaderFactory = onnx_reader,
) -> EmbeddedPlatform:
    overrides: dict[str, Any] = {"data_dir": data_dir} if data_dir is not None else {}
    core = CoreSettings(**overrides)
    if not core.embedded or core.database_url is not None:
        raise ValueError(
            "the embedded platform runs without ANPR_KAFKA_BOOTSTRAP and ANPR_DATABASE_URL; "
            "unset them, or run the services one by one (`anpr serve SERVICE`)"
        )
    bus = MemoryBus(partitions=core.topic_partitions)
    exchange = MemoryBus(partitions=core.topic_partitions)
    issuer = DevIssuer(core.resolved_dev_key_path(), core.oidc_audience)
    engines = {name: make_engine(None, name, core.data_dir) for name in SERVICES}
    services: dict[str, FastAPI] = {
        "ingest": build_ingest(IngestSettings(**overrides), bus, engines["ingest"], issuer),
        "detect": build_detect(DetectSettings(**overrides), bus, engines["detect"], issuer, reader_factory),
        "match": build_match(MatchSettings(**overrides), bus, engines["match"], issuer),
        "audit": build_audit(AuditSettings(**overrides), bus, engines["audit"], issuer),
        "access": build_access(AccessSettings(**overrides), bus, engines["access"], issuer),
        "share": build_share(
            ShareSettings(**overrides, topic_check_s=1.0), bus, engines["share"], issuer, exchange
        ),
    }
    partner = build_partner(core.data_dir, exchange, issuer)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Mounted apps' lifespans do not run by themselves; the parent enters each one,
        # consumers of the audit trail first so nothing waits on a missing sink.
        async with AsyncExitStack() as stack:
            await bus.start()
            stack.push_async_callback(bus.stop)
            for engine in engines.values():
                stack.push_async_callback(engine.dispose)
            for name in ("audit", "access", "match", "share", "detect", "ingest"):
                service = services[name]
                await stack.enter_async_context(service.router.lifespan_context(service))
            await stack.enter_async_context(partner.running())
            yield

    async def databases_ready() -> bool:
        results = await asyncio.gather(*(ping(engine) for engine in engines.values()))
        return all(results)

    app = create_service_app(
        "embedded",
        lifespan=lifespan,
        readiness={"bus": bus.ping, "databases": databases_ready},
        zone_id=core.zone_id,
        token_verifier=issuer,
        metrics_token=core.metrics_token,
        description="All Schild services in one process. Each service is mounted under its own prefix.",
    )
    for name, service in services.items():
        app.mount(f"/{name}", service)
    app.mount(f"/partner/{partner.zone_id}", partner.app)
    # The console at /, last: it calls the services mounted above in process, with the user's token.
    app.mount("/", build_console(ConsoleSettings(**overrides), in_process(services), issuer))
    # Dahua cameras post to /NotificationInfo/... at the server's root, whatever else is set.
    app.add_middleware(FixedPathsAtRoot, mounted_at="/ingest")
    return EmbeddedPlatform(
        app=app,
        bus=bus,
        issuer=issuer,
        services=services,
        engines=engines,
        exchange=exchange,
        partner=partner,
        zone_id=core.zone_id,
    )


@asynccontextmanager
async def running(platform: EmbeddedPlatform) -> AsyncIterator[EmbeddedPlatform]:
    """Runs the platform's lifespan without a server, e.g. for `anpr run --once` and tests."""
    async with platform.app.router.lifespan_context(platform.app):
        yield platform
