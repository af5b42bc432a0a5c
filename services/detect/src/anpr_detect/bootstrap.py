"""Composition root of the detect service: frames in, plate reads out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import numpy as np
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from anpr.v1 import frame_pb2, passage_pb2
from anpr_core.auditing import AuditTrail
from anpr_core.auth import TokenVerifier, build_verifier
from anpr_core.bus import Bus, OutgoingRecord, Record
from anpr_core.consume import PoisonMessage, ServiceConsumers
from anpr_core.events import Topics
from anpr_core.metrics import PASSAGES, READS
from anpr_core.service import create_service_app
from anpr_detect.adapters.frame_reader import FrameReader, ReaderSlot
from anpr_detect.adapters.passage_feed import PassageFeed
from anpr_detect.adapters.plate_reading import PlateReader
from anpr_detect.adapters.readers import READER_NAMES
from anpr_detect.adapters.wire import decode_frame_image, reads_for_frame
from anpr_detect.entrypoints import http
from anpr_detect.handlers import ReadPorts
from anpr_detect.settings import DetectSettings

ReaderFactory = Callable[[DetectSettings], PlateReader]

log = logging.getLogger(__name__)


def onnx_reader(settings: DetectSettings) -> PlateReader:
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    from anpr_detect.adapters.readers import build_reader

    # One reader per in-flight frame, sharing the threads: readers run side by side, not on top.
    return build_reader(settings.reader, threads_per_reader(settings))


def threads_per_reader(settings: DetectSettings) -> int:
    return max(1, settings.threads // settings.max_inflight)


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
    consumers = ServiceConsumers(bus, topics, "detect", settings.zone_id)
    slot = ReaderSlot()
    audit = AuditTrail(bus, topics.audit, settings.zone_id, "detect")
    # Per instance: frames are keyed by camera, so a camera's frames all reach one instance. A
    # rebalance mid-passage splits that passage in two (see PassageFeed for the limits).
    passages = PassageFeed(settings.passage_window_s, settings.zone_id)
    unsent: list[passage_pb2.Passage] = []  # closed, not yet on the bus (a failed publish retries)

    def frame_of(record: Record) -> tuple[frame_pb2.Frame, np.ndarray]:
        frame = frame_pb2.Frame()
        frame.ParseFromString(record.value)
        if not frame.meta.event_id or not frame.camera_id:
            raise PoisonMessage("frame without event_id or camera_id")
        try:
            # A frame of more pixels than allowed is refused from its header: dead-lettered, not decoded.
            return frame, decode_frame_image(frame, settings.max_image_pixels)
        except ValueError as error:
            raise PoisonMessage(f"frame {frame.meta.event_id}: {error}") from error

    async def on_frames(records: list[Record]) -> None:
        # All frames are decoded before any is read: a poison frame fails the batch at once, and
        # the worker then hands the records over one by one, the poison one to the dead letters.
        decoded = [frame_of(record) for record in records]
        plates_per_frame = await slot.get().read_many([image for _, image in decoded])
        outgoing: list[OutgoingRecord] = []
        for (frame, image), plates in zip(decoded, plates_per_frame, strict=True):
            reads = reads_for_frame(
                frame,
                image,
                plates,
                settings.zone_id,
                with_overview=settings.attach_overview,
                reader_name=READER_NAMES[settings.reader],
            )
            passages.join(reads)  # in the frames' order; a read id already held is not joined again
            outgoing.extend(
                OutgoingRecord(topics.reads, frame.camera_id.encode(), read.SerializeToString())
                for read in reads
            )
        if outgoing:
            await bus.publish_many(outgoing)
            READS.labels("detect").inc(len(outgoing))

    # One polled batch is read at once, spread over the readers (detection batched per reader);
    # the poll size is the back-pressure: frames beyond it wait in the topic, not in memory.
    worker = consumers.batch_worker(
        topics.frames, "detect", on_frames, max_records=settings.max_inflight * settings.frames_per_reader
    )

    async def publish_passages() -> None:
        if not unsent:
            return
        await bus.publish_many(
            [OutgoingRecord(topics.passages, p.camera_id.encode(), p.SerializeToString()) for p in unsent]
        )
        PASSAGES.inc(len(unsent))
        unsent.clear()

    async def close_passages() -> None:
        tick_s = min(0.5, settings.passage_window_s / 4)
        while True:
            await asyncio.sleep(tick_s)
            unsent.extend(passages.due())
            try:
                await publish_passages()
            except Exception:
                log.exception("publishing %d passages failed; retrying", len(unsent))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Models load, in a thread, before the consumer takes its first frame: once per worker.
        readers = [await asyncio.to_thread(reader_factory, settings) for _ in range(settings.max_inflight)]
        frame_reader = FrameReader(readers)
        slot.set(frame_reader)
        worker.start()
        closer = asyncio.create_task(close_passages(), name="detect-passages")
        try:
            yield
        finally:
            # 1. no more frames, so no more reads join; 2. stop the closer; 3. close every open
            #    passage and publish it with any still unsent.
            await worker.stop()
            closer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await closer
            unsent.extend(passages.close_all())
            try:
                await publish_passages()
            except Exception:
                log.exception("publishing %d passages at shutdown failed; they are lost", len(unsent))
            slot.set(None)
            frame_reader.close()

    async def reader_loaded() -> bool:
        return slot.ready()

    app = create_service_app(
        "detect",
        lifespan=lifespan,
        readiness={"bus": bus.ping, "reader": reader_loaded},
        zone_id=settings.zone_id,
        token_verifier=verifier or build_verifier(settings),
        metrics_token=settings.metrics_token,
        description="Plate detection and recognition.",
    )
    app.state.refusal_recorder = audit
    app.state.read_ports = ReadPorts(slot, settings.max_upload_bytes, settings.max_image_pixels)
    app.include_router(http.router)
    return app
