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
    # One transaction per poll; a poison record fails the batch, and the worker then
    # retries record by record so that one alone goes to the DLQ.
    await append_events(appender, [decode_audit_event(record) for record in records])


def audit_worker(
    consumers: ServiceConsumers, topic: str, appender: AuditAppender, max_records: int
) -> ConsumerWorker:
    return consumers.batch_worker(topic, "audit", partial(on_audit_batch, appender), max_records=max_records)
