"""Composition root of the share service: settings -> database, this zone's bus and the exchange,
adapters, the handlers' ports, consumers and REST app. Wiring only."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_core.auditing import AuditTrail
from anpr_core.auth import TokenVerifier, build_verifier
from anpr_core.bus import Bus
from anpr_core.bus.kafka import KafkaBus
from anpr_core.consume import ServiceConsumers
from anpr_core.db import is_postgres, ping, session_factory
from anpr_core.events import Topics
from anpr_core.ids import new_event_id
from anpr_core.migrations import prepare_schema
from anpr_core.outbox import OutboxRelay
from anpr_core.service import create_service_app
from anpr_share.adapters.agreement_store import AgreementStore
from anpr_share.adapters.codecs import ShareCodec
from anpr_share.adapters.exchange import ExchangeTopics
from anpr_share.adapters.migrations import HISTORY
from anpr_share.adapters.tables import exchange_outbox, outbox
from anpr_share.domain.book import AgreementBook
from anpr_share.domain.zone_topics import ZoneTopics
from anpr_share.entrypoints import http
from anpr_share.entrypoints.consumers import ShareConsumers
from anpr_share.entrypoints.problems import install_refusal_answers
from anpr_share.handlers.ports import SharePorts
from anpr_share.handlers.share_in import refresh_agreements
from anpr_share.settings import ShareSettings


@dataclass(frozen=True)
class ShareService:
    """A replica as built: its app, and what it was built with (for tests and the bench)."""

    app: FastAPI
    ports: SharePorts
    consumers: ShareConsumers


@dataclass(frozen=True)
class _Running:
    """What a replica starts before it serves and stops after."""

    settings: ShareSettings
    engine: AsyncEngine
    ports: SharePorts
    relays: tuple[OutboxRelay, ...]
    consumers: ShareConsumers
    owns_exchange: bool

    @asynccontextmanager
    async def lifespan(self, _app: FastAPI) -> AsyncIterator[None]:
        # On PostgreSQL the schema is the owner's (`anpr migrate share`): refused unless current.
        await prepare_schema(self.engine, HISTORY)
        if self.owns_exchange:
            await self.ports.exchange.start()
        try:
            await refresh_agreements(self.ports)
            for relay in self.relays:
                relay.start()
            self.consumers.start()
            try:
                yield
            finally:
                await self.consumers.stop()
                for relay in self.relays:
                    await relay.stop()
        finally:
            if self.owns_exchange:
                await self.ports.exchange.stop()


def exchange_for(settings: ShareSettings, bus: Bus) -> tuple[Bus, bool]:
    """The exchange's bus, and whether this service made it (and starts and stops it): a bus of its
    own where ANPR_SHARE_EXCHANGE_BOOTSTRAP names one, else this zone's bus."""
    if settings.exchange_bootstrap is None:
        return bus, False
    exchange = KafkaBus(
        settings.exchange_bootstrap,
        client_id=f"schild-share-{settings.zone_id}",
        partitions=settings.topic_partitions,
        security=settings.exchange_security(),
    )
    return exchange, True


def build_service(
    settings: ShareSettings,
    bus: Bus,
    engine: AsyncEngine,
    verifier: TokenVerifier | None = None,
    exchange: Bus | None = None,
) -> ShareService:
    """`exchange`: the bus neighbours share topics on, when the caller made it (the embedded
    platform's in-process exchange); else as the settings say (exchange_for)."""
    topics = Topics(settings.topic_prefix)
    zone_topics = ZoneTopics(settings.exchange_topic_prefix)
    owns_exchange = False
    if exchange is None:
        exchange, owns_exchange = exchange_for(settings, bus)
    audit = AuditTrail(bus, topics.audit, settings.zone_id, "share")
    relays = (
        OutboxRelay(engine, outbox, bus, service="share"),
        OutboxRelay(engine, exchange_outbox, exchange, service="share-exchange"),
    )
    store = AgreementStore(session_factory(engine), topics.audit, relays, postgres=is_postgres(engine))
    ports = SharePorts(
        zone_id=settings.zone_id,
        book=AgreementBook(settings.zone_id),
        flow=asyncio.Lock(),
        store=store,
        audit=audit,
        codec=ShareCodec(settings.zone_id),
        bus=bus,
        exchange=exchange,
        topics=topics,
        zone_topics=zone_topics,
    )
    exchange_topics = ExchangeTopics(
        settings.exchange_bootstrap or settings.kafka_bootstrap,
        settings.exchange_security() if settings.exchange_bootstrap else None,
        partitions=settings.topic_partitions,
    )
    consumers = ShareConsumers(
        ports,
        ServiceConsumers(bus, topics, "share", settings.zone_id),
        exchange_topics,
        replica=new_event_id(),
        max_batch=settings.max_batch,
        refresh_s=settings.refresh_s,
        topic_check_s=settings.topic_check_s,
    )
    running = _Running(settings, engine, ports, relays, consumers, owns_exchange)
    app = create_service_app(
        "share",
        lifespan=running.lifespan,
        readiness={"bus": bus.ping, "exchange": exchange.ping, "database": functools.partial(ping, engine)},
        zone_id=settings.zone_id,
        token_verifier=verifier or build_verifier(settings),
        metrics_token=settings.metrics_token,
        description="Sharing agreements with neighbour zones, and the bridge that shares reads and "
        "hotlists under them (minimised, each disclosure audited) and takes theirs in.",
    )
    app.state.refusal_recorder = audit
    app.state.share_ports = ports
    install_refusal_answers(app)
    app.include_router(http.router)
    return ShareService(app, ports, consumers)


def build_app(
    settings: ShareSettings,
    bus: Bus,
    engine: AsyncEngine,
    verifier: TokenVerifier | None = None,
    exchange: Bus | None = None,
) -> FastAPI:
    return build_service(settings, bus, engine, verifier, exchange).app
