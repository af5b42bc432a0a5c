"""A neighbour zone in the embedded platform, in process: its own bus and SQLite, its share, match and
access services, on the same in-process exchange as this zone's share service, so `anpr run` shows
sharing under agreements both ways. Mounted under /partner/<zone>/{share,match,access}; its tokens
are its zone's (`anpr dev-token --zone 5388`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_access.bootstrap import build_app as build_access
from anpr_access.settings import AccessSettings
from anpr_core.auth import DevIssuer
from anpr_core.bus import MemoryBus
from anpr_core.db import make_engine
from anpr_match.bootstrap import build_app as build_match
from anpr_match.settings import MatchSettings
from anpr_share.bootstrap import build_app as build_share
from anpr_share.settings import ShareSettings

PARTNER_ZONE = "5388"
PARTNER_SERVICES = ("share", "match", "access")


@dataclass
class PartnerZone:
    zone_id: str
    bus: MemoryBus
    app: FastAPI  # its services under /share, /match, /access
    services: dict[str, FastAPI]
    engines: dict[str, AsyncEngine] = field(default_factory=dict)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for engine in self.engines.values():
                stack.push_async_callback(engine.dispose)
            for name in ("access", "match", "share"):
                service = self.services[name]
                await stack.enter_async_context(service.router.lifespan_context(service))
            yield


def build_partner(
    data_dir: Path, exchange: MemoryBus, issuer: DevIssuer, zone_id: str = PARTNER_ZONE
) -> PartnerZone:
    home = data_dir / f"partner-{zone_id}"
    bus = MemoryBus()
    engines = {name: make_engine(None, name, home) for name in PARTNER_SERVICES}
    common: dict[str, Any] = {"zone_id": zone_id, "data_dir": home}
    services: dict[str, FastAPI] = {
        "share": build_share(
            ShareSettings(**common, topic_check_s=1.0), bus, engines["share"], issuer, exchange
        ),
        "match": build_match(MatchSettings(**common), bus, engines["match"], issuer),
        "access": build_access(AccessSettings(**common), bus, engines["access"], issuer),
    }
    app = FastAPI(title=f"Schild, neighbour zone {zone_id} (embedded)", docs_url=None, redoc_url=None)
    for name, service in services.items():
        app.mount(f"/{name}", service)
    return PartnerZone(zone_id, bus, app, services, engines)
