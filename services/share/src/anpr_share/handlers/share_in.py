"""Sharing in, the gate's events: a neighbour's record taken only when it is what its topic says
(it decodes, it comes from the zone that writes the topic, for this zone) and an agreement in force
takes it; then put on this zone's shared topics (reads for access, hotlist records for match). What
is refused goes to the DLQ with the reason (RefusedRecord), and consumption goes on."""

from __future__ import annotations

from collections.abc import Sequence

from anpr_core.bus import OutgoingRecord, Record
from anpr_core.events import utcnow
from anpr_core.metrics import SHARED_RECORDS
from anpr_share.domain.errors import RefusedRecord
from anpr_share.domain.zone_topics import SharedKind
from anpr_share.handlers.ports import SharePorts
from anpr_share.handlers.views import NeighbourKind


async def take_in(ports: SharePorts, records: Sequence[Record]) -> int:
    """A batch of neighbours' records: all taken, or RefusedRecord for the first that is not (the
    worker then takes them one by one, so the refused one alone is dead-lettered)."""
    now = utcnow()
    accepted = []
    taken: list[tuple[str, str]] = []
    for record in records:
        topic = ports.zone_topics.parse(record.topic)
        if topic is None or topic.recipient != ports.zone_id:
            raise RefusedRecord(f"{record.topic} is no neighbour's topic for zone {ports.zone_id}")
        shared = ports.codec.neighbour(topic.kind, record.headers, record.value)
        if shared.claims != {topic.sender}:
            claimed = ", ".join(sorted(z or "(none)" for z in shared.claims))
            raise RefusedRecord(
                f"wrong source zone: the record claims zone {claimed} on {record.topic}, which zone "
                f"{topic.sender} writes"
            )
        if shared.kind is NeighbourKind.ENDED:
            ends_at = None  # the end of a sharing is taken whatever the agreement's state
        else:
            agreement = ports.book.inbound(topic.sender, topic.kind, now)
            if agreement is None:
                raise RefusedRecord(
                    f"outside an active agreement: no agreement with zone {topic.sender} in force takes "
                    f"its {topic.kind.value}"
                )
            ends_at = agreement.ends_at
        encoded = ports.codec.accepted(shared, ends_at)
        if topic.kind is SharedKind.READS:
            target, key = ports.topics.shared_reads, record.key
        else:
            # One key per neighbour: its records reach match in the order it sent them.
            target, key = ports.topics.shared_hotlist, f"zone:{topic.sender}".encode()
        accepted.append(OutgoingRecord(target, key, encoded.value, encoded.headers))
        taken.append((topic.sender, topic.kind.value))
    # 1. the records on this zone's shared topics, acknowledged; 2. the worker commits.
    await ports.bus.publish_many(accepted)
    for sender, kind in taken:
        SHARED_RECORDS.labels("in", sender, kind).inc()
    return len(accepted)


async def on_camera(ports: SharePorts, value: bytes) -> None:
    """An entry of the camera register: whether it is a border camera, and with which neighbour."""
    camera = ports.codec.camera(value)
    ports.book.camera(
        camera.camera_id, border=camera.border, neighbour_zone=camera.neighbour_zone, retired=camera.retired
    )


async def refresh_agreements(ports: SharePorts) -> None:
    """The agreements as stored: what another replica changed is in force here from now on."""
    agreements = await ports.store.all()
    async with ports.flow:
        ports.book.load(agreements)
