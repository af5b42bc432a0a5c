"""Composition root of the audit service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr.v1 import audit_pb2
from anpr_audit.adapters.anchor_file import AnchorFile
from anpr_audit.adapters.anchor_topic import AnchorTopic
from anpr_audit.adapters.anchors import AnchorStore
from anpr_audit.adapters.audit_log import AuditLog
from anpr_audit.adapters.signing import load_signing_key
from anpr_audit.adapters.tables import RUNTIME_PRIVILEGES, SCHEMA, install_append_only_guards, metadata
from anpr_audit.domain.actions import is_known
from anpr_audit.entrypoints.http import router
from anpr_audit.handlers.auditor import AuditPorts
from anpr_audit.handlers.chain_watch import ChainWatch
from anpr_audit.settings import AuditSettings
from anpr_core.auditing import AuditTrail
from anpr_core.auth import TokenVerifier, build_verifier
from anpr_core.bus import Bus, Record
from anpr_core.consume import PoisonMessage, ServiceConsumers
from anpr_core.db import create_schema, ping, schema_owner
from anpr_core.events import Topics
from anpr_core.metrics import AUDIT_APPENDED, AUDIT_UNKNOWN_ACTIONS
from anpr_core.service import create_service_app
from anpr_core.settings import Environment

_SERVICES = frozenset({"ingest", "detect", "match", "audit", "access", "sharing"})


def decode_audit_event(record: Record) -> audit_pb2.AuditEvent:
    event = audit_pb2.AuditEvent()
    event.ParseFromString(record.value)
    if not event.meta.event_id:
        raise PoisonMessage("audit event without event_id")
    return event


def build_app(
    settings: AuditSettings, bus: Bus, engine: AsyncEngine, verifier: TokenVerifier | None = None
) -> FastAPI:
    topics = Topics(settings.topic_prefix)
    consumers = ServiceConsumers(bus, topics, "audit", settings.zone_id)
    # Fails at start-up, with what to do, when production has no key file.
    signing_key = load_signing_key(
        settings.resolved_signing_key_path(), create=settings.env is not Environment.PRODUCTION
    )
    log = AuditLog(engine)
    audit = AuditTrail(bus, topics.audit, settings.zone_id, "audit")

    async def on_audit_batch(records: list[Record]) -> None:
        # One transaction per poll; a poison record fails the batch, and the worker then
        # retries record by record so that one alone goes to the DLQ.
        appended = await log.append_batch([decode_audit_event(record) for record in records])
        AUDIT_APPENDED.inc(len(appended))
        for event in appended:
            if not is_known(event.action):
                AUDIT_UNKNOWN_ACTIONS.labels(event.service if event.service in _SERVICES else "other").inc()

    worker = consumers.batch_worker(
        topics.audit, "audit", on_audit_batch, max_records=settings.audit_batch_max_records
    )
    # The file always; the topic where there is a broker (the in-process bus dies with the process).
    anchor_file = AnchorFile(settings.resolved_anchor_file(), settings.zone_id)
    anchor_topic = (
        AnchorTopic(
            bus, settings.kafka_bootstrap, topics.prefix + settings.audit_anchor_topic, settings.zone_id
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

    async def publish(event: audit_pb2.AuditEvent) -> None:
        await bus.publish(topics.audit, event.actor.user_id.encode(), event.SerializeToString())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The owner role creates the tables and their triggers; the runtime role may INSERT and SELECT.
        async with schema_owner(engine, settings.database_owner_url, SCHEMA, RUNTIME_PRIVILEGES) as owner:
            await create_schema(owner, metadata, SCHEMA)
            await install_append_only_guards(owner)
        anchor_file.open()
        if anchor_topic is not None:
            await anchor_topic.ensure()
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
        zone_id=settings.zone_id,
        token_verifier=verifier or build_verifier(settings),
        description="Append-only, hash-chained audit log with signed checkpoints.",
    )
    app.state.audit_ports = AuditPorts(log, watch, audit, settings.zone_id, publish)
    app.state.refusal_recorder = audit
    app.include_router(router)
    return app
