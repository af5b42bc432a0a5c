"""Composition root of the detect service: frames in, plate reads out."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr.v1 import frame_pb2
from anpr_core.auditing import AuditTrail
from anpr_core.auth import TokenVerifier, build_verifier
from anpr_core.bus import Bus, OutgoingRecord, Record
from anpr_core.consume import PoisonMessage, ServiceConsumers
from anpr_core.events import Topics
from anpr_core.metrics import READS
from anpr_core.service import create_service_app
from anpr_detect.adapters.ocr import PlateReader
from anpr_detect.api import ReaderSlot, build_read_router
from anpr_detect.pipeline import FrameReader, decode_frame_image, reads_for_frame
from anpr_detect.settings import DetectSettings

ReaderFactory = Callable[[DetectSettings], PlateReader]


def rapidocr_reader(settings: DetectSettings) -> PlateReader:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    from anpr_detect.adapters.ocr import RapidOcrPlateReader

    # One reader per in-flight frame, sharing the threads: readers run side by side, not on top.
    return RapidOcrPlateReader(threads=threads_per_reader(settings))


def threads_per_reader(settings: DetectSettings) -> int:
    return max(1, settings.threads // settings.max_inflight)


def build_app(
    settings: DetectSettings,
    bus: Bus,
    engine: AsyncEngine | None = None,
    verifier: TokenVerifier | None = None,
    reader_factory: ReaderFactory = rapidocr_reader,
) -> FastAPI:
    # Detect keeps no tables: the engine is accepted for a uniform composition root, and unused.
    del engine
    topics = Topics(settings.topic_prefix)
    consumers = ServiceConsumers(bus, topics, "detect", settings.zone_id)
    slot = ReaderSlot()
    audit = AuditTrail(bus, topics.audit, settings.zone_id, "detect")

    async def on_frame(record: Record) -> None:
        frame = frame_pb2.Frame()
        frame.ParseFromString(record.value)
        if not frame.meta.event_id or not frame.camera_id:
            raise PoisonMessage("frame without event_id or camera_id")
        try:
            image = decode_frame_image(frame)
        except ValueError as error:
            raise PoisonMessage(f"frame {frame.meta.event_id}: {error}") from error
        plates = await slot.get().read(image)
        reads = reads_for_frame(frame, image, plates, settings.zone_id)
        if reads:
            await bus.publish_many(
                [
                    OutgoingRecord(topics.reads, frame.camera_id.encode(), read.SerializeToString())
                    for read in reads
                ]
            )
            READS.labels("detect").inc(len(reads))

    worker = consumers.worker(topics.frames, "detect", on_frame, max_records=settings.max_inflight * 4)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Models load, in a thread, before the consumer takes its first frame: once per worker.
        readers = [await asyncio.to_thread(reader_factory, settings) for _ in range(settings.max_inflight)]
        frame_reader = FrameReader(readers)
        slot.set(frame_reader)
        worker.start()
        try:
            yield
        finally:
            await worker.stop()
            slot.set(None)
            frame_reader.close()

    async def reader_loaded() -> bool:
        return slot.ready()

    app = create_service_app(
        "detect",
        lifespan=lifespan,
        readiness={"bus": bus.ping, "reader": reader_loaded},
        token_verifier=verifier or build_verifier(settings),
        description="Plate detection and recognition.",
    )
    app.state.refusal_recorder = audit
    app.include_router(build_read_router(slot, settings.max_upload_bytes))
    return app
