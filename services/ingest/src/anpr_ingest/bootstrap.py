"""Composition root of the ingest service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_core.auditing import AuditTrail
from anpr_core.auth import TokenVerifier, build_verifier
from anpr_core.bus import Bus
from anpr_core.db import create_schema, ping, session_factory
from anpr_core.events import Topics
from anpr_core.service import create_service_app
from anpr_ingest.api import build_router
from anpr_ingest.settings import IngestSettings
from anpr_ingest.storage import SCHEMA, CameraRegister, metadata


def build_app(
    settings: IngestSettings, bus: Bus, engine: AsyncEngine, verifier: TokenVerifier | None = None
) -> FastAPI:
    register = CameraRegister(session_factory(engine))
    audit = AuditTrail(bus, Topics(settings.topic_prefix).audit, settings.zone_id, "ingest")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await create_schema(engine, metadata, SCHEMA)
        yield

    app = create_service_app(
        "ingest",
        lifespan=lifespan,
        readiness={"bus": bus.ping, "database": lambda: ping(engine)},
        token_verifier=verifier or build_verifier(settings),
        description="Camera register and frame intake.",
    )
    app.state.camera_register = register
    app.state.refusal_recorder = audit
    app.include_router(build_router(settings, bus, register, audit))
    return app
