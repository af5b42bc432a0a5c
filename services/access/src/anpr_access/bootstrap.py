"""Composition root of the access service: settings -> engines, bus, adapters, ports, app, consumers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_access.adapters.dpo import DpoStore
from anpr_access.adapters.hit_images import HitImageStore
from anpr_access.adapters.holds import HoldStore
from anpr_access.adapters.intake import IntakeStore
from anpr_access.adapters.migrations import HISTORY
from anpr_access.adapters.partitions import make_partitions_ahead
from anpr_access.adapters.plate_keys import rekey_plates
from anpr_access.adapters.retention import RetentionStore
from anpr_access.adapters.search import SearchStore
from anpr_access.adapters.search_total import SearchTotals
from anpr_access.adapters.tables import SCHEMA
from anpr_access.domain.legal import LegalPolicy
from anpr_access.entrypoints import http_dpo, http_hit_images, http_holds, http_search
from anpr_access.entrypoints.consumers import AccessConsumers
from anpr_access.entrypoints.problems import install_refusal_answers
from anpr_access.entrypoints.schedule import RetentionSchedule
from anpr_access.ports import (
    AccessPorts,
    DpoPorts,
    HitImagePorts,
    HoldPorts,
    IntakePorts,
    RetentionPorts,
    SearchPorts,
)
from anpr_access.settings import AccessSettings
from anpr_core.auditing import AuditTrail
from anpr_core.auth import TokenVerifier, build_verifier
from anpr_core.bus import Bus
from anpr_core.consume import ConsumerWorker, ServiceConsumers
from anpr_core.db import check_role_split, dispose_owner, owner_engine, ping
from anpr_core.events import Topics, utcnow
from anpr_core.migrations import prepare_schema
from anpr_core.service import create_service_app


@dataclass(frozen=True)
class _Lifespan:
    """The schema checked (the owner migrates it: `anpr migrate access`), this month's partitions and
    the next as the owner role, then the consumers and the retention schedule; stopped in reverse."""

    settings: AccessSettings
    engine: AsyncEngine
    owner: AsyncEngine
    workers: list[ConsumerWorker]
    schedule: RetentionSchedule

    @asynccontextmanager
    async def __call__(self, _app: FastAPI) -> AsyncIterator[None]:
        await prepare_schema(self.engine, HISTORY)
        await check_role_split(self.owner, self.engine, SCHEMA)
        # Partitions made by the owner give the runtime role its rights on them (default privileges).
        await make_partitions_ahead(self.owner, utcnow(), self.settings.partitions_ahead)
        # Before any consumer stores a key or any search looks one up: keys of the zone's classes.
        await rekey_plates(self.owner, self.settings.confusables, utcnow())
        for worker in self.workers:
            worker.start()
        self.schedule.start()
        try:
            yield
        finally:
            await self.schedule.stop()
            for worker in self.workers:
                await worker.stop()
            await dispose_owner(self.owner, self.engine)


def build_ports(
    settings: AccessSettings, audit: AuditTrail, engine: AsyncEngine, owner: AsyncEngine
) -> AccessPorts:
    policy = LegalPolicy(
        first_tier=timedelta(days=settings.first_tier_days), retention=timedelta(days=settings.retention_days)
    )
    return AccessPorts(
        # Partitions are DDL: making them, and the retention job that drops them, is the owner role's.
        intake=IntakePorts(IntakeStore(engine, owner), policy),
        search=SearchPorts(SearchStore(engine), audit, policy, settings.confusables, SearchTotals(engine)),
        holds=HoldPorts(HoldStore(engine), audit),
        dpo=DpoPorts(
            DpoStore(engine), audit, timedelta(days=settings.dpo_deadline_days), settings.confusables
        ),
        retention=RetentionPorts(RetentionStore(owner), audit, policy, settings.partitions_ahead),
        hit_images=HitImagePorts(HitImageStore(engine), audit, policy),
    )


def build_app(
    settings: AccessSettings, bus: Bus, engine: AsyncEngine, verifier: TokenVerifier | None = None
) -> FastAPI:
    topics = Topics(settings.topic_prefix)
    audit = AuditTrail(bus, topics.audit, settings.zone_id, "access")
    owner = owner_engine(engine, settings.database_owner_url)
    ports = build_ports(settings, audit, engine, owner)
    workers = AccessConsumers(
        ServiceConsumers(bus, topics, "access", settings.zone_id), ports.intake, settings.confusables
    ).workers()
    schedule = RetentionSchedule(ports.retention, settings.retention_interval_s)

    app = create_service_app(
        "access",
        lifespan=_Lifespan(settings, engine, owner, workers, schedule),
        readiness={"bus": bus.ping, "database": partial(ping, engine)},
        zone_id=settings.zone_id,
        token_verifier=verifier or build_verifier(settings),
        metrics_token=settings.metrics_token,
        description="Lawful, purpose-bound search of passages.",
    )
    app.state.refusal_recorder = audit
    app.state.ports = ports
    install_refusal_answers(app)
    for router in (http_search.router, http_hit_images.router, http_holds.router, http_dpo.router):
        app.include_router(router)
    return app
