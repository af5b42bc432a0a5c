"""Composition root of the audit service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr.v1 import audit_pb2
from anpr_audit.api import build_router
from anpr_audit.settings import AuditSettings
from anpr_audit.storage import SCHEMA, AuditLog, install_append_only_guards, metadata
from anpr_audit.watch import ChainWatch
from anpr_core.auditing import AuditTrail
from anpr_core.auth import TokenVerifier, build_verifier
from anpr_core.bus import Bus, Record
from anpr_core.consume import PoisonMessage, ServiceConsumers
from anpr_core.db import create_schema, ping
from anpr_core.events import Topics
from anpr_core.metrics import AUDIT_APPENDED
from anpr_core.service import create_service_app


def build_app(
    settings: AuditSettings, bus: Bus, engine: AsyncEngine, verifier: TokenVerifier | None = None
) -> FastAPI:
    topics = Topics(settings.topic_prefix)
    consumers = ServiceConsumers(bus, topics, "audit", settings.zone_id)
    log = AuditLog(engine)
    audit = AuditTrail(bus, topics.audit, settings.zone_id, "audit")

    async def on_audit_event(record: Record) -> None:
        event = audit_pb2.AuditEvent()
        event.ParseFromString(record.value)
        if not event.meta.event_id:
            raise PoisonMessage("audit event without event_id")
        if await log.append(event):
            AUDIT_APPENDED.inc()

    worker = consumers.worker(topics.audit, "audit", on_audit_event)

    watch = ChainWatch(log, interval_s=settings.audit_verify_interval_s)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await create_schema(engine, metadata, SCHEMA)
        await install_append_only_guards(engine)
        worker.start()
        watch.start()
        try:
            yield
        finally:
            await watch.stop()
            await worker.stop()

    app = create_service_app(
        "audit",
        lifespan=lifespan,
        readiness={"bus": bus.ping, "database": lambda: ping(engine)},
        token_verifier=verifier or build_verifier(settings),
        description="Append-only, hash-chained audit log.",
    )
    app.state.audit_log = log
    app.state.refusal_recorder = audit
    app.include_router(build_router(log, audit))
    return app
