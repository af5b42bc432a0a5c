"""Composition root of the ingest service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_core.auditing import AuditTrail
from anpr_core.auth import TokenVerifier, build_verifier
from anpr_core.bus import Bus
from anpr_core.db import create_schema, ping, schema_owner, session_factory
from anpr_core.events import Topics
from anpr_core.metrics import CAMERA_SILENT
from anpr_core.service import create_service_app
from anpr_ingest.adapters.camera_cache import CameraCache
from anpr_ingest.adapters.camera_register import CameraRegister
from anpr_ingest.adapters.dedupe import IntakeDedupe, intake_engine_of
from anpr_ingest.adapters.images import ImageChecker
from anpr_ingest.adapters.publish_once import IntakeBatcher
from anpr_ingest.adapters.tables import SCHEMA, add_missing_columns, metadata
from anpr_ingest.domain.cameras import CameraStatus, is_silent
from anpr_ingest.entrypoints.fast_path import RawFrameFastPath
from anpr_ingest.entrypoints.http import build_router
from anpr_ingest.settings import IngestSettings

log = logging.getLogger(__name__)


class CameraHealth:
    """Marks active cameras silent after the configured gap (the gauge anpr_camera_silent)."""

    def __init__(self, register: CameraRegister, gap: timedelta) -> None:
        self._register = register
        self._gap = gap

    async def check(self, now: datetime | None = None) -> dict[str, bool]:
        now = now or datetime.now(UTC)
        states: dict[str, bool] = {}
        for camera in await self._register.list():
            if camera.status == CameraStatus.RETIRED.value:
                with contextlib.suppress(KeyError):
                    CAMERA_SILENT.remove(camera.camera_id)
                continue
            silent = is_silent(
                CameraStatus(camera.status), camera.last_seen_at, camera.created_at, now, self._gap
            )
            CAMERA_SILENT.labels(camera.camera_id).set(1 if silent else 0)
            states[camera.camera_id] = silent
        return states


async def _every(interval_s: float, what: str, job: object) -> None:
    assert callable(job)  # noqa: S101 - narrows for mypy
    while True:
        try:
            await job()
        except SQLAlchemyError:
            log.warning("%s failed; trying again in %.0fs", what, interval_s, exc_info=True)
        await asyncio.sleep(interval_s)


def build_app(
    settings: IngestSettings, bus: Bus, engine: AsyncEngine, verifier: TokenVerifier | None = None
) -> FastAPI:
    sessions = session_factory(engine)
    register = CameraRegister(sessions)
    intake_engine = intake_engine_of(engine, settings.intake_pool_size)
    dedupe = IntakeDedupe(intake_engine)
    batcher = IntakeBatcher(
        dedupe, bus, max_batch=settings.intake_max_batch, max_in_flight=settings.intake_pool_size
    )
    cache = CameraCache(register, settings.credential_cache_ttl_s)
    images = ImageChecker(
        workers=settings.image_check_workers,
        queue=settings.image_check_queue,
        max_pixels=settings.max_image_pixels,
        check=settings.image_check,
    )
    health = CameraHealth(register, timedelta(seconds=settings.silent_after_s))
    audit = AuditTrail(bus, Topics(settings.topic_prefix).audit, settings.zone_id, "ingest")
    window = timedelta(seconds=settings.dedupe_window_s)

    async def forget_old_intake() -> None:
        await dedupe.forget_before(datetime.now(UTC) - window)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with schema_owner(engine, settings.database_owner_url, SCHEMA) as owner:
            await create_schema(owner, metadata, SCHEMA)
            if added := await add_missing_columns(owner):
                log.info("camera register upgraded: added %s", ", ".join(added))
        background = [
            asyncio.create_task(_every(settings.silent_check_interval_s, "silent check", health.check)),
            asyncio.create_task(
                _every(min(60.0, settings.dedupe_window_s / 4), "dedupe cleanup", forget_old_intake)
            ),
        ]
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await batcher.drain()
            images.close()
            if intake_engine is not engine:
                await intake_engine.dispose()

    app = create_service_app(
        "ingest",
        lifespan=lifespan,
        readiness={"bus": bus.ping, "database": lambda: ping(engine)},
        zone_id=settings.zone_id,
        token_verifier=verifier or build_verifier(settings),
        description="Camera register, public camera map, frame and camera-side read intake.",
    )
    app.state.camera_register = register
    app.state.camera_health = health
    app.state.intake_dedupe = dedupe
    app.state.refusal_recorder = audit
    routes = build_router(settings, register, batcher, audit, cache, images)
    app.include_router(routes.router)
    app.add_middleware(RawFrameFastPath, intake=routes.raw_frame)
    return app
