"""Share's bus consumers: the bridge out (this zone's reads and hotlist records to the neighbours),
the register's border cameras, and the gate in (the neighbours' topics, subscribed to as agreements
name them and once they exist); and the refresh of the agreements.

What is made durable before each offset is committed (anpr_core.consume runs the loop):
  reads, hotlist: 1. the disclosures' audit events, acknowledged by this zone's broker; 2. the
      minimised records, acknowledged by the exchange; 3. commit. A failure before 3 commits
      nothing: the batch is shared (and logged) again, and the neighbour keeps one copy.
  cameras: 1. the entry in this replica's book (memory: the compacted topic is its record, read
      from the start by a group new at each start); 2. commit.
  the gate: 1. what is taken, on this zone's shared topics, acknowledged (what is refused: on the
      DLQ, with the reason); 2. commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from anpr_core.bus import Record
from anpr_core.consume import ConsumerWorker, PoisonMessage, ServiceConsumers
from anpr_core.events import utcnow
from anpr_share.adapters.exchange import ExchangeTopics
from anpr_share.domain.errors import RefusedRecord
from anpr_share.handlers.ports import SharePorts
from anpr_share.handlers.share_in import on_camera, refresh_agreements, take_in
from anpr_share.handlers.share_out import share_hotlist, share_reads

log = logging.getLogger(__name__)


@runtime_checkable
class ListsTopics(Protocol):
    async def topic_names(self) -> set[str]: ...


class ShareConsumers:
    def __init__(
        self,
        ports: SharePorts,
        consumers: ServiceConsumers,
        exchange_topics: ExchangeTopics,
        *,
        replica: str,
        max_batch: int,
        refresh_s: float,
        topic_check_s: float,
    ) -> None:
        self._ports = ports
        self._consumers = consumers
        self._exchange_topics = exchange_topics
        self._max_batch = max_batch
        self._refresh_s = refresh_s
        self._topic_check_s = topic_check_s
        topics = ports.topics
        self._workers = (
            # Every replica holds every camera: a group new at each start reads the compacted topic whole.
            consumers.worker(topics.cameras, f"share-cameras-{replica}", self.on_camera, max_records=1000),
            consumers.batch_worker(topics.reads, "share-out-reads", self.on_reads, max_records=max_batch),
            consumers.batch_worker(
                topics.hotlist, "share-out-hotlist", self.on_hotlist, max_records=max_batch
            ),
        )
        self._gate: ConsumerWorker | None = None
        self._gate_topics: tuple[str, ...] = ()
        self._made: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        for worker in self._workers:
            worker.start()
        self._task = asyncio.create_task(self._keep(), name="share:agreements")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._gate is not None:
            await self._gate.stop()
        for worker in reversed(self._workers):
            await worker.stop()

    @property
    def gate_topics(self) -> tuple[str, ...]:
        """The neighbours' topics the gate reads now."""
        return self._gate_topics

    async def on_reads(self, records: list[Record]) -> None:
        await share_reads(self._ports, [record.value for record in records])

    async def on_hotlist(self, records: list[Record]) -> None:
        await share_hotlist(self._ports, [(record.headers, record.value) for record in records])

    async def on_camera(self, record: Record) -> None:
        await on_camera(self._ports, record.value)

    async def on_neighbour(self, records: list[Record]) -> None:
        try:
            await take_in(self._ports, records)
        except RefusedRecord as refused:
            raise PoisonMessage(str(refused)) from refused

    async def _keep(self) -> None:
        """Reads the agreements again every refresh_s, and looks after the exchange's topics every
        topic_check_s; a failure waits for the next round."""
        checked = 0.0
        loop = asyncio.get_running_loop()
        while True:
            try:
                await refresh_agreements(self._ports)
                if loop.time() - checked >= self._topic_check_s:
                    await self.check_topics()
                    checked = loop.time()
            except Exception:
                log.exception("share: refreshing the agreements or the exchange's topics failed; retrying")
            await asyncio.sleep(self._refresh_s)

    async def check_topics(self) -> None:
        """Makes this zone's topics for the neighbours it shares with, and (re)starts the gate on the
        neighbours' topics for this zone that exist, for every neighbour with an agreement."""
        ports = self._ports
        zone, zone_topics = ports.zone_id, ports.zone_topics
        sharing = sorted(ports.book.sharing_out(utcnow()) - self._made)
        if sharing:
            await self._exchange_topics.ensure(
                [zone_topics.reads(zone, p) for p in sharing], [zone_topics.hotlist(zone, p) for p in sharing]
            )
            self._made.update(sharing)
        wanted = {
            topic
            for partner in ports.book.partners()
            for topic in (zone_topics.reads(partner, zone), zone_topics.hotlist(partner, zone))
        }
        exchange = ports.exchange
        existing = await exchange.topic_names() if isinstance(exchange, ListsTopics) else wanted
        await self._read_neighbours(sorted(wanted & existing))

    async def _read_neighbours(self, topics: Sequence[str]) -> None:
        if tuple(topics) == self._gate_topics:
            return
        if self._gate is not None:
            await self._gate.stop()
            self._gate = None
        self._gate_topics = tuple(topics)
        if not topics:
            return
        ports = self._ports
        self._gate = ConsumerWorker(
            ports.exchange,
            topics=topics,
            # Under this zone's own prefix on the exchange, which its ACLs let it use.
            group_id=ports.zone_topics.group(ports.zone_id, "share-in"),
            batch_handler=self.on_neighbour,
            dlq_topic=ports.topics.dlq,
            service="share",
            zone_id=ports.zone_id,
            max_records=self._max_batch,
            # A neighbour's refused records stay in this zone, on its DLQ.
            dead_letter_bus=ports.bus,
        )
        self._gate.start()
        log.info("share: reading the neighbours' topics %s", ", ".join(topics))
