"""Composition root of the match service: hotlist index consumer, read matcher, hit stream, REST."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr.v1 import hit_pb2, hotlist_pb2, read_pb2
from anpr_core.auditing import AuditTrail
from anpr_core.auth import TokenVerifier, build_verifier
from anpr_core.bus import Bus, Record, Replayable
from anpr_core.consume import PoisonMessage, ServiceConsumers
from anpr_core.db import create_schema, ping, schema_owner, session_factory
from anpr_core.events import Topics
from anpr_core.ids import new_event_id
from anpr_core.metrics import HOTLIST_ENTRIES_INDEXED
from anpr_core.service import create_service_app
from anpr_core.settings import CoreSettings
from anpr_match.api import build_router
from anpr_match.domain.dedupe import HitDeduplicator
from anpr_match.domain.index import HotlistIndex
from anpr_match.domain.plates import Confusables
from anpr_match.domain.recent import RecentReads
from anpr_match.events import (
    INDEXED_BY_HEADER,
    KIND_HEADER,
    LIST_KIND,
    entry_from_event,
    rules_from_event,
    seen_read_from,
    seen_read_of,
)
from anpr_match.pipeline import HitStream, MatchPipeline, hit_row, restore_recent_reads
from anpr_match.settings import MatchSettings
from anpr_match.storage import SCHEMA, load_entries, load_rules, metadata


def build_app(
    settings: CoreSettings,
    bus: Bus,
    engine: AsyncEngine,
    verifier: TokenVerifier | None = None,
    match_settings: MatchSettings | None = None,
) -> FastAPI:
    options = match_settings or MatchSettings()
    topics = Topics(settings.topic_prefix)
    consumers = ServiceConsumers(bus, topics, "match", settings.zone_id)
    sessions = session_factory(engine)
    index = HotlistIndex(Confusables(options.confusable_classes), timedelta(hours=options.lookback_hours))
    audit = AuditTrail(bus, topics.audit, settings.zone_id, "match")
    pipeline = MatchPipeline(
        index=index,
        recent=RecentReads(options.recent_reads_capacity),
        dedup=HitDeduplicator(options.duplicate_window_s, options.late_read_s),
        sessions=sessions,
        bus=bus,
        topics=topics,
        zone_id=settings.zone_id,
        late=timedelta(seconds=options.late_read_s),
    )
    stream = HitStream()

    # Names this replica: its index group, and the records it indexed itself before publishing.
    replica = new_event_id()
    indexed_here = (INDEXED_BY_HEADER, replica.encode())

    async def on_hotlist_event(record: Record) -> None:
        if indexed_here in record.headers:
            return
        try:
            if (KIND_HEADER, LIST_KIND) in record.headers:
                rules = hotlist_pb2.HotlistRules()
                rules.ParseFromString(record.value)
                index.set_rules(rules_from_event(rules))
                return
            event = hotlist_pb2.HotlistEntry()
            event.ParseFromString(record.value)
            if event.deleted:
                index.remove(event.entry_id)
                return
            pipeline.on_entry(entry_from_event(event), fresh=pipeline.fresh(record.timestamp_ms))
        except ValueError as error:
            raise PoisonMessage(f"hotlist record {record.key!r} is invalid: {error}") from error
        finally:
            HOTLIST_ENTRIES_INDEXED.set(len(index))

    async def on_read(record: Record) -> None:
        read = read_pb2.PlateRead()
        read.ParseFromString(record.value)
        if not read.meta.event_id:
            raise PoisonMessage("read without event_id")
        await pipeline.on_read(seen_read_of(read))

    started_ms = int(time.time() * 1000)

    async def on_hit(record: Record) -> None:
        # The stream shows hits raised from now on; earlier ones are on GET /v1/hits.
        if record.timestamp_ms and record.timestamp_ms < started_ms:
            return
        hit = hit_pb2.Hit()
        hit.ParseFromString(record.value)
        row = hit_row(hit)
        row.pop("created_at")
        row["differing_positions"] = list(hit.differing_positions)
        row["captured_at"] = row["captured_at"].isoformat()
        stream.offer(row)

    # Every replica reads the whole hotlist topic into its own index, so no replica is special:
    # a group id new at each start has no committed offsets, so it replays from the beginning.
    index_worker = consumers.worker(
        topics.hotlist, f"match-index-{replica}", on_hotlist_event, max_records=5000
    )
    read_worker = consumers.worker(topics.reads, "match", on_read, max_records=500)
    # Likewise every replica streams every replica's hits to its own SSE subscribers.
    stream_worker = consumers.worker(topics.hits, f"match-stream-{new_event_id()}", on_hit, max_records=1000)

    async def recent_reads_restored() -> bool:
        return pipeline.newest_restored

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with schema_owner(engine, settings.database_owner_url, SCHEMA) as owner:
            await create_schema(owner, metadata, SCHEMA)
        if settings.embedded:
            # The in-process topic starts empty at each run; SQLite kept the lists and entries.
            for rules in await load_rules(sessions):
                index.set_rules(rules)
            for entry in await load_entries(sessions):
                index.put(entry)
            HOTLIST_ENTRIES_INDEXED.set(len(index))
        stopping = asyncio.Event()
        # 0. The look-back's reads of before this start, read again from the reads topic while
        #    the workers run (readiness waits for its newest window): see restore_recent_reads.
        restore: asyncio.Task[int] | None = None
        if isinstance(bus, Replayable) and options.recent_reads_capacity:
            started = int(time.time() * 1000)
            pipeline.begin_restore(started)
            restore = asyncio.create_task(
                restore_recent_reads(
                    pipeline,
                    bus,
                    topics.reads,
                    seen_read_from,
                    started_ms=started,
                    skew=timedelta(seconds=options.late_read_s),
                )
            )
        index_worker.start()
        read_worker.start()
        stream_worker.start()
        look_back = asyncio.create_task(pipeline.run_look_back(options.lookback_interval_s, stopping))
        try:
            yield
        finally:
            stopping.set()
            if restore is not None:
                restore.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await restore
            with contextlib.suppress(asyncio.CancelledError):
                await look_back
            await stream_worker.stop()
            await read_worker.stop()
            await index_worker.stop()

    app = create_service_app(
        "match",
        lifespan=lifespan,
        readiness={"bus": bus.ping, "database": lambda: ping(engine), "recent_reads": recent_reads_restored},
        zone_id=settings.zone_id,
        token_verifier=verifier or build_verifier(settings),
        description="Hotlists and their rules, matching of reads (exact, confusable, edit), hits and acks.",
    )
    app.state.hotlist_index = index
    app.state.match_pipeline = pipeline
    app.state.refusal_recorder = audit
    app.include_router(
        build_router(sessions, bus, pipeline, stream, audit, topics, settings.zone_id, indexed_here)
    )
    return app
