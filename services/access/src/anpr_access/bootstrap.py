"""Composition root of the access service: stores reads and hits, serves lawful search."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr.v1 import common_pb2, hit_pb2, read_pb2
from anpr_access.adapters.storage import SCHEMA, create_access_schema, ensure_partitions, hits, reads
from anpr_access.api import AccessContext, build_router
from anpr_access.domain.legal import LegalPolicy
from anpr_access.domain.retention import Month
from anpr_access.dpo_api import build_dpo_router
from anpr_access.governance_api import build_governance_router
from anpr_access.housekeeping import RetentionJob
from anpr_access.plates import plate_key
from anpr_access.settings import AccessSettings
from anpr_core.auditing import AuditTrail
from anpr_core.auth import TokenVerifier, build_verifier
from anpr_core.bus import Bus, Record
from anpr_core.consume import PoisonMessage, ServiceConsumers
from anpr_core.db import (
    check_role_split,
    dispose_owner,
    grant_runtime_rights,
    insert_ignoring_duplicates,
    owner_engine,
    ping,
    session_factory,
)
from anpr_core.events import Topics, from_timestamp, utcnow
from anpr_core.metrics import READS_STORED
from anpr_core.service import create_service_app

_log = logging.getLogger(__name__)

_DIRECTION_NAMES = {
    common_pb2.DIRECTION_IN: "in",
    common_pb2.DIRECTION_OUT: "out",
    common_pb2.DIRECTION_BOTH: "both",
}


def read_row(read: read_pb2.PlateRead) -> dict[str, object]:
    return {
        "event_id": read.meta.event_id,
        "zone_id": read.meta.zone_id,
        "camera_id": read.camera_id,
        "captured_at": from_timestamp(read.captured_at),
        "direction": _DIRECTION_NAMES.get(read.direction, "unknown"),
        "plate": read.plate,
        "plate_key": plate_key(read.plate),
        "formatted": read.formatted,
        "country": read.country,
        "format_valid": read.format_valid,
        "confidence": read.confidence,
        "candidates": [[c.text, round(c.confidence, 4)] for c in read.candidates],
        "box": [read.box.x1, read.box.y1, read.box.x2, read.box.y2],
        "frame_event_id": read.frame_event_id,
        "camera_read": read.camera_read,
        "reader": read.reader,
        "plate_crop": read.plate_crop or None,
        "overview": read.overview or None,
        "stored_at": utcnow(),
    }


def build_app(
    settings: AccessSettings, bus: Bus, engine: AsyncEngine, verifier: TokenVerifier | None = None
) -> FastAPI:
    topics = Topics(settings.topic_prefix)
    consumers = ServiceConsumers(bus, topics, "access", settings.zone_id)
    sessions = session_factory(engine)
    audit = AuditTrail(bus, topics.audit, settings.zone_id, "access")
    policy = LegalPolicy(
        first_tier=timedelta(days=settings.first_tier_days), retention=timedelta(days=settings.retention_days)
    )

    # Partitions are DDL: making them, and the retention job that drops them, is the owner role's.
    owner = owner_engine(engine, settings.database_owner_url)
    retention = RetentionJob(owner, audit, policy, settings.partitions_ahead)
    # Months whose partition this replica has made sure of; a late or replayed read may need an old one.
    partitioned: set[Month] = set()

    async def on_read(record: Record) -> None:
        read = read_pb2.PlateRead()
        read.ParseFromString(record.value)
        if not read.meta.event_id or not read.camera_id:
            raise PoisonMessage("read without event_id or camera_id")
        captured_at = from_timestamp(read.captured_at)
        if utcnow() - captured_at > policy.retention:
            # Already past retention (a very late replay): the law says it must not be kept.
            _log.info("read %s is past retention and is not stored", read.meta.event_id)
            return
        month = Month.of(captured_at)
        if month not in partitioned:
            await ensure_partitions(owner, [month])
            partitioned.add(month)
        async with sessions.begin() as session:
            stored = await insert_ignoring_duplicates(session, reads, [read_row(read)])
        READS_STORED.inc(stored)

    async def on_hit(record: Record) -> None:
        hit = hit_pb2.Hit()
        hit.ParseFromString(record.value)
        if not hit.meta.event_id:
            raise PoisonMessage("hit without event_id")
        async with sessions.begin() as session:
            await insert_ignoring_duplicates(
                session,
                hits,
                [
                    {
                        "hit_id": hit.meta.event_id,
                        "zone_id": hit.meta.zone_id,
                        "read_event_id": hit.read_event_id,
                        "entry_id": hit.hotlist_entry_id,
                        "camera_id": hit.camera_id,
                        "captured_at": from_timestamp(hit.captured_at),
                        "plate_listed": hit.plate_listed,
                        "match_kind": hit_pb2.MatchKind.Name(hit.match_kind)
                        .removeprefix("MATCH_KIND_")
                        .lower(),
                        "list_name": hit.list_name,
                        "priority": hit.priority,
                        "stored_at": utcnow(),
                    }
                ],
            )

    workers = [
        consumers.worker(topics.reads, "access-reads", on_read),
        consumers.worker(topics.hits, "access-hits", on_hit),
    ]

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await check_role_split(owner, engine, SCHEMA)
        await create_access_schema(owner, utcnow(), settings.partitions_ahead)
        await grant_runtime_rights(owner, engine, SCHEMA)
        for worker in workers:
            worker.start()
        retention.start(settings.retention_interval_s)
        try:
            yield
        finally:
            await retention.stop()
            for worker in workers:
                await worker.stop()
            await dispose_owner(owner, engine)

    app = create_service_app(
        "access",
        lifespan=lifespan,
        readiness={"bus": bus.ping, "database": lambda: ping(engine)},
        zone_id=settings.zone_id,
        token_verifier=verifier or build_verifier(settings),
        metrics_token=settings.metrics_token,
        description="Lawful, purpose-bound search of passages.",
    )
    app.state.refusal_recorder = audit
    app.include_router(build_router(AccessContext(engine, sessions, audit, policy)))
    app.include_router(build_governance_router(sessions, audit, retention))
    app.include_router(build_dpo_router(sessions, audit, timedelta(days=settings.dpo_deadline_days)))
    return app
