"""The consumer of anpr.audit.v1: each polled batch decoded and appended to the chain at once."""

from __future__ import annotations

from functools import partial

from anpr.v1 import audit_pb2
from anpr_audit.adapters.appender import AuditAppender
from anpr_audit.handlers.append import append_events
from anpr_core.bus import Record
from anpr_core.consume import ConsumerWorker, PoisonMessage, ServiceConsumers


def decode_audit_event(record: Record) -> audit_pb2.AuditEvent:
    event = audit_pb2.AuditEvent()
    event.ParseFromString(record.value)
    if not event.meta.event_id:
        raise PoisonMessage("audit event without event_id")
    return event


async def on_audit_batch(appender: AuditAppender, records: list[Record]) -> None:
    """A polled batch, appended; the worker (anpr_core.consume) commits its offsets once this returns."""
    # What is made durable before the offsets are committed, in order:
    # 1. append the batch in one transaction (one lock, one COPY): the chain holds every row of the
    #    batch, linked, or none of them; idempotent on event_id, so a batch delivered again after a
    #    crash before step 2 adds nothing and breaks no link;
    # 2. commit the offsets (the worker, once this returns): no offset is committed whose event
    #    the chain does not hold.
    # A poison record (undecodable, or without an event id) fails the batch before step 1; the
    # worker then retries record by record, so that one alone goes to the DLQ (acknowledged before
    # the commit). The database away: nothing is committed, and the batch comes again.
    await append_events(appender, [decode_audit_event(record) for record in records])


def audit_worker(
    consumers: ServiceConsumers, topic: str, appender: AuditAppender, max_records: int
) -> ConsumerWorker:
    return consumers.batch_worker(topic, "audit", partial(on_audit_batch, appender), max_records=max_records)
