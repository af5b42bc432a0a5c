"""Sharing out, the bridge's events: this zone's reads and hotlist records, each shared with every
neighbour whose agreement in force covers it, minimised to what that agreement allows, and each
record sent logged as a disclosure (share_out: to whom, which records, under which agreement)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from anpr.v1 import audit_pb2
from anpr_core.auditing import MAX_LISTED_RECORDS
from anpr_core.bus import OutgoingRecord
from anpr_core.events import utcnow
from anpr_core.metrics import SHARED_RECORDS
from anpr_share.domain.agreements import Agreement
from anpr_share.domain.zone_topics import SharedKind
from anpr_share.handlers.agreements import PURPOSE
from anpr_share.handlers.ports import SharePorts


@dataclass(frozen=True)
class Shared:
    """What one agreement shares of a batch: its records for the neighbour's topic, with their ids."""

    agreement: Agreement
    topic: str
    kind: SharedKind
    record_ids: list[str]
    records: list[OutgoingRecord]
    fields: tuple[str, ...] = ()


async def share_reads(ports: SharePorts, values: Sequence[bytes]) -> int:
    """A batch of the reads topic; returns how many records went to neighbours."""
    reads = [ports.codec.read(value) for value in values]
    # Only this zone's own reads: what a neighbour shared is never passed on.
    own = [read for read in reads if read.zone_id in ("", ports.zone_id)]
    shared = []
    for plan in ports.book.plan_reads([read.camera_id for read in own], utcnow()):
        agreement = plan.agreement
        topic = ports.zone_topics.reads(ports.zone_id, agreement.partner_zone)
        fields = agreement.terms.reads_out.fields
        chosen = [own[position] for position in plan.positions]
        records = [
            OutgoingRecord(topic, read.camera_id.encode(), ports.codec.minimised_read(read, fields))
            for read in chosen
        ]
        names = tuple(sorted(f.value for f in fields))
        shared.append(
            Shared(agreement, topic, SharedKind.READS, [r.event_id for r in chosen], records, names)
        )
    return await disclose(ports, shared)


async def share_hotlist(
    ports: SharePorts, records: Sequence[tuple[Sequence[tuple[str, bytes]], bytes]]
) -> int:
    """A batch of the hotlist topic (headers and value of each record): this zone's own lists and
    entries, never a neighbour's list passed on."""
    views = [ports.codec.hotlist(headers, value) for headers, value in records]
    own = [view for view in views if not view.owner_zone]
    shared = []
    for plan in ports.book.plan_hotlist([(view.list_name, view.category) for view in own], utcnow()):
        agreement = plan.agreement
        topic = ports.zone_topics.hotlist(ports.zone_id, agreement.partner_zone)
        chosen = [own[position] for position in plan.positions]
        outgoing = []
        for view in chosen:
            encoded = ports.codec.minimised_hotlist(view)
            outgoing.append(OutgoingRecord(topic, view.record_id.encode(), encoded.value, encoded.headers))
        shared.append(Shared(agreement, topic, SharedKind.HOTLIST, [v.record_id for v in chosen], outgoing))
    return await disclose(ports, shared)


async def disclose(ports: SharePorts, shared: Sequence[Shared]) -> int:
    """Sends what each agreement shares, with its disclosure logged first. Returns the records sent."""
    if not shared:
        return 0
    async with ports.flow:
        # An agreement revoked since the batch was planned shares nothing of it.
        now = utcnow()
        live = [
            s
            for s in shared
            if (current := ports.book.get(s.agreement.agreement_id)) and current.in_force(now)
        ]
        if not live:
            return 0
        # 1. the disclosures' audit events (to whom, which records, under which agreement), every id
        #    listed (one event per agreement and MAX_LISTED_RECORDS records), acknowledged;
        # 2. the records on the neighbours' topics, acknowledged;
        # 3. the worker commits the offsets. A crash before 3 sends (and logs) the batch again:
        #    the neighbour's sinks keep one copy (the same event ids), the log shows both sendings.
        await ports.bus.publish_many(
            [_audit_record(ports, event) for s in live for event in _disclosures(ports, s)]
        )
        records = [record for s in live for record in s.records]
        await ports.exchange.publish_many(records)
    for done in live:
        SHARED_RECORDS.labels("out", done.agreement.partner_zone, done.kind.value).inc(len(done.records))
    return len(records)


def _disclosures(ports: SharePorts, shared: Shared) -> list[audit_pb2.AuditEvent]:
    agreement = shared.agreement
    query = {
        "agreement_id": agreement.agreement_id,
        "partner_zone": agreement.partner_zone,
        "topic": shared.topic,
        "kind": shared.kind.value,
    }
    if shared.fields:
        query["fields"] = ",".join(shared.fields)
    return [
        ports.audit.event(
            None,
            "share_out",
            purpose=PURPOSE,
            case_reference=agreement.terms.reference,
            legal_basis=agreement.terms.legal_basis,
            query=query,
            record_ids=shared.record_ids[start : start + MAX_LISTED_RECORDS],
            recipients=[f"zone:{agreement.partner_zone}"],
        )
        for start in range(0, len(shared.record_ids), MAX_LISTED_RECORDS)
    ]


def _audit_record(ports: SharePorts, event: audit_pb2.AuditEvent) -> OutgoingRecord:
    return OutgoingRecord(ports.topics.audit, event.actor.user_id.encode(), event.SerializeToString())
