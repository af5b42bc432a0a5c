"""Vendor pushes ingest could not take, kept for the operator on the dead-letter topic (anpr.dlq.v1,
its retention) with their raw bytes, keyed by camera like the reads they should have been."""

from __future__ import annotations

from anpr.v1 import dlq_pb2
from anpr_core.bus import Bus
from anpr_core.events import Topics, new_meta
from anpr_core.metrics import DLQ_MESSAGES

# What the original topic of a refused push names: no topic, the vendor route it came to.
ORIGIN = "ingest:vendor:{vendor}"


class VendorDeadLetters:
    def __init__(self, bus: Bus, topics: Topics, zone_id: str) -> None:
        self._bus = bus
        self._topic = topics.dlq
        self._zone_id = zone_id

    async def keep(self, camera_id: str, vendor: str, body: bytes, content_type: str, reason: str) -> None:
        """Publishes the dead letter (acks=all); raises BusUnavailable when the broker does not take it."""
        origin = ORIGIN.format(vendor=vendor)
        letter = dlq_pb2.DeadLetter(
            meta=new_meta(self._zone_id, "ingest"),
            original_topic=origin,
            original_key=camera_id.encode(),
            original_value=body,
            # The Content-Type is what it takes to read the bytes again (a multipart's boundary).
            reason=f"{reason} (Content-Type: {content_type or 'absent'})"[:2000],
            consumer="ingest",
        )
        await self._bus.publish(self._topic, camera_id.encode(), letter.SerializeToString())
        DLQ_MESSAGES.labels("ingest", origin).inc()
