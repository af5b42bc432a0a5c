"""Composition root of the match service: hotlist index consumer, read matcher, REST."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr.v1 import hotlist_pb2, read_pb2
from anpr_core.auditing import AuditTrail
from anpr_core.auth import TokenVerifier, build_verifier
from anpr_core.bus import Bus, Record
from anpr_core.consume import PoisonMessage, ServiceConsumers
from anpr_core.db import create_schema, insert_ignoring_duplicates, ping, session_factory
from anpr_core.events import Topics, from_timestamp, utcnow
from anpr_core.ids import new_event_id
from anpr_core.metrics import HITS
from anpr_core.service import create_service_app
from anpr_core.settings import CoreSettings
from anpr_match.api import build_router
from anpr_match.domain import HotlistIndex
from anpr_match.events import entry_from_event, hit_for, readings_of
from anpr_match.storage import SCHEMA, hits, load_entries, metadata


def build_app(
    settings: CoreSettings, bus: Bus, engine: AsyncEngine, verifier: TokenVerifier | None = None
) -> FastAPI:
    topics = Topics(settings.topic_prefix)
    consumers = ServiceConsumers(bus, topics, "match", settings.zone_id)
    sessions = session_factory(engine)
    index = HotlistIndex()
    audit = AuditTrail(bus, topics.audit, settings.zone_id, "match")

    async def on_hotlist_event(record: Record) -> None:
        event = hotlist_pb2.HotlistEntry()
        event.ParseFromString(record.value)
        if event.deleted:
            index.remove(event.entry_id)
            return
        try:
            index.put(entry_from_event(event))
        except ValueError as error:
            raise PoisonMessage(f"hotlist entry {event.entry_id!r} is invalid: {error}") from error

    async def on_read(record: Record) -> None:
        read = read_pb2.PlateRead()
        read.ParseFromString(record.value)
        if not read.meta.event_id:
            raise PoisonMessage("read without event_id")
        matches = index.match(readings_of(read), from_timestamp(read.captured_at))
        if not matches:
            return
        raised = [hit_for(read, match, settings.zone_id) for match in matches]
        # 1. store the hits (idempotent on read and entry), 2. publish them, 3. the worker commits.
        async with sessions.begin() as session:
            await insert_ignoring_duplicates(
                session,
                hits,
                [
                    {
                        "hit_id": hit.meta.event_id,
                        "read_event_id": hit.read_event_id,
                        "entry_id": hit.hotlist_entry_id,
                        "camera_id": hit.camera_id,
                        "captured_at": from_timestamp(hit.captured_at),
                        "plate_read": hit.plate_read,
                        "plate_listed": hit.plate_listed,
                        "match_kind": match.kind.value,
                        "score": hit.score,
                        "list_name": hit.list_name,
                        "category": hit.category,
                        "priority": hit.priority,
                        "action": hit.action,
                        "created_at": utcnow(),
                    }
                    for hit, match in zip(raised, matches, strict=True)
                ],
            )
        for hit, match in zip(raised, matches, strict=True):
            await bus.publish(topics.hits, hit.hotlist_entry_id.encode(), hit.SerializeToString())
            HITS.labels(hit.list_name, match.kind.value).inc()

    # Every replica reads the whole hotlist topic into its own index, so no replica is special:
    # a group id new at each start has no committed offsets, so it replays from the beginning.
    index_worker = consumers.worker(
        topics.hotlist, f"match-index-{new_event_id()}", on_hotlist_event, max_records=1000
    )
    read_worker = consumers.worker(topics.reads, "match", on_read)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await create_schema(engine, metadata, SCHEMA)
        for entry in await load_entries(sessions):
            index.put(entry)
        index_worker.start()
        read_worker.start()
        try:
            yield
        finally:
            await read_worker.stop()
            await index_worker.stop()

    app = create_service_app(
        "match",
        lifespan=lifespan,
        readiness={"bus": bus.ping, "database": lambda: ping(engine)},
        token_verifier=verifier or build_verifier(settings),
        description="Hotlists, matching and hits.",
    )
    app.state.hotlist_index = index
    app.state.refusal_recorder = audit
    app.include_router(build_router(sessions, bus, index, audit, topics, settings.zone_id))
    return app
