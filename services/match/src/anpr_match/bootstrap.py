"""Composition root of the match service: settings -> database, bus, adapters, handlers' ports,
consumers and REST app. Wiring only."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_core.auditing import AuditTrail
from anpr_core.auth import TokenVerifier, build_verifier
from anpr_core.bus import Bus, Replayable
from anpr_core.consume import ServiceConsumers
from anpr_core.db import ping, session_factory
from anpr_core.events import Topics
from anpr_core.ids import new_event_id
from anpr_core.metrics import HOTLIST_ENTRIES_INDEXED
from anpr_core.migrations import prepare_schema
from anpr_core.outbox import OutboxRelay
from anpr_core.service import create_service_app
from anpr_match.adapters.codecs import INDEXED_BY_HEADER, seen_read_from
from anpr_match.adapters.hit_rates import VerdictTally
from anpr_match.adapters.hit_store import HitRecorder, HitStore
from anpr_match.adapters.hotlist_store import HotlistEvents, HotlistStore
from anpr_match.adapters.migrations import HISTORY
from anpr_match.adapters.tables import outbox
from anpr_match.domain.dedupe import HitDeduplicator
from anpr_match.domain.index import HotlistIndex
from anpr_match.domain.recent import RecentReads
from anpr_match.entrypoints import http_hit_rates, http_hits, http_hotlist, http_lists
from anpr_match.entrypoints.consumers import MatchConsumers
from anpr_match.entrypoints.errors import install_error_answers
from anpr_match.entrypoints.stream import HitStream
from anpr_match.handlers.context import HitPorts, HotlistPorts
from anpr_match.handlers.hit_rates import HitRatePorts
from anpr_match.handlers.matching import MatchPipeline
from anpr_match.handlers.restore import restore_recent_reads
from anpr_match.settings import MatchSettings

# Hotlist events the relay publishes at a time: a million-line import's go in 200 rounds.
RELAY_BATCH = 5000
# Published rows are kept this long, then deleted: the compacted hotlist topic is the record.
KEEP_SENT = timedelta(hours=1)


@dataclass(frozen=True)
class MatchService:
    """A replica as built: its app, and what it was built with (for the tests and benchmarks that
    look inside a replica)."""

    app: FastAPI
    pipeline: MatchPipeline
    hotlists: HotlistStore
    hits: HitStore
    relay: OutboxRelay


@dataclass(frozen=True)
class Running:
    """What a replica starts before it serves and stops after: its schema, the restore of its
    recent reads, its consumers, the outbox relay and the look-back."""

    settings: MatchSettings
    bus: Bus
    engine: AsyncEngine
    topics: Topics
    hotlists: HotlistStore
    pipeline: MatchPipeline
    consumers: MatchConsumers
    relay: OutboxRelay

    @asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        settings, pipeline, index = self.settings, self.pipeline, self.pipeline.index
        # On PostgreSQL the schema is the owner's (`anpr migrate match`): refused unless current.
        await prepare_schema(self.engine, HISTORY)
        if settings.embedded:
            # The in-process topic starts empty at each run; SQLite kept the lists and entries.
            for rules in await self.hotlists.lists():
                index.set_rules(rules)
            for entry in await self.hotlists.entries():
                index.put(entry)
            HOTLIST_ENTRIES_INDEXED.set(len(index))
        stopping = asyncio.Event()
        # 0. The look-back's reads of before this start, read again from the reads topic while
        #    the workers run (readiness waits for its newest window): see restore_recent_reads.
        restore: asyncio.Task[int] | None = None
        if isinstance(self.bus, Replayable) and settings.recent_reads_capacity:
            started = int(time.time() * 1000)
            pipeline.begin_restore(started)
            restore = asyncio.create_task(
                restore_recent_reads(
                    pipeline,
                    self.bus,
                    self.topics.reads,
                    seen_read_from,
                    started_ms=started,
                    skew=timedelta(seconds=settings.late_read_s),
                )
            )
        self.consumers.start()
        self.relay.start()
        look_back = asyncio.create_task(pipeline.run_look_back(settings.lookback_interval_s, stopping))
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
            await self.relay.stop()
            await self.consumers.stop()


def build_service(
    settings: MatchSettings, bus: Bus, engine: AsyncEngine, verifier: TokenVerifier | None = None
) -> MatchService:
    topics = Topics(settings.topic_prefix)
    sessions = session_factory(engine)
    audit = AuditTrail(bus, topics.audit, settings.zone_id, "match")
    # Names this replica: its index group, and the records it indexed itself before publishing.
    replica = new_event_id()
    indexed_here = (INDEXED_BY_HEADER, replica.encode())
    relay = OutboxRelay(engine, outbox, bus, service="match", batch=RELAY_BATCH, keep_sent=KEEP_SENT)
    events = HotlistEvents(outbox, topics.hotlist, topics.audit, settings.zone_id, indexed_here)
    hotlists = HotlistStore(sessions, events, relay)
    hits = HitStore(sessions)
    index = HotlistIndex(settings.confusables, timedelta(hours=settings.lookback_hours))
    pipeline = MatchPipeline(
        index=index,
        recent=RecentReads(settings.recent_reads_capacity),
        dedup=HitDeduplicator(settings.duplicate_window_s, settings.late_read_s),
        hits=HitRecorder(hits, bus, topics.hits, settings.zone_id, index.rules),
        late=timedelta(seconds=settings.late_read_s),
    )
    stream = HitStream()
    hotlist_ports = HotlistPorts(hotlists, pipeline, audit, settings.zone_id)
    consumers = MatchConsumers(
        ServiceConsumers(bus, topics, "match", settings.zone_id),
        pipeline,
        stream,
        replica=replica,
        indexed_here=indexed_here,
        started_ms=int(time.time() * 1000),
        hotlist_ports=hotlist_ports,
    )

    running = Running(settings, bus, engine, topics, hotlists, pipeline, consumers, relay)
    app = create_service_app(
        "match",
        lifespan=running.lifespan,
        readiness={
            "bus": bus.ping,
            "database": functools.partial(ping, engine),
            "recent_reads": pipeline.recent_reads_ready,
        },
        zone_id=settings.zone_id,
        token_verifier=verifier or build_verifier(settings),
        description="Hotlists and their rules, matching of reads (exact, confusable, edit), hits and acks.",
    )
    app.state.refusal_recorder = audit
    app.state.hotlist_ports = hotlist_ports
    app.state.hit_ports = HitPorts(hits, audit)
    app.state.hit_rate_ports = HitRatePorts(VerdictTally(sessions), audit)
    app.state.hit_stream = stream
    install_error_answers(app)
    # The rates' path before /v1/hits/{hit_id}, which would take it for a hit id.
    for routes in (http_lists, http_hotlist, http_hit_rates, http_hits):
        app.include_router(routes.router)
    return MatchService(app, pipeline, hotlists, hits, relay)


def build_app(
    settings: MatchSettings, bus: Bus, engine: AsyncEngine, verifier: TokenVerifier | None = None
) -> FastAPI:
    return build_service(settings, bus, engine, verifier).app
