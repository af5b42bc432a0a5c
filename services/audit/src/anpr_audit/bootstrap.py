"""Composition root of the audit service: settings -> the log, its watch and anchors, the consumer,
the routes' ports and the app. Wiring only."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_audit.adapters.anchor_file import AnchorFile
from anpr_audit.adapters.anchor_topic import AnchorTopic
from anpr_audit.adapters.anchors import AnchorStore
from anpr_audit.adapters.audit_log import AuditLog
from anpr_audit.adapters.audit_topic import AuditTopic
from anpr_audit.adapters.migrations import HISTORY
from anpr_audit.adapters.signing import load_signing_key
from anpr_audit.entrypoints.consumers import audit_worker
from anpr_audit.entrypoints.http import router
from anpr_audit.handlers.auditor import AuditPorts
from anpr_audit.handlers.chain_watch import ChainWatch
from anpr_audit.settings import AuditSettings
from anpr_core.auditing import AuditTrail
from anpr_core.auth import TokenVerifier, build_verifier
from anpr_core.bus import Bus
from anpr_core.consume import ConsumerWorker, ServiceConsumers
from anpr_core.db import ping
from anpr_core.events import Topics
from anpr_core.migrations import prepare_schema
from anpr_core.service import create_service_app
from anpr_core.settings import Environment


@dataclass(frozen=True)
class _Running:
    """What the app's lifespan checks, opens, starts and stops."""

    engine: AsyncEngine
    anchor_file: AnchorFile
    anchor_topic: AnchorTopic | None
    worker: ConsumerWorker
    watch: ChainWatch


@asynccontextmanager
async def _lifespan(running: _Running, _app: FastAPI) -> AsyncIterator[None]:
    # The owner role made the tables and their triggers (`anpr migrate audit`); the runtime role may
    # INSERT and SELECT. On PostgreSQL a schema not at its head is refused.
    await prepare_schema(running.engine, HISTORY)
    running.anchor_file.open()
    if running.anchor_topic is not None:
        await running.anchor_topic.ensure()
    running.worker.start()
    running.watch.start()
    try:
        yield
    finally:
        await running.watch.stop()
        await running.worker.stop()


def build_app(
    settings: AuditSettings, bus: Bus, engine: AsyncEngine, verifier: TokenVerifier | None = None
) -> FastAPI:
    topics = Topics(settings.topic_prefix)
    # Fails at start-up, with what to do, when production has no key file.
    signing_key = load_signing_key(
        settings.resolved_signing_key_path(), create=settings.env is not Environment.PRODUCTION
    )
    log = AuditLog(engine)
    audit = AuditTrail(bus, topics.audit, settings.zone_id, "audit")
    worker = audit_worker(
        ServiceConsumers(bus, topics, "audit", settings.zone_id),
        topics.audit,
        log,
        settings.audit_batch_max_records,
    )
    # The file always; the topic where there is a broker (the in-process bus dies with the process).
    anchor_file = AnchorFile(settings.resolved_anchor_file(), settings.zone_id)
    anchor_topic = (
        AnchorTopic(
            bus,
            settings.kafka_bootstrap,
            topics.prefix + settings.audit_anchor_topic,
            settings.zone_id,
            security=settings.kafka_security(),
        )
        if settings.kafka_bootstrap
        else None
    )
    anchors: list[AnchorStore] = [anchor_file, *([anchor_topic] if anchor_topic else [])]
    watch = ChainWatch(
        log,
        signing_key,
        interval_s=settings.audit_verify_interval_s,
        checkpoint_interval_s=settings.audit_checkpoint_interval_s,
        anchors=anchors,
    )
    running = _Running(engine, anchor_file, anchor_topic, worker, watch)
    app = create_service_app(
        "audit",
        lifespan=partial(_lifespan, running),
        readiness={"bus": bus.ping, "database": partial(ping, engine)},
        zone_id=settings.zone_id,
        token_verifier=verifier or build_verifier(settings),
        description="Append-only, hash-chained audit log with signed checkpoints.",
    )
    publish = AuditTopic(bus, topics.audit).publish
    app.state.audit_ports = AuditPorts(log, watch, audit, settings.zone_id, publish)
    app.state.refusal_recorder = audit
    app.include_router(router)
    return app
