"""Access's bus consumers: decode a record, hand it to its handler; the worker commits after.

Delivery order, per record (at-least-once; anpr_core.consume runs the loop):
  1. decode the event; one that names no event id (a read without a camera, a passage without a
     passage id, camera or reads) goes to the DLQ, and consumption goes on;
  2. a read: make sure of its month's partition (owner role, DDL, once per month per replica);
  3. in one transaction, committed: insert the read, passage or hit (ON CONFLICT DO NOTHING on its
     id) and, for a read or a passage, link the reads to their passage as far as both are stored
     (under a per-camera lock, so a read and its passage stored at once still meet). The effect is
     durable, and a redelivery changes nothing;
  4. only then the worker commits the record's offset. A crash before 4 redelivers the record,
     which step 3 absorbs.
Reads and passages come on two topics, each at its own pace: whichever of a read and its passage
comes second links them in step 3.
"""

from __future__ import annotations

from anpr_access.adapters.codecs import decode_hit, decode_passage, decode_read
from anpr_access.handlers import intake
from anpr_access.ports import IntakePorts
from anpr_core.bus import Record
from anpr_core.consume import ConsumerWorker, ServiceConsumers
from anpr_core.events import utcnow
from anpr_core.plates import Confusables


class AccessConsumers:
    def __init__(self, consumers: ServiceConsumers, ports: IntakePorts, confusables: Confusables) -> None:
        self._consumers = consumers
        self._ports = ports
        self._confusables = confusables

    async def on_read(self, record: Record) -> None:
        await intake.on_read(self._ports, decode_read(record.value, self._confusables), utcnow())

    async def on_passage(self, record: Record) -> None:
        await intake.on_passage(self._ports, decode_passage(record.value, self._confusables), utcnow())

    async def on_hit(self, record: Record) -> None:
        await intake.on_hit(self._ports, decode_hit(record.value))

    def workers(self) -> list[ConsumerWorker]:
        topics = self._consumers.topics
        return [
            self._consumers.worker(topics.reads, "access-reads", self.on_read),
            # Reads a neighbour zone shared, as share took them in under an agreement: stored like
            # this zone's own (their zone kept), under the same tiers, retention and DPO rules.
            self._consumers.worker(topics.shared_reads, "access-shared-reads", self.on_read),
            self._consumers.worker(topics.passages, "access-passages", self.on_passage),
            self._consumers.worker(topics.hits, "access-hits", self.on_hit),
        ]
