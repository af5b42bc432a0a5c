"""Detect's consumers (anpr.frames.v1, and anpr.reads.v1 for smart cameras' reads) and its passage
closer: decode, hand to a handler; the worker commits the offsets after (anpr_core.consume runs the loop)."""

from __future__ import annotations

import asyncio
import logging

import numpy as np

from anpr.v1 import frame_pb2, read_pb2
from anpr_core.bus import Record
from anpr_core.consume import ConsumerWorker, PoisonMessage, ServiceConsumers
from anpr_detect import handlers
from anpr_detect.adapters.passage_feed import PassageFeed
from anpr_detect.adapters.wire import decode_frame_image
from anpr_detect.handlers import FramePorts, PassagePorts

__all__ = ["DetectConsumers", "close_passages", "frame_of", "read_of"]

log = logging.getLogger(__name__)


def frame_of(record: Record, max_image_pixels: int) -> tuple[frame_pb2.Frame, np.ndarray]:
    """The frame of a record and its decoded image; PoisonMessage where it can never be read."""
    frame = frame_pb2.Frame()
    frame.ParseFromString(record.value)
    if not frame.meta.event_id or not frame.camera_id:
        raise PoisonMessage("frame without event_id or camera_id")
    try:
        # A frame of more pixels than allowed is refused from its header: dead-lettered, not decoded.
        return frame, decode_frame_image(frame, max_image_pixels)
    except ValueError as error:
        raise PoisonMessage(f"frame {frame.meta.event_id}: {error}") from error


def read_of(record: Record) -> read_pb2.PlateRead:
    """The read of a record; PoisonMessage for a camera-side read that can join no passage."""
    read = read_pb2.PlateRead()
    read.ParseFromString(record.value)
    if not read.passage_id and (not read.meta.event_id or not read.camera_id):
        raise PoisonMessage("read without event_id or camera_id")
    return read


class DetectConsumers:
    """The frames consumer (each polled batch read at once, spread over the readers), and the
    consumer that fuses smart cameras' reads into passages."""

    def __init__(
        self,
        consumers: ServiceConsumers,
        frames: FramePorts,
        camera_passages: PassageFeed,
        *,
        max_image_pixels: int,
        max_frames: int,
    ) -> None:
        self._consumers = consumers
        self._frames = frames
        self._camera_passages = camera_passages
        self._max_image_pixels = max_image_pixels
        self._max_frames = max_frames

    async def on_frames(self, records: list[Record]) -> None:
        # 1. Decode every frame before any is read: a poison frame fails the batch at once, and the
        #    worker then hands the records over one by one, the poison one to the dead letters.
        frames = [frame_of(record, self._max_image_pixels) for record in records]
        # 2. Read them, join each read to its passage (held in memory, see 4), and publish the reads:
        #    the broker has acknowledged them (acks=all) when this returns.
        await handlers.read_frames(frames, self._frames)
        # 3. The worker commits the batch's offsets. A crash before that reads the frames again: the
        #    reads get the same derived ids (sinks keep one copy) and join their passage once.
        # 4. Passages are published by close_passages once due, after the commit: an instance that
        #    dies without shutting down loses the passages it held open (their reads are on the topic).

    async def on_reads(self, records: list[Record]) -> None:
        # 1. Decode every read: one that does not parse (or a camera read without id or camera) fails
        #    the batch, and the worker hands the records over one by one, that one to the dead letters.
        reads = [read_of(record) for record in records]
        # 2. Join the reads that have no passage yet (smart cameras' own) to their camera's open
        #    passage, in memory; detect's own reads already carry theirs and are skipped.
        handlers.join_camera_reads(reads, self._camera_passages)
        # 3. The worker commits the batch's offsets. A crash before that delivers the reads again:
        #    a read already held joins nothing twice, and a passage formed again from the same reads
        #    has the same id and event id (its first read's), so sinks keep one copy.
        # 4. Passages are published by close_passages once due, after the commit: an instance that
        #    dies without shutting down loses the passages it held open (the reads are on the topic).

    def workers(self) -> list[ConsumerWorker]:
        topics = self._consumers.topics
        return [
            # The poll size is the back-pressure: frames beyond it wait in the topic, not in memory.
            self._consumers.batch_worker(
                topics.frames, "detect", self.on_frames, max_records=self._max_frames
            ),
            self._consumers.batch_worker(topics.reads, "detect-camera-reads", self.on_reads),
        ]


async def close_passages(ports: PassagePorts, tick_s: float) -> None:
    """Publishes each passage once it is due, until cancelled; a failed round is retried the next."""
    while True:
        await asyncio.sleep(tick_s)
        try:
            await handlers.publish_due_passages(ports)
        except Exception:
            log.exception("publishing %d passages failed; retrying", len(ports.unsent))
