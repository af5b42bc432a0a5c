"""The consumer loop every service uses: process, dead-letter poison, then commit.

Order per batch (at-least-once):
  1. poll a batch;
  2. hand each record to the handler; a record that cannot be decoded or is refused goes to the DLQ;
  3. commit the batch's offsets only after every record's effect is durable (handler returned
     or dead letter acknowledged).
A handler failure that is not the record's fault (the database or the broker away: see
`anpr_core.problems.is_transient`) stops the batch without committing; the consumer restarts with
back-off (capped at 30 s) and the records come again, however long the outage lasts: such a
failure never counts against the record. A record that keeps failing for any other reason is
dead-lettered after `max_attempts`, so it never blocks its partition.

Batch mode (`batch_handler`): the handler gets the whole polled batch at once, so a sink can
write it in one transaction. When the batch fails as a whole, the records are handed over again
one at a time, with the rules above, so a poison record goes to the DLQ alone and the rest
go through (the sink must be idempotent: part of the batch may be written twice).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError

from anpr.v1 import dlq_pb2
from anpr_core.bus import Bus, Consumer, Record
from anpr_core.events import Topics, new_meta
from anpr_core.metrics import CONSUMER_LAG, CONSUMER_RESTARTS, DLQ_MESSAGES, MESSAGES_CONSUMED
from anpr_core.problems import is_transient

log = logging.getLogger(__name__)

Handler = Callable[[Record], Awaitable[None]]
BatchHandler = Callable[[list[Record]], Awaitable[None]]


class PoisonMessage(Exception):  # noqa: N818 - names what the record is
    """Raised by a handler for a record that can never be processed; it goes to the DLQ."""


def dead_letter_for(record: Record, reason: str, consumer: str, zone_id: str) -> dlq_pb2.DeadLetter:
    return dlq_pb2.DeadLetter(
        meta=new_meta(zone_id, consumer),
        original_topic=record.topic,
        original_partition=record.partition,
        original_offset=record.offset,
        original_key=record.key or b"",
        original_value=record.value,
        reason=reason[:2000],
        consumer=consumer,
    )


class ConsumerWorker:
    """Runs one consumer-group member in a background task until stopped."""

    def __init__(
        self,
        bus: Bus,
        *,
        topics: Sequence[str],
        group_id: str,
        handler: Handler | None = None,
        dlq_topic: str,
        service: str,
        zone_id: str,
        max_records: int = 100,
        max_attempts: int = 5,
        backoff_s: float = 0.5,
        batch_handler: BatchHandler | None = None,
        dead_letter_bus: Bus | None = None,
    ) -> None:
        """`dead_letter_bus` is where the DLQ is, when it is not the bus consumed (a neighbour zone's
        topics are consumed on the exchange; their dead letters stay in this zone)."""
        if (handler is None) == (batch_handler is None):
            raise ValueError("give a ConsumerWorker either a handler or a batch_handler")
        self._bus = bus
        self._dead_letter_bus = dead_letter_bus or bus
        self._topics = list(topics)
        self._group_id = group_id
        self._handler: Handler = handler or self._one_at_a_time
        self._batch_handler = batch_handler
        self._dlq_topic = dlq_topic
        self._service = service
        self._zone_id = zone_id
        self._max_records = max_records
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._attempts: dict[tuple[str, int, int], int] = {}
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.healthy = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self._group_id}")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        delay = self._backoff_s
        while not self._stopping.is_set():
            consumer = self._bus.consumer(self._topics, self._group_id)
            try:
                await consumer.start()
                self.healthy = True
                while not self._stopping.is_set():
                    records = await self._poll_unless_stopping(consumer)
                    if records:
                        await self._process(records)
                        await consumer.commit(records)
                        delay = self._backoff_s
                    for (topic, partition), lag in consumer.lag().items():
                        CONSUMER_LAG.labels(self._service, topic, str(partition)).set(lag)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.healthy = False
                CONSUMER_RESTARTS.labels(self._service).inc()
                log.exception("consumer %s failed; restarting in %.1fs", self._group_id, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=delay)
                delay = min(delay * 2, 30.0)
            finally:
                with contextlib.suppress(Exception):
                    await consumer.stop()
        self.healthy = False

    async def _poll_unless_stopping(self, consumer: Consumer) -> list[Record]:
        """Polls, but gives up at once when asked to stop; nothing polled then is lost, only uncommitted."""
        polling = asyncio.ensure_future(consumer.poll(timeout_s=1.0, max_records=self._max_records))
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({polling, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
        if not polling.done():
            polling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await polling
            return []
        return polling.result()

    async def _one_at_a_time(self, record: Record) -> None:
        assert self._batch_handler is not None  # noqa: S101 - set whenever handler is not
        await self._batch_handler([record])

    async def _process(self, records: list[Record]) -> None:
        if self._batch_handler is not None and len(records) > 1:
            try:
                await self._batch_handler(records)
            except Exception as error:
                if is_transient(error):
                    raise  # a dependency is away: the whole batch comes again after the back-off
                # The type only: a message may quote record content (plates) and this is INFO.
                log.info(
                    "batch of %d failed (%s); retrying record by record",
                    len(records),
                    type(error).__name__,
                    extra={"consumer": self._group_id},
                )
            else:
                for record in records:
                    self._attempts.pop((record.topic, record.partition, record.offset), None)
                    MESSAGES_CONSUMED.labels(self._service, record.topic).inc()
                return
        for record in records:
            slot = (record.topic, record.partition, record.offset)
            try:
                await self._handler(record)
            except (DecodeError, PoisonMessage) as error:
                await self._dead_letter(record, f"{type(error).__name__}: {error}")
            except Exception as error:
                if is_transient(error):
                    # Not the record's fault: a database outage longer than the attempts' back-off
                    # must not send good records to the dead-letter topic.
                    self._attempts.pop(slot, None)
                    raise
                attempts = self._attempts.get(slot, 0) + 1
                if attempts >= self._max_attempts:
                    self._attempts.pop(slot, None)
                    await self._dead_letter(
                        record, f"failed {attempts} times, last: {type(error).__name__}: {error}"
                    )
                else:
                    self._attempts[slot] = attempts
                    raise
            else:
                self._attempts.pop(slot, None)
            MESSAGES_CONSUMED.labels(self._service, record.topic).inc()

    async def _dead_letter(self, record: Record, reason: str) -> None:
        letter = dead_letter_for(record, reason, self._group_id, self._zone_id)
        await self._dead_letter_bus.publish(self._dlq_topic, record.key, letter.SerializeToString())
        DLQ_MESSAGES.labels(self._service, record.topic).inc()
        log.warning(
            "dead-lettered %s[%d]@%d: %s",
            record.topic,
            record.partition,
            record.offset,
            reason,
            extra={"consumer": self._group_id},
        )


@dataclass(frozen=True)
class ServiceConsumers:
    """Builds one service's workers: its bus, its DLQ, its metrics label and zone, prefixed group ids."""

    bus: Bus
    topics: Topics
    service: str
    zone_id: str

    def batch_worker(
        self, topic: str, group: str, batch_handler: BatchHandler, **options: Any
    ) -> ConsumerWorker:
        """A worker whose handler gets each polled batch whole (one transaction per poll)."""
        return ConsumerWorker(
            self.bus,
            topics=[topic],
            group_id=self.topics.group(group),
            batch_handler=batch_handler,
            dlq_topic=self.topics.dlq,
            service=self.service,
            zone_id=self.zone_id,
            **options,
        )

    def worker(self, topic: str, group: str, handler: Handler, **options: Any) -> ConsumerWorker:
        return ConsumerWorker(
            self.bus,
            topics=[topic],
            group_id=self.topics.group(group),
            handler=handler,
            dlq_topic=self.topics.dlq,
            service=self.service,
            zone_id=self.zone_id,
            **options,
        )
