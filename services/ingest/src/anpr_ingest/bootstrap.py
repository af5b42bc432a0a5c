"""Composition root of the ingest service: settings -> engines, adapters, the handlers' ports, the
app with its routes and fast path, and the timed jobs its lifespan runs. Wiring only."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_core.auditing import AuditTrail
from anpr_core.auth import TokenVerifier, build_verifier
from anpr_core.bus import Bus
from anpr_core.db import ping, session_factory
from anpr_core.events import Topics
from anpr_core.migrations import prepare_schema
from anpr_core.service import add_inner_middleware, create_service_app
from anpr_ingest.adapters.camera_cache import CameraCache
from anpr_ingest.adapters.camera_feed import CameraFeed
from anpr_ingest.adapters.camera_register import CameraRegister
from anpr_ingest.adapters.codecs import IntakeEvents
from anpr_ingest.adapters.dead_letters import VendorDeadLetters
from anpr_ingest.adapters.dedupe import IntakeDedupe, intake_engine_of
from anpr_ingest.adapters.images import ImageChecker
from anpr_ingest.adapters.last_seen import LastSeenWriter
from anpr_ingest.adapters.migrations import HISTORY
from anpr_ingest.adapters.publish_once import IntakeBatcher
from anpr_ingest.adapters.vendor_tracks import VendorTracks
from anpr_ingest.domain.errors import IngestRefusal
from anpr_ingest.domain.intake import CropLimits, FrameLimits
from anpr_ingest.domain.vendors import PayloadLimits
from anpr_ingest.domain.vendors.mapping import TRACK_MEMORY
from anpr_ingest.entrypoints import http_cameras, http_intake, http_vendors
from anpr_ingest.entrypoints.fast_path import RawFrameFastPath
from anpr_ingest.entrypoints.jobs import Job, every
from anpr_ingest.entrypoints.problems import answer_refusal
from anpr_ingest.handlers.camera_auth import Challenger
from anpr_ingest.handlers.cameras import CameraPorts, announce_register, check_silent_cameras
from anpr_ingest.handlers.intake import IntakePorts, forget_old_intake
from anpr_ingest.handlers.vendors import VendorPorts, forget_old_tracks
from anpr_ingest.settings import IngestSettings


@dataclass(frozen=True)
class _Running:
    """What the lifespan starts and stops."""

    settings: IngestSettings
    engine: AsyncEngine
    intake_engine: AsyncEngine  # the dedupe claims' own pool (PostgreSQL), or `engine`
    batcher: IntakeBatcher
    images: ImageChecker
    jobs: Sequence[Job]


def build_app(
    settings: IngestSettings, bus: Bus, engine: AsyncEngine, verifier: TokenVerifier | None = None
) -> FastAPI:
    topics = Topics(settings.topic_prefix)
    register = CameraRegister(session_factory(engine))
    claims_engine = intake_engine_of(engine, settings.intake_pool_size)
    dedupe = IntakeDedupe(claims_engine)
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
    audit = AuditTrail(bus, topics.audit, settings.zone_id, "ingest")
    silent_gap = timedelta(seconds=settings.silent_after_s)
    feed = CameraFeed(bus, topics.cameras, settings.zone_id)
    cameras = CameraPorts(
        register=register,
        cache=cache,
        audit=audit,
        zone_id=settings.zone_id,
        silent_gap=silent_gap,
        feed=feed,
    )
    intake = IntakePorts(
        limits=FrameLimits(
            max_bytes=settings.max_frame_bytes,
            min_side=settings.min_frame_side,
            max_side=settings.max_frame_side,
            max_clock_skew=timedelta(seconds=settings.max_clock_skew_s),
            max_pixels=settings.max_image_pixels,
        ),
        crop_limits=CropLimits(
            settings.max_crop_bytes, settings.min_crop_side, settings.max_crop_side, settings.max_image_pixels
        ),
        zone_id=settings.zone_id,
        cameras=cache,
        last_seen=LastSeenWriter(register, settings.last_seen_write_interval_s),
        images=images,
        codec=IntakeEvents(settings.zone_id, topics),
        publisher=batcher,
    )
    tracks = VendorTracks(claims_engine)
    vendors = VendorPorts(
        intake=intake,
        tracks=tracks,
        dead_letters=VendorDeadLetters(bus, topics, settings.zone_id),
        limits=PayloadLimits(max_image_bytes=settings.max_frame_bytes),
        challenger=Challenger(lifetime_s=settings.digest_nonce_lifetime_s),
        max_body_bytes=settings.max_vendor_body_bytes,
    )
    jobs = (
        Job(
            settings.silent_check_interval_s,
            "silent check",
            partial(check_silent_cameras, register, silent_gap),
        ),
        Job(
            min(60.0, settings.dedupe_window_s / 4),
            "dedupe cleanup",
            partial(forget_old_intake, dedupe, timedelta(seconds=settings.dedupe_window_s)),
        ),
        Job(60.0, "vendor tracks cleanup", partial(forget_old_tracks, tracks, TRACK_MEMORY)),
        # At start, then hourly: the register's entries on the cameras topic (compacted).
        Job(3600.0, "camera register feed", partial(announce_register, register, feed)),
    )
    running = _Running(settings, engine, claims_engine, batcher, images, jobs)
    app = create_service_app(
        "ingest",
        lifespan=partial(_lifespan, running),
        readiness={"bus": bus.ping, "database": partial(ping, engine)},
        zone_id=settings.zone_id,
        token_verifier=verifier or build_verifier(settings),
        description="Camera register, public camera map, frame and camera-side read intake.",
    )
    app.state.camera_ports = cameras  # read by entrypoints.deps
    app.state.intake_ports = intake
    app.state.vendor_ports = vendors
    app.state.refusal_recorder = audit  # anpr_core.auth audits refused calls through it
    app.include_router(http_cameras.router)
    app.include_router(http_intake.router)
    app.include_router(http_vendors.router)
    app.include_router(http_vendors.fixed_paths)
    app.add_exception_handler(IngestRefusal, answer_refusal)
    add_inner_middleware(app, RawFrameFastPath, intake=partial(http_intake.raw_frame, intake))
    return app


@asynccontextmanager
async def _lifespan(running: _Running, _app: FastAPI) -> AsyncIterator[None]:
    # On PostgreSQL the schema is the owner's (`anpr migrate ingest`): refused unless current.
    await prepare_schema(running.engine, HISTORY)
    background = [asyncio.create_task(every(job)) for job in running.jobs]
    try:
        yield
    finally:
        for task in background:
            task.cancel()
        for task in background:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await running.batcher.drain()
        running.images.close()
        if running.intake_engine is not running.engine:
            await running.intake_engine.dispose()
