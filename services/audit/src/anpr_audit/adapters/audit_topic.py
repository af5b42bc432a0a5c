"""anpr.audit.v1 for an event the service made itself (an export), keyed by its actor as every
AuditTrail keys them."""

from __future__ import annotations

from dataclasses import dataclass

from anpr.v1 import audit_pb2
from anpr_core.bus import Bus


@dataclass(frozen=True)
class AuditTopic:
    bus: Bus
    topic: str

    async def publish(self, event: audit_pb2.AuditEvent) -> None:
        await self.bus.publish(self.topic, event.actor.user_id.encode(), event.SerializeToString())
