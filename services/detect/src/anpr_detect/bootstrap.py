"""Composition root of the detect service: frames in, plate reads out; reads fused into passages.
Wiring only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr_core.auditing import AuditTrail
from anpr_core.auth import TokenVerifier, build_verifier
from anpr_core.bus import Bus
from anpr_core.consume import ConsumerWorker, ServiceConsumers
from anpr_core.events import Topics
from anpr_core.service import create_service_app
from anpr_detect.adapters.frame_reader import FrameReader, ReaderSlot
from anpr_detect.adapters.passage_feed import PassageFeed
from anpr_detect.adapters.plate_reading import PlateReader
from anpr_detect.adapters.readers import READER_NAMES
from anpr_detect.domain.reading import PlateDecoder, ReadingSettings
from anpr_detect.entrypoints import http
from anpr_detect.entrypoints.consumers import DetectConsumers, close_passages
from anpr_detect.handlers import FramePorts, PassagePorts, ReadPorts, publish_open_passages
from anpr_detect.settings import DetectSettings

ReaderFactory = Callable[[DetectSettings], PlateReader]

log = logging.getLogger(__name__)


def onnx_reader(settings: DetectSettings) -> PlateReader:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    from anpr_detect.adapters.ocr import ReaderTuning
    from anpr_detect.adapters.readers import build_reader

    tuning = ReaderTuning(reading=ReadingSettings(priors=settings.priors()))
    # One reader per in-flight frame, sharing the threads: readers run side by side, not on top.
    return build_reader(settings.reader, threads_per_reader(settings), tuning, spinning=settings.ort_spinning)


def threads_per_reader(settings: DetectSettings) -> int:
    from anpr_detect.adapters.onnx_threads import threads_per_reader as share

    return share(settings.threads, settings.max_inflight)


@dataclass(frozen=True)
class DetectLifespan:
    """Start and stop, in order: models, consumers and the passage closer; then every open passage."""

    settings: DetectSettings
    reader_factory: ReaderFactory
    slot: ReaderSlot
    workers: list[ConsumerWorker]
    passages: PassagePorts

    @asynccontextmanager
    async def __call__(self, _app: FastAPI) -> AsyncIterator[None]:
        # Models load, in a thread, before the consumer takes its first frame: once per worker.
        readers = [
            await asyncio.to_thread(self.reader_factory, self.settings)
            for _ in range(self.settings.max_inflight)
        ]
        frame_reader = FrameReader(readers)
        self.slot.set(frame_reader)
        for worker in self.workers:
            worker.start()
        tick_s = min(0.5, self.settings.passage_window_s / 4)
        closer = asyncio.create_task(close_passages(self.passages, tick_s), name="detect-passages")
        try:
            yield
        finally:
            # 1. no more frames, so no more reads join; 2. stop the closer; 3. close every open
            #    passage and publish it with any still unsent.
            for worker in self.workers:
                await worker.stop()
            closer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await closer
            try:
                await publish_open_passages(self.passages)
            except Exception:
                log.exception(
                    "publishing %d passages at shutdown failed; they are lost", len(self.passages.unsent)
                )
            self.slot.set(None)
            frame_reader.close()


def build_app(
    settings: DetectSettings,
    bus: Bus,
    engine: AsyncEngine | None = None,
    verifier: TokenVerifier | None = None,
    reader_factory: ReaderFactory = onnx_reader,
) -> FastAPI:
    # Detect keeps no tables: the engine is accepted for a uniform composition root, and unused.
    del engine
    topics = Topics(settings.topic_prefix)
    slot = ReaderSlot()
    # Per instance: frames are keyed by camera, so a camera's frames all reach one instance. A
    # rebalance mid-passage splits that passage in two (see PassageFeed for the limits).
    # The display form and country of a consensus no read had: the formats, by the zone's priors.
    display = PlateDecoder(ReadingSettings(priors=settings.priors()))
    passages = PassageFeed(settings.passage_window_s, settings.zone_id, decoder=display)
    # Smart cameras' reads (anpr.reads.v1, keyed by camera too) fuse in a feed of their own.
    camera_passages = PassageFeed(settings.passage_window_s, settings.zone_id, decoder=display)
    frames = FramePorts(
        reader=slot,
        bus=bus,
        reads_topic=topics.reads,
        passages=passages,
        zone_id=settings.zone_id,
        reader_name=READER_NAMES[settings.reader],
        with_overview=settings.attach_overview,
    )
    consumers = DetectConsumers(
        ServiceConsumers(bus, topics, "detect", settings.zone_id),
        frames,
        camera_passages,
        max_image_pixels=settings.max_image_pixels,
        # One polled batch is read at once, spread over the readers (detection batched per reader).
        max_frames=settings.max_inflight * settings.frames_per_reader,
    )
    outlet = PassagePorts(bus, topics.passages, (passages, camera_passages))
    lifespan = DetectLifespan(settings, reader_factory, slot, consumers.workers(), outlet)
    app = create_service_app(
        "detect",
        lifespan=lifespan,
        readiness={"bus": bus.ping, "reader": slot.loaded},
        zone_id=settings.zone_id,
        token_verifier=verifier or build_verifier(settings),
        metrics_token=settings.metrics_token,
        description="Plate detection and recognition.",
    )
    app.state.refusal_recorder = AuditTrail(bus, topics.audit, settings.zone_id, "detect")
    app.state.read_ports = ReadPorts(slot, settings.max_upload_bytes, settings.max_image_pixels)
    app.include_router(http.router)
    return app
